"""Scale-out: every mesh gives the same training, FSDP shards the state, SIGTERM checkpoints."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.conftest import xla_flags
from tests.test_train import (
    PLAIN_SGD,
    TINY,
    assert_same_run,
    final_params,
    read_metrics,
    run_summary,
    small_config,
)
from vivit_jax import sharding, train
from vivit_jax import state as state_lib

MESHES = {
    "8x1x1": (("data", 8), ("fsdp", 1), ("model", 1)),
    "1x8x1": (("data", 1), ("fsdp", 8), ("model", 1)),
    "2x2x2": (("data", 2), ("fsdp", 2), ("model", 2)),
    "1x2x4": (("data", 1), ("fsdp", 2), ("model", 4)),
}


def test_every_mesh_gives_the_same_losses(repo, data_cache, tmp_path):
    # Plain SGD: a mesh that got the gradient's scale wrong (shards summed, not averaged)
    # shows in the gradient norms and the parameters, not only in later losses.
    common = ["--config.num_train_steps=4", "--config.eval_test_split=false",
              "--config.model.num_layers=1", "--config.eval_batch_size=32", *PLAIN_SGD]
    ref_dir = tmp_path / "1x1x1"
    train.train_and_evaluate(small_config(repo, data_cache, *common,
                                          "--config.mesh=(('data',1),('fsdp',1),('model',1))"),
                             str(ref_dir), devices=jax.devices()[:1])
    ref = run_summary(ref_dir)
    assert abs(ref[0][1] - ref[0][0]) > 1e-3  # The updates are live from step 1.
    ref_eval = read_metrics(ref_dir, "validation")[-1]["loss"]
    for name, mesh in MESHES.items():
        wd = tmp_path / name
        train.train_and_evaluate(small_config(repo, data_cache, *common,
                                              f"--config.mesh={mesh!r}"), str(wd))
        assert_same_run(run_summary(wd), ref, rtol=2e-4, atol=1e-6, err_msg=f"mesh {name}")
        assert read_metrics(wd, "validation")[-1]["loss"] == pytest.approx(ref_eval, rel=2e-4)


def test_fsdp_shards_params_and_optimizer_state(repo, data_cache):
    per_device = {}
    for fsdp in (1, 2, 8):
        cfg = small_config(repo, data_cache, "--config.model.hidden_size=64",
                           f"--config.mesh=(('data',-1),('fsdp',{fsdp}),('model',1))")
        mesh = sharding.make_mesh(cfg.mesh)
        setup = state_lib.setup_state(cfg, mesh)
        state = setup.init_state(jax.random.key(0))
        per_device[fsdp] = (sharding.per_device_bytes(state["params"]),
                            sharding.per_device_bytes(state["opt"]))
    total = sum(x.nbytes for x in jax.tree.leaves(state["params"]))
    assert per_device[1][0] == total  # Replicated.
    # Everything with an `embed` axis is split; the rest (e.g. per-head biases) is small.
    assert per_device[2][0] < 0.6 * total and per_device[8][0] < 0.25 * total
    assert per_device[8][1] < 0.25 * per_device[1][1]  # AdamW moments follow the params.


def _wait_for_step(workdir, step, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early: {proc.stdout.read()}")
        path = workdir / "metrics.jsonl"
        if path.exists():
            rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if any(r["split"] == "train" and r["step"] >= step for r in rows):
                return
        time.sleep(0.2)
    raise AssertionError(f"no step {step} within {timeout} s")


def test_sigterm_checkpoints_and_resume_continues(repo, data_cache, tmp_path):
    overrides = [f"--config.dataset.data_dir={data_cache}", "--config.log_every_steps=1",
                 "--config.model.hidden_size=32", "--config.model.num_heads=2",
                 "--config.model.mlp_dim=64", "--config.batch_size=16",
                 "--config.num_train_steps=100000", "--config.checkpoint_every_steps=100000",
                 "--config.eval_every_steps=0", "--config.eval_test_split=false",
                 "--config.mesh=(('data',1),('fsdp',1),('model',1))"]
    wd = tmp_path / "preempted"
    env = dict(os.environ, XLA_FLAGS=xla_flags(1))
    proc = subprocess.Popen([sys.executable, "-m", "vivit_jax.main", "--config", TINY,
                             "--workdir", str(wd), *overrides], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_step(wd, 3, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "SIGTERM received: checkpointing step" in out
    stopped, _ = final_params(wd)
    assert stopped >= 3
    assert max(r["step"] for r in read_metrics(wd)) == stopped  # Checkpoint = last step run.

    # Resume (in-process) for 3 more steps; a straight run gives the same curve.
    cfg = small_config(repo, data_cache, *overrides[5:])
    one = jax.devices()[:1]
    train.train_and_evaluate(cfg, str(wd), devices=one, stop_at_step=stopped + 3)
    straight = tmp_path / "straight"
    train.train_and_evaluate(cfg, str(straight), devices=one, stop_at_step=stopped + 3)
    resumed_losses = {r["step"]: r["loss"] for r in read_metrics(wd)}
    straight_losses = {r["step"]: r["loss"] for r in read_metrics(straight)}
    assert sorted(resumed_losses) == list(range(1, stopped + 4))
    np.testing.assert_allclose([resumed_losses[s] for s in sorted(straight_losses)],
                               [straight_losses[s] for s in sorted(straight_losses)], rtol=1e-5)
