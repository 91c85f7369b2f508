"""Device mesh, shardings and activation constraints from the config.

Parameters carry logical axis names in code (`embed`, `mlp`, `heads`, `kv`, `classes`, see
`vivit_jax.models.layers.with_axes`); which mesh axis each one is split over lives only in
the config (`config.sharding_rules`), MaxText-style, so a strategy is swapped by swapping
the rule list. The batch is split over `data` and `fsdp` together (FSDP is data
parallelism with sharded weights).

Activations carry logical names of their own (`activation_batch`, `activation_tokens`,
`activation_embed`, `activation_heads`, `activation_kv`, `activation_mlp`; MaxText keeps
them apart from the parameters' names, which map to other mesh axes): the blocks call
`constrain(x, axes)` at their boundaries, which lays `x` out by `config.activation_rules`
while `activation_sharding(mesh, rules)` is active (the train and eval steps of
`vivit_jax.state` enter it around the model) and does nothing otherwise.

The mesh is topology-aware (`mesh_utils.create_device_mesh`: the last axes of `config.mesh`,
`model` then `fsdp` by default, get the fastest links); over several TPU slices (or, when
`config.dcn_mesh` asks for it, several GPU hosts) it is a hybrid mesh
(`create_hybrid_device_mesh`): `config.dcn_mesh` says how many slices each axis spans over
the data-centre network, the rest of each axis stays within a slice (ICI).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import math
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")
# Logical activation axes (`config.activation_rules`); the blocks name their activations so.
ACTIVATION_AXES = ("activation_batch", "activation_tokens", "activation_embed",
                   "activation_heads", "activation_kv", "activation_mlp")
# One slice/host: data parallelism over however many slices there are (MaxText's
# `dcn_data_parallelism=-1`), nothing else over the data-centre network.
DEFAULT_DCN_MESH = (("data", -1), ("fsdp", 1), ("model", 1))


def _axis_sizes(key: str, cfg: Sequence[Sequence]) -> dict[str, int]:
    """`((name, size), ...)` → {name: size}, refusing other axes, bad sizes, two -1s."""
    try:
        pairs = [(str(name), size) for name, size in cfg]
    except (TypeError, ValueError):
        raise ValueError(f"config.{key}={cfg!r} must be (axis, size) pairs, e.g. "
                         f"{DEFAULT_DCN_MESH}") from None
    names = [name for name, _ in pairs]
    if sorted(names) != sorted(MESH_AXES):
        raise ValueError(f"config.{key} axes {names} must be exactly {list(MESH_AXES)}")
    bad = [(n, s) for n, s in pairs if isinstance(s, bool) or not isinstance(s, (int, np.integer))
           or (s < 1 and s != -1)]
    if bad:
        raise ValueError(f"config.{key}={tuple(cfg)}: sizes must be positive ints or -1, got "
                         f"{bad}")
    if [s for _, s in pairs].count(-1) > 1:
        raise ValueError(f"config.{key}={tuple(cfg)}: at most one axis may be -1")
    return {name: int(size) for name, size in pairs}


def _granules(devices: Sequence[jax.Device], dcn: dict[str, int]) -> tuple[str, int]:
    """('slice_index' | 'process_index', count) the DCN axes are laid over.

    TPU slices when the devices span several; otherwise processes, but only where
    `config.dcn_mesh` asks for more than one explicitly (-1 means 1 without slices).
    """
    slices = {getattr(d, "slice_index", None) for d in devices}
    if None not in slices and len(slices) > 1:
        return "slice_index", len(slices)
    if math.prod(s for s in dcn.values() if s != -1) > 1:
        return "process_index", len({d.process_index for d in devices})
    return "slice_index", 1


def _ici_device_mesh(shape: Sequence[int], devices: Sequence[jax.Device]) -> np.ndarray:
    """`create_device_mesh` (physical-axis splitting allowed as a second try), else the plain
    device order (a device subset it cannot map, e.g. some TPU chips of a slice)."""
    for split in (False, True):
        try:
            return mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=split)
        except (ValueError, NotImplementedError, AssertionError):
            continue
    logging.warning("mesh %s: no topology-aware layout for these %d devices; using their "
                    "order", tuple(shape), len(devices))
    return np.asarray(devices).reshape(shape)


def make_mesh(mesh_cfg: Sequence[Sequence], devices: Sequence[jax.Device] | None = None,
              dcn_mesh: Sequence[Sequence] | None = None) -> Mesh:
    """`(("data", -1), ("fsdp", 1), ("model", 1))` → a Mesh over all devices (or `devices`).

    `mesh_cfg` is the whole mesh, axes in order of increasing communication (the last axis
    gets the fastest links). `dcn_mesh` (`config.dcn_mesh`, default `DEFAULT_DCN_MESH`): how
    many slices each axis spans; each axis of `mesh_cfg` is that many slices × its size
    within one slice.
    """
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(device_grid(mesh_cfg, devices, dcn_mesh), [str(name) for name, _ in mesh_cfg])


def device_grid(mesh_cfg: Sequence[Sequence], devices: Sequence,
                dcn_mesh: Sequence[Sequence] | None = None) -> np.ndarray:
    """The devices of `make_mesh` as an array shaped like the mesh (config order)."""
    sizes_by_name = _axis_sizes("mesh", mesh_cfg)
    names = [str(name) for name, _ in mesh_cfg]
    sizes = [sizes_by_name[n] for n in names]
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"config.mesh={tuple(mesh_cfg)}: {len(devices)} devices are not "
                             f"divisible by the fixed axes' product {known}")
        sizes[sizes.index(-1)] = len(devices) // known
    if math.prod(sizes) != len(devices):
        raise ValueError(f"config.mesh={tuple(mesh_cfg)} needs {math.prod(sizes)} devices, "
                         f"found {len(devices)}")

    dcn_cfg = DEFAULT_DCN_MESH if dcn_mesh is None else dcn_mesh
    dcn = _axis_sizes("dcn_mesh", dcn_cfg)
    attr, granules = _granules(devices, dcn)
    where = "slices" if attr == "slice_index" else "processes"
    fixed = math.prod(s for s in dcn.values() if s != -1)
    for name, size in dcn.items():
        if size == -1:
            if granules % fixed:
                raise ValueError(f"config.dcn_mesh={tuple(dcn_cfg)}: {granules} {where} are not "
                                 f"divisible by the fixed axes' product {fixed}")
            dcn[name] = granules // fixed
    if math.prod(dcn.values()) != granules:
        raise ValueError(f"config.dcn_mesh={tuple(dcn_cfg)} spans {math.prod(dcn.values())} "
                         f"{where}, found {granules}")
    dcn_sizes = [dcn[n] for n in names]
    for name, total, outer in zip(names, sizes, dcn_sizes):
        if total % outer:
            raise ValueError(f"config.dcn_mesh={tuple(dcn_cfg)}: axis {name!r} spans {outer} "
                             f"{where} but config.mesh gives it {total} device(s)")
    if granules == 1:
        return _ici_device_mesh(sizes, devices)
    ici = [total // outer for total, outer in zip(sizes, dcn_sizes)]
    hybrid = lambda split: mesh_utils.create_hybrid_device_mesh(
        ici, dcn_sizes, devices, process_is_granule=attr == "process_index",
        allow_split_physical_axes=split)
    try:
        return hybrid(False)
    except NotImplementedError:  # A slice shape that needs a physical axis split.
        return hybrid(True)


def mesh_from_config(config, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The mesh of `config.mesh` and `config.dcn_mesh` (when the config has it)."""
    return make_mesh(config.mesh, devices, config.get("dcn_mesh"))


