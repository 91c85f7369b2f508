"""Fine-tuning parameter groups: frozen parameters keep their bits and have no optimiser
state (with init_from, resume, FSDP and scanned layers); learning-rate multipliers and
layer-wise decay seen on the optimiser's updates; the recipe configs run."""
import re

import jax
import numpy as np
import pytest

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import optim, param_groups, sharding, train
from vivit_jax import state as state_lib
from vivit_jax.evaluate import profile

FE = "configs/synthetic/vivit_fe_tiny.py:runlocal"
MODEL1 = "configs/synthetic/vivit_tiny.py:runlocal"
SMALL = ["--config.model.hidden_size=32", "--config.model.num_heads=2",
         "--config.model.mlp_dim=64"]
SPATIAL = r"(r'^embedding/', r'^cls$', r'^Transformer/')"


def _names(tree) -> list[str]:
    return [param_groups.path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _flat(tree) -> dict[str, np.ndarray]:
    return {param_groups.path_name(p): np.asarray(x)
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _ones_params(spec, *overrides, small=True):
    cfg = config_lib.load(spec, (SMALL if small else []) + list(overrides))
    abstract = profile.abstract_model(cfg)
    from flax import nnx
    params = nnx.to_pure_dict(nnx.state(abstract, nnx.Param))
    return cfg, jax.tree.map(lambda a: np.ones(a.shape, np.float32), params)


# Expected learning-rate factors, written out per name: decay 0.5, head ×10 on top.
MODEL1_FACTORS = [(r"^(embedding/|cls$|Transformer/posembed)", 0.5 ** 3),
                  (r"^Transformer/encoderblock_0/", 0.5 ** 2),
                  (r"^Transformer/encoderblock_1/", 0.5),
                  (r"^Transformer/encoder_norm/", 1.0), (r"^head/", 10.0)]
FE_FACTORS = [(r"^(embedding/|cls$|Transformer/posembed)", 0.5 ** 5),
              (r"^Transformer/encoderblock_0/", 0.5 ** 4),
              (r"^Transformer/encoderblock_1/", 0.5 ** 3),
              (r"^(Transformer/encoder_norm/|cls_temporal$|TemporalTransformer/posembed)",
               0.5 ** 3),
              (r"^TemporalTransformer/encoderblock_0/", 0.5 ** 2),
              (r"^TemporalTransformer/encoderblock_1/", 0.5),
              (r"^TemporalTransformer/encoder_norm/", 1.0), (r"^head/", 10.0)]


def _expected(name: str, table) -> float:
    (factor,) = [f for p, f in table if re.search(p, name)]
    return factor


@pytest.mark.parametrize("spec,table", [(MODEL1, MODEL1_FACTORS), (FE, FE_FACTORS)],
                         ids=["model1", "fe"])
@pytest.mark.parametrize("scan", [False, True], ids=["layers", "scan"])
def test_layer_decay_and_lr_mult_scale_the_sgd_updates(spec, table, scan):
    cfg, params = _ones_params(spec, f"--config.model.scan={scan}")
    o = cfg.optim.copy_and_resolve_references()
    o.update(name="sgd", momentum=0.0, lr=0.1, schedule="constant", warmup_steps=0,
             weight_decay=0.0, grad_clip_norm=0.0, layer_decay=0.5, lr_mult=((r"^head/", 10.0),))
    tx, _ = optim.make_optimizer(o, params, 10)
    grads = jax.tree.map(np.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    for name, u in _flat(updates).items():
        if scan and "encoderblock/" in name:  # Stacked layers: one factor per slice.
            for i in range(u.shape[0]):
                want = _expected(name.replace("encoderblock/", f"encoderblock_{i}/"), table)
                np.testing.assert_allclose(u[i], -0.1 * want, rtol=1e-6, err_msg=f"{name}[{i}]")
        else:
            np.testing.assert_allclose(u, -0.1 * _expected(name, table), rtol=1e-6,
                                       err_msg=name)


def test_lr_mult_multiplies_adamw_steps_and_decay():
    cfg, params = _ones_params(MODEL1)
    o = cfg.optim.copy_and_resolve_references()
    o.update(lr=0.1, schedule="constant", warmup_steps=0, weight_decay=0.5, grad_clip_norm=0.0,
             lr_mult=((r"^head/", 3.0), (r"kernel$", 2.0)))
    base_o = o.copy_and_resolve_references()
    base_o.lr_mult = ()
    grads = jax.tree.map(lambda p: np.full_like(p, 0.5), params)
    got = _flat(optim.make_optimizer(o, params, 10)[0].update(
        grads, optim.make_optimizer(o, params, 10)[0].init(params), params)[0])
    base_tx = optim.make_optimizer(base_o, params, 10)[0]
    base = _flat(base_tx.update(grads, base_tx.init(params), params)[0])
    # Factors of all matching patterns multiply: head/kernel ×6, head/bias ×3, kernels ×2.
    np.testing.assert_allclose(got["head/kernel"], 6 * base["head/kernel"], rtol=1e-6)
    np.testing.assert_allclose(got["head/bias"], 3 * base["head/bias"], rtol=1e-6)
    np.testing.assert_allclose(got["embedding/conv/kernel"], 2 * base["embedding/conv/kernel"],
                               rtol=1e-6)
    np.testing.assert_allclose(got["cls"], base["cls"], rtol=1e-6)


def test_layer_ids_of_other_families_and_refusals():
    _, ts = _ones_params("configs/synthetic/timesformer_divided_tiny.py:runlocal")
    ids, depth = param_groups.layer_ids(ts)
    ids = _flat(ids)
    assert depth == 2 and ids["time_embed"] == 0 and ids["embedding/conv/kernel"] == 0
    assert ids["Transformer/encoderblock_1/temporal_attn/query/kernel"] == 2
    assert ids["head/kernel"] == 3
    _, stat = _ones_params("configs/synthetic/stat_tiny.py:runlocal", small=False)
    with pytest.raises(ValueError, match=r"layer_decay: parameter 'TemporalAggregation/"
                                         r"encoder_norm/bias' has no layer id"):
        param_groups.lr_multipliers(stat, config_lib.load(
            "configs/synthetic/stat_tiny.py:runlocal", ["--config.optim.layer_decay=0.7"]).optim)
    cfg, params = _ones_params(MODEL1)
    for key, value, message in [
            ("frozen", ("^Transfomer/",), "optim.frozen: pattern '\\^Transfomer/' matches no"),
            ("train_only", ("^nothing",), "optim.train_only: pattern"),
            ("frozen", (".",), "freeze every parameter: nothing is left to train"),
            ("lr_mult", (("^head/", 0.0),), "must be \\(regex, factor > 0\\)"),
            ("layer_decay", 1.5, "layer_decay=1.5: expected a factor in \\(0, 1\\]")]:
        o = cfg.optim.copy_and_resolve_references()
        o[key] = value
        with pytest.raises(ValueError, match=message):
            optim.make_optimizer(o, params, 10)


def _run(repo, data_cache, workdir, *overrides, **kw):
    cfg = config_lib.load(str(repo / FE), SMALL + [
        f"--config.dataset.data_dir={data_cache}", "--config.eval_every_steps=0",
        "--config.log_every_steps=1", "--config.eval_test_split=false",
        "--config.batch_size=8", "--config.eval_batch_size=32", "--config.model.scan=true",
        "--config.optim.warmup_steps=0", "--config.optim.lr=3e-3", *overrides])
    train.train_and_evaluate(cfg, str(workdir), **kw)
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=1, keep=10)
    step = ckpt.latest_step()
    state = ckpt.manager.restore(step)
    saved = ckpt_lib.saved_tree(ckpt.directory / str(step))
    ckpt.close()
    return state["params"], saved["opt"]


def test_frozen_spatial_encoder_is_bit_identical_and_stateless(repo, data_cache, tmp_path):
    # A source run (scanned layers), then the spatial encoder frozen on a data×fsdp mesh of 8
    # devices, initialised from it, stopped at step 2 and resumed (the optimiser state of the
    # frozen structure restored) to 4.
    src, _ = _run(repo, data_cache, tmp_path / "src", "--config.num_train_steps=2",
                  devices=jax.devices()[:1])
    frozen = [f"--config.optim.frozen={SPATIAL}", "--config.num_train_steps=4",
              "--config.checkpoint_every_steps=2", f"--config.init_from.checkpoint={tmp_path}/src",
              "--config.mesh=(('data', 2), ('fsdp', 4), ('model', 1))"]
    _run(repo, data_cache, tmp_path / "resumed", *frozen, stop_at_step=2)
    resumed, opt = _run(repo, data_cache, tmp_path / "resumed", *frozen)
    src, resumed = _flat(src), _flat(resumed)
    spatial = [n for n in src if re.match(r"^(embedding/|cls$|Transformer/)", n)]
    assert len(spatial) == 22 and "Transformer/encoderblock/MlpBlock_3/Dense_0/kernel" in spatial
    for name in spatial:  # Bit-identical to the checkpoint it started from.
        np.testing.assert_array_equal(resumed[name], src[name], err_msg=name)
    trained = sorted(set(src) - set(spatial))
    assert all(not np.array_equal(resumed[n], src[n]) for n in trained
               if n.startswith("TemporalTransformer/encoderblock/")), "the temporal part trains"
    # The optimiser state holds moments of the trained parameters only (AdamW: mu and nu).
    opt_names = _names(opt)
    for moment in ("mu", "nu"):
        held = sorted(n.split(f"/{moment}/", 1)[1] for n in opt_names if f"/{moment}/" in n)
        assert held == trained, moment
    assert not any(re.search(r"/(embedding|Transformer)/", n) for n in opt_names)


@pytest.mark.parametrize("rel", [
    "configs/kinetics400/vivit_b16x2_fe_frozen_spatial_32x2x1_k400.py",
    "configs/kinetics400/vivit_b16x2_layer_decay_32x2x1_k400.py",
    "configs/ssv2/vivit_b16x2_fe_linear_probe_32x1x1_ssv2.py"])
def test_recipe_configs_run_their_runlocal_variant(repo, rel):
    # The full config builds (ViViT-B); its `:runlocal` variant (the same groups on a tiny
    # model) takes the trainer's steps: frozen parameters keep their initial bits.
    full = config_lib.load(str(repo / rel))
    assert profile.count_params(full, profile.abstract_model(full)) > 80_000_000
    cfg = config_lib.load(str(repo / rel) + ":runlocal", ["--config.optim.warmup_steps=0"])
    assert {k: cfg.optim[k] for k in ("frozen", "train_only", "layer_decay")} == \
        {k: full.optim[k] for k in ("frozen", "train_only", "layer_decay")}
    setup = state_lib.setup_state(cfg, sharding.mesh_from_config(cfg, jax.devices()[:1]))
    step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, cfg))
    state = setup.init_state(jax.random.key(0))
    fresh = _flat(state["params"])
    t, h, w = state_lib.model_input_shape(cfg)
    rng = np.random.default_rng(0)
    batch = {"video": rng.uniform(-1, 1, (4, t, h, w, 3)).astype(np.float32),
             "label": np.arange(4, dtype=np.int32)}
    for _ in range(3):
        state, metrics = step(state, batch, jax.random.key(1))
        assert bool(metrics["finite"])
    final = _flat(state["params"])
    mask = _flat(param_groups.trainable_mask(state["params"], cfg.optim))
    assert any(not np.array_equal(final[n], fresh[n]) for n, t in mask.items() if t)
    for name in (n for n, t in mask.items() if not t):  # Frozen: the initialisation's bits.
        np.testing.assert_array_equal(final[name], fresh[name], err_msg=name)
    # Optimiser state for the trained parameters only.
    n_trained = sum(fresh[n].size for n, t in mask.items() if t)
    moments = 2 if cfg.optim.name == "adamw" else 1  # AdamW: mu, nu; SGD: momentum.
    held = sum(x.size for x in jax.tree.leaves(state["opt"]) if x.ndim)  # Not step counts.
    assert held == moments * n_trained
