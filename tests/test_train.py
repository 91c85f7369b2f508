"""The trainer end to end on a tiny synthetic_motion: learning, resume, meshes, NaN guard."""
import json
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import main, sharding, train
from vivit_jax import state as state_lib

TINY = "configs/synthetic/vivit_tiny.py:runlocal"
# Runs whose subject is not the mesh train on one device (cheaper to compile and run); the
# 8-device data-parallel path has its own tests here and in test_scale.py.
ONE = jax.devices()[:1]


# Plain SGD at a constant rate from step 1 (no warm-up, momentum, clipping or decay): the
# update is lr × the gradient, so a gradient of the wrong scale (micro-batches or data
# shards summed instead of averaged) changes the run. AdamW with clipping would hide it.
PLAIN_SGD = ("--config.optim.name=sgd", "--config.optim.lr=0.1", "--config.optim.momentum=0.0",
             "--config.optim.grad_clip_norm=0.0", "--config.optim.warmup_steps=0",
             "--config.optim.schedule=constant", "--config.optim.weight_decay=0.0")


def small_config(repo, data_cache, *overrides):
    base = [f"--config.dataset.data_dir={data_cache}", "--config.log_every_steps=1",
            "--config.eval_every_steps=0", "--config.model.hidden_size=32",
            "--config.model.num_heads=2", "--config.model.mlp_dim=64",
            "--config.batch_size=16", "--config.eval_batch_size=16"]
    return config_lib.load(str(repo / TINY), base + list(overrides))


def read_metrics(workdir, split="train"):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


def final_params(workdir):
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=1, keep=10)
    step = ckpt.latest_step()
    state = ckpt.manager.restore(step)
    ckpt.close()
    return step, state["params"]


def test_training_learns_and_writes_outputs(repo, data_cache, tmp_path):
    # 16 training clips, batch 16: the model must fit them (the loss falls well below ln 8).
    cfg = small_config(repo, data_cache, "--config.num_train_steps=30",
                       "--config.checkpoint_every_steps=10", "--config.keep_checkpoints=2",
                       "--config.dataset.synthetic.train_size=16", "--config.optim.lr=3e-3")
    res = train.train_and_evaluate(cfg, str(tmp_path))
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    assert len(losses) == 30
    assert np.mean(losses[:3]) > 1.9  # Starts at chance (ln 8 = 2.08, zero-initialised head).
    assert np.mean(losses[-3:]) < 1.6, losses  # The loss falls.
    assert res["validation"]["num_examples"] == 32 and res["test"]["num_examples"] == 32
    assert {"loss", "accuracy", "lr", "clips_per_s", "grad_norm", "param_norm"} <= set(
        read_metrics(tmp_path)[0])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == \
        ["20", "30"]  # keep_checkpoints=2
    assert json.loads((tmp_path / "results.json").read_text())["step"] == 30
    assert list((tmp_path / "tensorboard").iterdir())


def test_resume_after_stop_continues_the_same_run(repo, data_cache, tmp_path):
    # Dropout, and the device-side augmentation and mixing, all keyed by (seed, step).
    overrides = ["--config.num_train_steps=8", "--config.checkpoint_every_steps=4",
                 "--config.model.dropout=0.1", "--config.model.drop_path=0.1",
                 "--config.eval_test_split=false", "--config.dataset.mixup_alpha=0.3",
                 "--config.dataset.train_pp=resize_small(36)|random_crop(32)|"
                 "color_jitter(0.4, 0.8)|random_erasing(0.5)"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train.train_and_evaluate(small_config(repo, data_cache, *overrides), str(straight),
                             devices=ONE)
    train.train_and_evaluate(small_config(repo, data_cache, *overrides), str(resumed),
                             stop_at_step=4, devices=ONE)
    assert final_params(resumed)[0] == 4
    train.train_and_evaluate(small_config(repo, data_cache, *overrides), str(resumed),
                             devices=ONE)
    step_a, pa = final_params(straight)
    step_b, pb = final_params(resumed)
    assert step_a == step_b == 8
    for a, b in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    la = [r["loss"] for r in read_metrics(straight)]
    lb = [r["loss"] for r in read_metrics(resumed)]
    np.testing.assert_allclose(la, lb, rtol=1e-5)


def test_data_parallel_8_devices_matches_1_device(repo, data_cache, tmp_path):
    assert jax.device_count() == 8, "conftest sets 8 fake CPU devices"
    overrides = ["--config.num_train_steps=6", "--config.eval_test_split=false",
                 "--config.grad_accum_steps=2"]
    one, eight = tmp_path / "one", tmp_path / "eight"
    train.train_and_evaluate(small_config(repo, data_cache, *overrides), str(one),
                             devices=jax.devices()[:1])
    train.train_and_evaluate(small_config(repo, data_cache, *overrides), str(eight))
    la = [r["loss"] for r in read_metrics(one)]
    lb = [r["loss"] for r in read_metrics(eight)]
    assert len(la) == 6
    np.testing.assert_allclose(la, lb, rtol=1e-4, atol=1e-5)


def run_summary(workdir):
    """(losses, gradient norms, final parameters) of a finished run."""
    rows = read_metrics(workdir)
    return [r["loss"] for r in rows], [r["grad_norm"] for r in rows], final_params(workdir)[1]


def assert_same_run(got, want, rtol=1e-4, atol=1e-6, err_msg=""):
    """Two `run_summary`s agree: losses, gradient norms (the gradient's scale) and params."""
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_allclose(a, b, rtol=rtol, err_msg=err_msg)
    for a, b in zip(jax.tree.leaves(got[2]), jax.tree.leaves(want[2])):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=err_msg)