def check_rules(rules, key: str, logical_axes: Sequence[str] | None = None) -> None:
    """Refuses a rule list that is not (name, mesh axes) pairs over `MESH_AXES`, naming
    `config.<key>`; `logical_axes`: the names a rule may have (activation rules)."""
    for rule in rules:
        if not isinstance(rule, (tuple, list)) or len(rule) != 2 or not isinstance(rule[0], str):
            raise ValueError(f"config.{key}: rule {rule!r} must be a (logical axis, mesh axes) "
                             f"pair, e.g. ('mlp', 'model')")
        name, target = rule
        if logical_axes is not None and name not in logical_axes:
            raise ValueError(f"config.{key}: unknown logical axis {name!r}; expected one of "
                             f"{list(logical_axes)}")
        targets = () if target is None else (target,) if isinstance(target, str) else target
        for t in targets:
            if t not in MESH_AXES:
                raise ValueError(f"config.{key}: rule {tuple(rule)!r} names mesh axis {t!r}; "
                                 f"mesh axes are {list(MESH_AXES)}")


def logical_to_spec(axes: Sequence[str | None], shape: Sequence[int], rules, mesh: Mesh, *,
                    fallback=None) -> P:
    """Maps logical axis names to a PartitionSpec with the config's rules.

    A mesh axis is used at most once per array, and a dimension its mesh axes do not divide
    stays replicated (e.g. 3 heads on a 2-way `model` axis). `fallback` is what such a
    dimension, or a name without a rule, gets instead of `None` (activations pass
    `P.UNCONSTRAINED`: XLA picks, never a forced gather).
    """
    rule_map = {}
    for rule in rules:
        name, target = rule[0], rule[1]
        rule_map.setdefault(name, target)
    used: set[str] = set()
    spec = []
    for name, dim in zip(axes, shape):
        if name is None or name not in rule_map:
            spec.append(None if name is None else fallback)
            continue
        target = rule_map[name]
        targets = (() if target is None else
                   ((target,) if isinstance(target, str) else tuple(target)))
        targets = tuple(t for t in targets if mesh.shape[t] > 1)
        if not targets:  # Replicated by the rule, or only size-1 mesh axes: the same.
            spec.append(None)
            continue
        targets = tuple(t for t in targets if t not in used)
        if targets and dim % math.prod(mesh.shape[t] for t in targets) == 0:
            used.update(targets)
            spec.append(targets[0] if len(targets) == 1 else targets)
        else:
            spec.append(fallback)
    return P(*spec)


