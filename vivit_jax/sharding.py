"""Device mesh and shardings from the config.

Parameters carry logical axis names in code (`embed`, `mlp`, `heads`, `kv`, `classes`, see
`vivit_jax.models.layers.with_axes`); which mesh axis each one is split over lives only in
the config (`config.sharding_rules`), MaxText-style, so a strategy is swapped by swapping
the rule list. The batch is split over `data` and `fsdp` together (FSDP is data
parallelism with sharded weights).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")


def make_mesh(mesh_cfg: Sequence[Sequence], devices: Sequence[jax.Device] | None = None) -> Mesh:
    """`(("data", -1), ("fsdp", 1), ("model", 1))` → a Mesh over all devices."""
    devices = list(jax.devices() if devices is None else devices)
    names = [str(name) for name, _ in mesh_cfg]
    if sorted(names) != sorted(MESH_AXES):
        raise ValueError(f"config.mesh axes {names} must be exactly {list(MESH_AXES)}")
    sizes = [int(size) for _, size in mesh_cfg]
    if sizes.count(-1) > 1:
        raise ValueError(f"config.mesh={tuple(mesh_cfg)}: at most one axis may be -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"config.mesh={tuple(mesh_cfg)}: {len(devices)} devices are not "
                             f"divisible by the fixed axes' product {known}")
        sizes[sizes.index(-1)] = len(devices) // known
    if math.prod(sizes) != len(devices):
        raise ValueError(f"config.mesh={tuple(mesh_cfg)} needs {math.prod(sizes)} devices, "
                         f"found {len(devices)}")
    return Mesh(np.asarray(devices).reshape(sizes), names)


def logical_to_spec(axes: Sequence[str | None], shape: Sequence[int], rules, mesh: Mesh) -> P:
    """Maps logical axis names to a PartitionSpec with the config's rules.

    A mesh axis is used at most once per array, and a dimension its mesh axes do not divide
    stays replicated (e.g. 3 heads on a 2-way `model` axis).
    """
    rule_map = {}
    for rule in rules:
        name, target = rule[0], rule[1]
        rule_map.setdefault(name, target)
    used: set[str] = set()
    spec = []
    for name, dim in zip(axes, shape):
        target = rule_map.get(name) if name is not None else None
        targets = (() if target is None else
                   ((target,) if isinstance(target, str) else tuple(target)))
        targets = tuple(t for t in targets if t not in used and mesh.shape[t] > 1)
        if targets and dim % math.prod(mesh.shape[t] for t in targets) == 0:
            used.update(targets)
            spec.append(targets[0] if len(targets) == 1 else targets)
        else:
            spec.append(None)
    return P(*spec)


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
