"""Every paper-scale config's `:runlocal` variant (`recipes.runlocal`): the same experiment
shape at a tiny size — it profiles, trains a few steps on the shared synthetic set and
evaluates, with the recipe's optimiser, augmentation, views, label sets and parameter groups."""
import json
import pathlib
import re

import jax
import numpy as np
import pytest

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import param_groups, recipes, sharding, train
from vivit_jax import state as state_lib
from vivit_jax.data import preprocess
from vivit_jax.evaluate import profile

REPO = pathlib.Path(__file__).resolve().parents[1]
PAPER = sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").glob("*/*.py")
               if p.parent.name != "synthetic")
STEPS = 3  # The runlocal warm-up is 2 steps.
# The model fields that make the experiment what it is, kept at the tiny size.
SHAPE = ("family", "model_type", "attention_type", "classifier", "temporal_classifier",
         "reference", "pool_type", "tokenizer")


def _run_config(rel, data_cache):
    return config_lib.load(str(REPO / rel) + ":runlocal", [
        f"--config.dataset.data_dir={data_cache}", f"--config.num_train_steps={STEPS}",
        "--config.log_every_steps=1", "--config.eval_every_steps=0",
        f"--config.checkpoint_every_steps={STEPS}", "--config.eval_test_split=false",
        "--config.batch_size=8", "--config.eval_batch_size=16"])


# The configs whose runlocal variant also trains and evaluates here: one per family and per
# data recipe (Scenic's K400 and SSv2, TimeSformer's, VidTr's, Epic-Kitchens' label sets).
# The others' models train in test_train.py / tests/models at the synthetic tiny size, and
# the three fine-tuning recipes run end to end in test_param_groups.py; running all 34 here
# would add ~5 CPU-minutes to the suite.
TRAINED = {
    "configs/epic_kitchens/vivit_b16x2_fe_32x1x1_ek.py",
    "configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py",
    "configs/kinetics400/timesformer_b16_divided_8x32x1_k400.py",
    "configs/kinetics400/vidtr_compact_s_8x8_k400.py",
    "configs/ssv2/vivit_b16x2_fe_32x1x1_ssv2.py",
}


def test_every_paper_config_is_listed():
    assert TRAINED <= set(PAPER)
    assert len(PAPER) >= 30 and "configs/moments_in_time/vivit_l16x2_st_32x1x1_mit.py" in PAPER


@pytest.mark.parametrize("rel", PAPER)
def test_runlocal_variant_keeps_the_recipe_and_trains(rel, data_cache, tmp_path):
    full = config_lib.load(str(REPO / rel))
    cfg = _run_config(rel, data_cache)
    # The same experiment shape at a tiny size.
    assert {k: cfg.model.get(k) for k in SHAPE} == {k: full.model.get(k) for k in SHAPE}
    assert {k: cfg.optim[k] for k in recipes.RUNLOCAL_OPTIM} == \
        {k: full.optim[k] for k in recipes.RUNLOCAL_OPTIM}
    assert cfg.optim.warmup_steps > 0 if full.optim.warmup_steps else True
    own_data = "data_recipe=False" not in (REPO / rel).read_text()
    sets = [s.split(":")[0] for s in full.dataset.label_sets.split(",") if s]
    assert [s.split(":")[0] for s in cfg.dataset.label_sets.split(",") if s] == sets
    if own_data:
        assert {k: cfg.dataset[k] for k in recipes.RUNLOCAL_DATASET} == \
            {k: full.dataset[k] for k in recipes.RUNLOCAL_DATASET}
        ops = lambda pp: [name for name, _, _ in preprocess.parse(pp)]  # noqa: E731
        assert ops(cfg.dataset.train_pp) == ops(full.dataset.train_pp)
        assert cfg.label_smoothing == full.label_smoothing
    assert (cfg.dataset.name, cfg.dataset.image_size) == ("synthetic_motion", 32)
    # vivit-profile's model and parameter count (test_configs.py profiles the full size).
    assert 10_000 < profile.count_params(cfg, profile.abstract_model(cfg)) < 2_000_000

    if rel not in TRAINED:
        return
    workdir, results = _train(cfg, tmp_path)
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert len(losses) == STEPS and np.all(np.isfinite(losses)), losses
    val = results["validation"]
    assert val["num_examples"] == 32 and 0.0 <= val["top1"] <= val["top5"] <= 1.0
    assert np.isfinite(val["loss"])
    if sets:  # Epic-Kitchens: noun, verb and action (both right) figures.
        for name in ("noun", "verb", "action"):
            assert 0.0 <= val[f"{name}_top1"] <= val[f"{name}_top5"] <= 1.0
        assert val["top1"] == val["action_top1"]
    _check_frozen_groups(cfg, workdir)


# Resolved runlocal config → (workdir, results) of its run. Paper configs that differ only in
# what the tiny size drops (width, depth, class count, learning rate: K400 / K600 / K700
# ViViT-L, 224² and 320²) resolve to byte-identical runlocal configs, whose runs are the same
# run: it is made once.
_RUNS: dict = {}


def _train(cfg, tmp_path):
    key = cfg.to_json_best_effort(sort_keys=True)
    if key not in _RUNS:
        _RUNS[key] = tmp_path, train.train_and_evaluate(cfg, str(tmp_path),
                                                        devices=jax.devices()[:1])
    return _RUNS[key]


def _flat(tree) -> dict:
    return {param_groups.path_name(p): np.asarray(x)
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _check_frozen_groups(cfg, workdir):
    """A recipe's frozen tensors hold the trainer's initial bits after training; the rest
    moved."""
    if not (cfg.optim.frozen or cfg.optim.train_only):
        return
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=1, keep=10)
    assert ckpt.latest_step() == STEPS
    final = ckpt.manager.restore(STEPS)["params"]
    ckpt.close()
    setup = state_lib.setup_state(cfg, sharding.mesh_from_config(cfg, jax.devices()[:1]))
    # The trainer's own initialisation (train.py: the seed's key folded with 0).
    fresh = setup.init_state(jax.random.fold_in(jax.random.key(cfg.seed), 0))["params"]
    mask = _flat(param_groups.trainable_mask(fresh, cfg.optim))
    final, fresh = _flat(final), _flat(fresh)
    frozen = [n for n, t in mask.items() if not t]
    assert frozen and len(frozen) < len(mask)
    for name in frozen:
        np.testing.assert_array_equal(final[name], fresh[name], err_msg=name)
    assert any(not np.array_equal(final[n], fresh[n]) for n, t in mask.items() if t)
    if cfg.optim.train_only:
        assert all(re.match("|".join(cfg.optim.train_only), n) for n, t in mask.items() if t)