# (mesh, activation rules) while a step's model is traced; None: `constrain` does nothing.
_ACTIVATION_CONTEXT: contextvars.ContextVar = contextvars.ContextVar("activation_sharding",
                                                                     default=None)


@contextlib.contextmanager
def activation_sharding(mesh: Mesh | None, rules):
    """Within it, `constrain` lays activations out on `mesh` by `rules`
    (`config.activation_rules`). A 1-device mesh or `mesh=None` leaves them alone."""
    active = None if mesh is None or mesh.size == 1 else (mesh, tuple(map(tuple, rules)))
    token = _ACTIVATION_CONTEXT.set(active)
    try:
        yield
    finally:
        _ACTIVATION_CONTEXT.reset(token)


def activation_spec(axes: Sequence, shape: Sequence[int], rules, mesh: Mesh) -> P:
    """`axes` (names; one `...` stands for `activation_tokens` on every dimension it covers) → the
    activation's PartitionSpec. A dimension the rules cannot split evenly is unconstrained."""
    axes = tuple(axes)
    if ... in axes:
        i = axes.index(...)
        if len(shape) < len(axes) - 1:
            raise ValueError(f"constrain: axes {axes} need at least {len(axes) - 1} dims, "
                             f"got shape {tuple(shape)}")
        axes = axes[:i] + ("activation_tokens",) * (len(shape) - len(axes) + 1) + axes[i + 1:]
    if len(axes) != len(shape):
        raise ValueError(f"constrain: axes {axes} do not match shape {tuple(shape)}")
    return logical_to_spec(axes, shape, rules, mesh, fallback=P.UNCONSTRAINED)


def constrain(x: jax.Array, axes: Sequence) -> jax.Array:
    """`with_sharding_constraint` of activation `x` by its logical `axes` (e.g.
    `("activation_batch", ..., "activation_embed")`) under `activation_sharding`; `x`
    unchanged outside it."""
    active = _ACTIVATION_CONTEXT.get()
    if active is None:
        return x
    mesh, rules = active
    spec = activation_spec(axes, x.shape, rules, mesh)
    if all(s is P.UNCONSTRAINED for s in spec):
        return x
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def logical_axes(state: nnx.State) -> dict:
    """Pure-dict tree (like `nnx.to_pure_dict(state)`) of each parameter's logical axes."""
    tree: dict = {}
    for path, var in nnx.to_flat_state(state):
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        ndim = len(np.shape(var.get_value() if hasattr(var, "get_value") else var[...]))
        names = tuple(var.get_metadata().get("logical_axes") or ())
        # Scanned layer stacks add leading (layer) axes that carry no name.
        node[path[-1]] = (None,) * (ndim - len(names)) + names
    return tree


def param_shardings(abstract_params: dict, axes_tree: dict, mesh: Mesh, rules) -> dict:
    """NamedSharding for every parameter of a pure-dict tree of shapes."""
    return jax.tree.map(
        lambda a, ax: NamedSharding(mesh, logical_to_spec(ax, a.shape, rules, mesh)),
        abstract_params, axes_tree, is_leaf=lambda x: isinstance(x, tuple))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over `data` × `fsdp`."""
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def per_device_bytes(tree) -> int:
    """Bytes of `tree` held by the first device (for memory checks of FSDP)."""
    dev = jax.devices()[0]
    total = 0
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            if shard.device == dev:
                total += shard.data.nbytes
    return total
