"""Losses and hit counts on hand-computable numbers; mixup and multi-label train end to end."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.test_train import ONE, PLAIN_SGD, final_params, read_metrics, small_config
from vivit_jax import state as state_lib
from vivit_jax import train


def test_softmax_loss_with_smoothing_by_hand():
    logits = jnp.array([[2.0, 0.0, 0.0]])
    target = state_lib.targets(jnp.array([0]), 3, False)
    lse = math.log(math.exp(2) + 2)
    assert float(state_lib.classification_loss(logits, target, 0.0, False)[0]) == \
        pytest.approx(lse - 2.0, rel=1e-6)
    # Smoothing 0.3 over 3 classes: targets (0.8, 0.1, 0.1).
    want = 0.8 * (lse - 2.0) + 0.2 * lse
    assert float(state_lib.classification_loss(logits, target, 0.3, False)[0]) == \
        pytest.approx(want, rel=1e-6)


def test_multi_label_loss_and_hits_by_hand():
    logits = jnp.array([[0.0, 3.0, -1.0, 2.0]])
    target = jnp.array([[0.0, 0.0, 1.0, 1.0]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    want = (-math.log(1 - sig(0.0)) - math.log(1 - sig(3.0)) - math.log(sig(-1.0))
            - math.log(sig(2.0)))
    assert float(state_lib.classification_loss(logits, target, 0.0, True)[0]) == \
        pytest.approx(want, rel=1e-6)
    assert float(state_lib.hits(logits, target, 1)[0]) == 0.0  # argmax is class 1: negative.
    assert float(state_lib.hits(logits, target, 2)[0]) == 1.0  # class 3 is in the top 2.


def test_mixup_cutmix_and_multi_label_training_runs(repo, data_cache, tmp_path):
    # One step of plain SGD on a batch that is the whole training set: 12 clips labelled
    # i % 8 (synthetic_motion's rule), so classes 0-3 twice and 4-7 once.
    lr = 0.1
    cfg = small_config(repo, data_cache, "--config.num_train_steps=1",
                       "--config.eval_test_split=false", "--config.dataset.mixup_alpha=0.8",
                       "--config.dataset.cutmix_alpha=1.0", "--config.dataset.multi_label=true",
                       "--config.dataset.synthetic.train_size=12", "--config.batch_size=12",
                       *PLAIN_SGD, f"--config.optim.lr={lr}")
    res = train.train_and_evaluate(cfg, str(tmp_path), devices=ONE)
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    # Sigmoid loss summed over 8 classes starts at 8·ln 2 for a zero-initialised head,
    # whatever the targets…
    assert losses == [pytest.approx(8 * math.log(2), rel=1e-4)]
    # …but its gradient does not: with a zero head kernel, d loss / d bias_c is the batch
    # mean of sigmoid(0) - target_c = 1/2 - ȳ_c. Mixup and CutMix pair the batch with itself
    # reversed under one λ, which keeps ȳ: the class shares of the 12 clips. (A softmax
    # loss would give 1/8 - ȳ_c; unused or wrong targets another ȳ.)
    y_mean = np.bincount(np.arange(12) % 8, minlength=8) / 12
    _, params = final_params(tmp_path)
    np.testing.assert_allclose(params["head"]["bias"], -lr * (0.5 - y_mean), rtol=1e-5)
    assert res["validation"]["num_examples"] == 32


def test_bfloat16_compute_keeps_float32_params(repo, data_cache, tmp_path, capsys):
    cfg = small_config(repo, data_cache, "--config.num_train_steps=3",
                       "--config.eval_test_split=false", "--config.dtype=bfloat16")
    res = train.train_and_evaluate(cfg, str(tmp_path), devices=None)
    # On CPU the trainer says float32 is the fast setting (BENCHMARKS.md, bf16 on CPU).
    assert "--config.dtype=float32 is the fast setting" in capsys.readouterr().out
    _, params = final_params(tmp_path)
    assert {np.asarray(x).dtype for x in jax.tree.leaves(params)} == {np.dtype("float32")}
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    # bf16 forward of a zero-initialised head: exactly chance at step 1.
    assert losses[0] == pytest.approx(math.log(8), rel=1e-3)
    assert np.isfinite(losses).all() and res["validation"]["num_examples"] == 32