def test_grad_accumulation_matches_one_big_batch(repo, data_cache, tmp_path):
    runs = {}
    for accum in (1, 4):
        wd = tmp_path / f"accum{accum}"
        train.train_and_evaluate(small_config(
            repo, data_cache, "--config.num_train_steps=3", "--config.eval_test_split=false",
            f"--config.grad_accum_steps={accum}", *PLAIN_SGD), str(wd), devices=ONE)
        runs[accum] = run_summary(wd)
    # The updates are live from step 1: the zero-initialised head gives chance (ln 8) until
    # it is updated, whatever the batch…
    losses = runs[1][0]
    assert abs(losses[1] - losses[0]) > 1e-3
    assert_same_run(runs[4], runs[1])  # …and of the same size: micro-batch gradients averaged.


def test_nan_loss_stops_and_keeps_last_good_checkpoint(repo, data_cache, tmp_path):
    good = small_config(repo, data_cache, "--config.num_train_steps=3",
                        "--config.checkpoint_every_steps=1", "--config.keep_checkpoints=50",
                        "--config.eval_test_split=false")
    train.train_and_evaluate(good, str(tmp_path), devices=ONE)
    _, good_params = final_params(tmp_path)
    # Resume with an lr that overflows the parameters at once: step 4 must be refused.
    bad = small_config(repo, data_cache, "--config.num_train_steps=10",
                       "--config.checkpoint_every_steps=1", "--config.optim.lr=1e30",
                       "--config.optim.warmup_steps=0",
                       "--config.optim.schedule=constant", "--config.keep_checkpoints=50")
    with pytest.raises(train.TrainingDiverged,
                       match=r"non-finite loss, gradient or parameters at step 4 .*; training "
                             r"stopped, nothing of step 4 was saved; the last checkpoint is "
                             r"step 3$"):
        train.train_and_evaluate(bad, str(tmp_path), devices=ONE)
    step, params = final_params(tmp_path)
    assert step == 3  # Nothing was saved after the last good step…
    for a, b in zip(jax.tree.leaves(good_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)  # …and it is intact.
    # From scratch, diverging at step 1 (issue 32: "the parameters of step 0 were kept" when
    # nothing had been saved).
    with pytest.raises(train.TrainingDiverged, match=r"at step 1 .*nothing of step 1 was "
                                                     r"saved; no checkpoint was written$"):
        train.train_and_evaluate(bad, str(tmp_path / "new"), devices=ONE)


def test_non_finite_step_leaves_state_untouched(repo, data_cache):
    # The trainer's own step on a NaN clip: flagged, and params and optimiser state unchanged
    # (the update runs under a `cond`); a finite clip then updates them.
    cfg = small_config(repo, data_cache, "--config.optim.warmup_steps=0")
    mesh = sharding.make_mesh(cfg.mesh, jax.devices()[:1])
    setup = state_lib.setup_state(cfg, mesh)
    step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, cfg))
    state = setup.init_state(jax.random.key(0))
    t, h, w = state_lib.model_input_shape(cfg)
    video = np.random.default_rng(0).uniform(-1, 1, (2, t, h, w, 3)).astype(np.float32)
    label = np.array([1, 2], np.int32)
    bad = video.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    new, m = step(state, {"video": bad, "label": label}, jax.random.key(1))
    assert not bool(m["finite"]) and int(new["step"]) == 1
    for a, b in zip(jax.tree.leaves((state["params"], state["opt"])),
                    jax.tree.leaves((new["params"], new["opt"]))):
        np.testing.assert_array_equal(a, b)
    new, m = step(state, {"video": video, "label": label}, jax.random.key(1))
    assert bool(m["finite"])
    changed = [not np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves(state["params"]), jax.tree.leaves(new["params"]))]
    assert any(changed)  # (The zero-initialised head stops most gradients at step 1.)
    np.testing.assert_allclose(float(m["param_norm"]), float(optax.tree.norm(new["params"])),
                               rtol=1e-5)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vivit_jax.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_errors_are_one_clear_line(repo, tmp_path, monkeypatch, capsys):
    # `vivit-train`'s own entry point in this process (its exit code and stderr), then the
    # deepest refusal (a data directory without shards, found by TensorFlow) as a real process:
    # exactly one stderr line there, nothing from the libraries.
    def cli(*args):
        rc = main.run_train(list(args))
        return rc, capsys.readouterr().err.strip()

    monkeypatch.chdir(repo)
    rc, err = cli("--config", "configs/nope.py", "--workdir", str(tmp_path / "w"))
    assert rc != 0 and err == "vivit-train: error: config file 'configs/nope.py' does not exist"

    rc, err = cli("--config", TINY, "--workdir", str(tmp_path / "w"), "--config.batch_sise=3")
    assert rc == 2 and "did you mean 'batch_size'" in err

    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    rc, err = cli("--config", TINY, "--workdir", str(blocker / "sub"))
    assert rc != 0 and f"workdir '{blocker / 'sub'}' is not writable" in err
    assert blocker.read_text() == "keep me" and len(err.splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "w2").mkdir()
    (tmp_path / "w2" / "notes.txt").write_text("mine")
    r = _cli("--config", TINY, "--workdir", str(tmp_path / "w2"), "--config.dataset.name=dmvr",
             f"--config.dataset.data_dir={empty}", cwd=repo)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("vivit-train: error:") and str(empty) in lines[0]
    assert (tmp_path / "w2" / "notes.txt").read_text() == "mine"


