"""Mesh construction (topology-aware, multi-slice), logical-axis rules, activation sharding."""
import dataclasses
import pathlib

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests.test_train import small_config
from vivit_jax import config as config_lib
from vivit_jax import sharding
from vivit_jax import state as state_lib

RULES = (("embed", "fsdp"), ("mlp", "model"), ("heads", "model"), ("kv", None))
ACT_RULES = config_lib.defaults().activation_rules
U = P.UNCONSTRAINED


def test_mesh_sizes():
    m = sharding.make_mesh((("data", -1), ("fsdp", 2), ("model", 1)))
    assert dict(m.shape) == {"data": jax.device_count() // 2, "fsdp": 2, "model": 1}
    with pytest.raises(ValueError, match="needs 6 devices"):
        sharding.make_mesh((("data", 3), ("fsdp", 2), ("model", 1)))
    with pytest.raises(ValueError, match="must be exactly"):
        sharding.make_mesh((("data", -1), ("model", 1)))
    with pytest.raises(ValueError, match="at most one axis may be -1"):
        sharding.make_mesh((("data", -1), ("fsdp", -1), ("model", 1)))
    with pytest.raises(ValueError, match="config.mesh=.*sizes must be positive ints or -1"):
        sharding.make_mesh((("data", 0), ("fsdp", 1), ("model", 1)))
    # Explicit device lists (tests, benchmarks) and the config's axis order are kept.
    one = sharding.make_mesh((("data", 1), ("fsdp", 1), ("model", 1)), jax.devices()[:1])
    assert one.devices.flat[0] == jax.devices()[0] and one.size == 1
    m = sharding.make_mesh((("model", 2), ("data", 2), ("fsdp", 2)))
    assert m.axis_names == ("model", "data", "fsdp")
    # On CPU the topology-aware layout is the plain device order.
    assert [d.id for d in m.devices.flat] == [d.id for d in jax.devices()]


@dataclasses.dataclass(frozen=True)
class FakeDevice:
    """What mesh_utils reads of a device: 2 TPU-like slices of 4 (platform 'cpu': plain
    order within a slice)."""
    id: int
    slice_index: int
    process_index: int
    platform: str = "cpu"
    device_kind: str = "cpu"


def test_multi_slice_mesh_puts_dcn_axes_outside():
    devs = [FakeDevice(i, slice_index=i // 4, process_index=i // 4) for i in range(8)]
    slice_of = np.vectorize(lambda d: d.slice_index)
    mesh = (("data", 2), ("fsdp", 2), ("model", 2))
    # Default (data over all slices): each data row is one slice, fsdp×model within it.
    grid = sharding.device_grid(mesh, devs)
    assert grid.shape == (2, 2, 2)
    np.testing.assert_array_equal(slice_of(grid), [[[0, 0], [0, 0]], [[1, 1], [1, 1]]])
    # FSDP over the DCN instead: the slices split the fsdp axis.
    grid = sharding.device_grid(mesh, devs, (("data", 1), ("fsdp", -1), ("model", 1)))
    np.testing.assert_array_equal(slice_of(grid), [[[0, 0], [1, 1]], [[0, 0], [1, 1]]])
    with pytest.raises(ValueError, match=r"config.dcn_mesh=.*axis 'data' spans 2 slices but "
                                         r"config.mesh gives it 1 device"):
        sharding.device_grid((("data", 1), ("fsdp", 8), ("model", 1)), devs)
    with pytest.raises(ValueError, match=r"config.dcn_mesh=.* spans 4 slices, found 2"):
        sharding.device_grid(mesh, devs, (("data", 2), ("fsdp", 2), ("model", 1)))
    with pytest.raises(ValueError, match=r"config.dcn_mesh axes"):
        sharding.device_grid(mesh, devs, (("data", -1), ("model", 1)))
    # Without slices (GPU hosts), explicit sizes > 1 lay the axis over processes.
    gpus = [dataclasses.replace(d, slice_index=0) for d in devs]
    grid = sharding.device_grid(mesh, gpus, (("data", 2), ("fsdp", 1), ("model", 1)))
    np.testing.assert_array_equal(np.vectorize(lambda d: d.process_index)(grid)[:, 0, 0], [0, 1])
    # One process here: two DCN units cannot be found.
    with pytest.raises(ValueError, match=r"config.dcn_mesh=.* spans 2 processes, found 1"):
        sharding.make_mesh(mesh, dcn_mesh=(("data", 2), ("fsdp", 1), ("model", 1)))


def test_logical_to_spec():
    m = sharding.make_mesh((("data", 2), ("fsdp", 2), ("model", 2)))
    assert sharding.logical_to_spec(("embed", "mlp"), (8, 16), RULES, m) == P("fsdp", "model")
    # 3 heads do not divide over model=2: that dimension stays replicated.
    assert sharding.logical_to_spec(("embed", "heads", "kv"), (8, 3, 4), RULES, m) == \
        P("fsdp", None, None)
    # A mesh axis is used once per array.
    assert sharding.logical_to_spec(("mlp", "heads"), (4, 4), RULES, m) == P("model", None)
    m1 = sharding.make_mesh((("data", -1), ("fsdp", 1), ("model", 1)))
    assert sharding.logical_to_spec(("embed", "mlp"), (8, 16), RULES, m1) == P(None, None)


def test_activation_specs_and_rule_errors():
    m = sharding.make_mesh((("data", 2), ("fsdp", 1), ("model", 4)))
    spec = lambda axes, shape: sharding.activation_spec(axes, shape, ACT_RULES, m)
    tokens = ("activation_batch", ..., "activation_embed")
    heads = ("activation_batch", ..., "activation_heads", "activation_kv")
    assert spec(tokens, (16, 65, 32)) == P("data", None, None)
    assert spec(tokens, (16, 4, 16, 32)) == P("data", None, None, None)
    assert spec(heads, (16, 65, 4, 8)) == P("data", None, "model", None)
    assert spec(("activation_batch", ..., "activation_mlp"), (16, 65, 64)) == \
        P("data", None, "model")
    # What the rules cannot split evenly (2 heads on model=4, a batch of 3) is left to XLA.
    assert spec(heads, (3, 65, 2, 8)) == P(U, None, U, None)
    m2 = sharding.make_mesh((("data", 2), ("fsdp", 2), ("model", 2)))
    assert sharding.activation_spec(tokens, (16, 9, 8), ACT_RULES, m2) == \
        P(("data", "fsdp"), None, None)
    with pytest.raises(ValueError, match="do not match shape"):
        spec(("activation_batch", "activation_embed"), (16, 65, 32))

    with pytest.raises(ValueError, match=r"config.activation_rules: unknown logical axis "
                                         r"'length'"):
        sharding.check_rules((("length", None),), "activation_rules", sharding.ACTIVATION_AXES)
    with pytest.raises(ValueError, match=r"config.sharding_rules: rule \('mlp', 'tensor'\) "
                                         r"names mesh axis 'tensor'"):
        sharding.check_rules((("mlp", "tensor"),), "sharding_rules")
    with pytest.raises(ValueError, match=r"config.activation_rules: rule 'batch' must be a"):
        sharding.check_rules(("batch",), "activation_rules")


def _constraints(jaxpr) -> list[tuple]:
    """Every with_sharding_constraint spec (one entry per dimension) in a (closed) jaxpr and
    its sub-jaxprs."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "sharding_constraint":
            spec = tuple(eqn.params["sharding"].spec)
            found.append(spec + (None,) * (eqn.invars[0].aval.ndim - len(spec)))
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(getattr(sub, "jaxpr", sub), "eqns"):
                    found += _constraints(sub)
    return found


def _train_step(cfg, mesh):
    setup = state_lib.setup_state(cfg, mesh)
    batch_sh = sharding.batch_sharding(mesh)
    step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, cfg, mesh),
                   in_shardings=(setup.state_sh, batch_sh, sharding.replicated(mesh)),
                   out_shardings=(setup.state_sh, sharding.replicated(mesh)))
    state = setup.init_state(jax.random.key(0))
    rng = np.random.default_rng(0)
    batch = {"video": rng.uniform(-1, 1, (16, 8, 32, 32, 3)).astype(np.float32),
             "label": rng.integers(0, 8, 16).astype(np.int32)}
    return step, state, jax.device_put(batch, batch_sh), setup


def test_train_step_constrains_activations_on_a_data_by_model_mesh(repo, data_cache):
    cfg = small_config(repo, data_cache, "--config.model.num_heads=4")
    mesh = sharding.make_mesh((("data", 2), ("fsdp", 1), ("model", 4)))
    step, state, batch, setup = _train_step(cfg, mesh)
    rng = jax.random.key(1)
    found = _constraints(jax.make_jaxpr(step)(state, batch, rng))
    # Block input/output [B, N, D]: batch over data; q/k/v and the attention output per
    # head [B, N, H, Dh]: heads over model; MLP hidden [B, N, mlp]: over model.
    assert set(found) == {("data", None, None), ("data", None, "model", None),
                          ("data", None, "model")}
    # Forward and backward of 2 layers: q, k, v and the attention output of each.
    assert found.count(("data", None, "model", None)) == 2 * 2 * 4
    # The lowered module carries them (Shardy), on the shapes of the tiny ViViT (65 tokens).
    hlo = step.lower(state, batch, rng).as_text()
    layouts = {line.split("<@mesh, ")[1].strip() for line in hlo.splitlines()
               if "sharding_constraint" in line}
    assert layouts == {'[{"data"}, {}, {}]> : tensor<16x65x32xf32>',
                       '[{"data"}, {}, {"model"}, {}]> : tensor<16x65x4x8xf32>',
                       '[{"data"}, {}, {"model"}]> : tensor<16x65x64xf32>'}, layouts

    # The model outside the step's context, or on one device, is left alone.
    abstract = {"video": jax.ShapeDtypeStruct((16, 8, 32, 32, 3), np.float32),
                "label": jax.ShapeDtypeStruct((16,), np.int32),
                "mask": jax.ShapeDtypeStruct((16,), np.float32)}
    plain = state_lib.make_eval_step(setup.graphdef, cfg)
    assert _constraints(jax.make_jaxpr(plain)(setup.abstract_params, abstract)) == []
    one = sharding.make_mesh((("data", 1), ("fsdp", 1), ("model", 1)), jax.devices()[:1])
    ref_step, ref_state, ref_batch, _ = _train_step(cfg, one)
    assert _constraints(jax.make_jaxpr(ref_step)(ref_state, ref_batch, rng)) == []

    # Constrained on data×model or on one device: the same step.
    _, got = step(state, batch, rng)
    _, want = ref_step(ref_state, ref_batch, rng)
    for k in ("loss", "grad_norm", "param_norm"):
        np.testing.assert_allclose(got[k], want[k], rtol=2e-4, err_msg=k)


GLUONMM = ["--config.model.reference=gluonmm", "--config.model.classifier=token"]
FAMILY_CONFIGS = [(p.name, []) for p in sorted(
    (pathlib.Path(__file__).parents[1] / "configs" / "synthetic").glob("*_tiny.py"))] + [
    ("vidtr_tiny.py", GLUONMM), ("vidtr_compact_tiny.py", GLUONMM)]


@pytest.mark.parametrize("name,overrides", FAMILY_CONFIGS,
                         ids=[n[:-3] + ("-gluonmm" if o else "") for n, o in FAMILY_CONFIGS])
def test_every_family_constrains_its_blocks(repo, data_cache, name, overrides):
    cfg = config_lib.load(str(repo / "configs" / "synthetic" / f"{name}:runlocal"),
                          [f"--config.dataset.data_dir={data_cache}", *overrides])
    mesh = sharding.make_mesh((("data", 2), ("fsdp", 1), ("model", 4)))
    setup = state_lib.setup_state(cfg, mesh)
    d = cfg.dataset
    batch = {"video": jax.ShapeDtypeStruct((8, d.num_frames, d.image_size, d.image_size, 3),
                                           np.float32),
             "label": jax.ShapeDtypeStruct((8,), np.int32),
             "mask": jax.ShapeDtypeStruct((8,), np.float32)}
    eval_step = state_lib.make_eval_step(setup.graphdef, cfg, mesh)
    found = _constraints(jax.make_jaxpr(eval_step)(setup.abstract_params, batch))
    assert all(s[0] == "data" for s in found)
    # Block boundaries: batch over data, tokens and embed whole.
    assert any(all(x is None for x in s[1:]) for s in found), found
    # Per-head / MLP-hidden activations: over model (left to XLA where it does not divide).
    assert any("model" in s or U in s for s in found), found