def test_splits_are_found_before_training(repo, data_cache, tmp_path, capsys):
    """Shards with train and validation but no test split (what the README's fine-tuning
    recipe prepares): the run trains and skips the final test evaluation with a note; a
    missing eval split stops the run before its first step, with nothing written."""
    from vivit_jax.data import pipeline

    cfg = small_config(repo, data_cache, "--config.num_train_steps=2",
                       "--config.dataset.synthetic.train_size=16")
    generated = pipeline.resolve_data_dir(cfg.dataset)
    shards = tmp_path / "shards"
    shards.mkdir()
    for p in generated.iterdir():
        if p.name.startswith(("train-", "validation-", "label_map")):
            (shards / p.name).symlink_to(p)
    dmvr = ["--config.dataset.name=dmvr", f"--config.dataset.data_dir={shards}",
            "--config.num_train_steps=2", "--config.optim.warmup_steps=1",
            "--config.checkpoint_every_steps=1"]
    res = train.train_and_evaluate(small_config(repo, data_cache, *dmvr), str(tmp_path / "a"))
    assert res["step"] == 2 and res["validation"]["num_examples"] == 32 and "test" not in res
    out = capsys.readouterr().out
    assert (f"note: no shards for split 'test' in {shards}" in out
            and "the final 'test' evaluation is skipped" in out)
    assert "16 train clips, 32 validation clips" in out

    cfg = small_config(repo, data_cache, *dmvr, "--config.dataset.eval_split=val")
    with pytest.raises(FileNotFoundError, match=r"no shards for split 'val' in .*shards"):
        train.train_and_evaluate(cfg, str(tmp_path / "b"))
    assert not (tmp_path / "b" / "checkpoints").exists() or not any(
        (tmp_path / "b" / "checkpoints").iterdir())


def test_resume_with_another_model_names_the_tensor(repo, data_cache, tmp_path):
    """A workdir resumed with a config whose model differs: one line naming the tensor and
    both shapes, no Orbax tracebacks, and the checkpoint left as it was."""
    cfg = small_config(repo, data_cache, "--config.num_train_steps=2",
                       "--config.optim.warmup_steps=1", "--config.dataset.synthetic.train_size=16")
    train.train_and_evaluate(cfg, str(tmp_path))
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    r = _cli("--config", TINY, "--workdir", str(tmp_path),
             f"--config.dataset.data_dir={data_cache}", "--config.dataset.synthetic.train_size=16",
             "--config.model.hidden_size=48",
             "--config.model.num_heads=2", "--config.model.mlp_dim=64", "--config.batch_size=16",
             "--config.num_train_steps=4", "--config.optim.warmup_steps=1", cwd=repo)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        f"vivit-train: error: checkpoint {tmp_path / 'checkpoints' / '2'} does not fit the "
        "config: parameter 'Transformer/encoder_norm/bias' has shape (32,) in the checkpoint, "
        "(48,) in the model"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before
