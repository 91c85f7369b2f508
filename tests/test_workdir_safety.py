"""Nothing a user has is lost: a refused run leaves the workdir byte-identical, a checkpoint
that cannot be written (disk full) stops the run with one line, a shard damaged mid-run
stops it naming the shard; the checkpoints written before stay intact and restorable."""
import errno
import hashlib
import shutil
import struct

import jax
import numpy as np
import pytest
from orbax.checkpoint._src.path import async_path

from tests.test_train import TINY, final_params, small_config
from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import main, sharding, train
from vivit_jax import state as state_lib
from vivit_jax.data import pipeline

BASE = ["--config.num_train_steps=2", "--config.optim.warmup_steps=1",
        "--config.dataset.synthetic.train_size=16", "--config.eval_test_split=false"]
SMALL = ["--config.model.hidden_size=32", "--config.model.num_heads=2",
         "--config.model.mlp_dim=64", "--config.batch_size=16"]


def tree_hash(root) -> dict[str, str]:
    """{relative path: sha1} of every file under `root` (directories included as names)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def trained_workdir(path, cfg, step: int):
    """A workdir as a run stopped at `step` leaves it (config, metrics, checkpoint), made
    without compiling a train step."""
    setup = state_lib.setup_state(cfg, sharding.make_mesh(cfg.mesh))
    state = setup.init_state(jax.random.key(0))
    state["step"] = jax.numpy.asarray(step, jax.numpy.int32)
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(cfg.to_json_best_effort(indent=2))
    (path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    ck = ckpt_lib.Checkpointer(path, every_steps=1, keep=5)
    ck.save(step, state, force=True)
    ck.close()
    return path


def test_refused_runs_leave_the_workdir_byte_identical(repo, data_cache, tmp_path):
    wd = trained_workdir(tmp_path / "vivit", small_config(repo, data_cache, *BASE), 2)
    before = tree_hash(wd)
    assert "config.json" in before and "checkpoints/2" in before

    # Another model family on this workdir: refused by the checkpoint's shapes.
    other = config_lib.load(str(repo / "configs/synthetic/timesformer_divided_tiny.py:runlocal"),
                            [f"--config.dataset.data_dir={data_cache}", *BASE, *SMALL])
    with pytest.raises(ckpt_lib.CheckpointMismatch, match="temporal_attn"):
        train.train_and_evaluate(other, str(wd))
    assert tree_hash(wd) == before

    # A missing evaluation split, and a run whose init_from is unreadable: refused too.
    with pytest.raises(FileNotFoundError, match="'val'"):
        train.train_and_evaluate(small_config(
            repo, data_cache, *BASE, "--config.dataset.eval_split=val"), str(wd))
    assert tree_hash(wd) == before

    bad = tmp_path / "vit.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)  # A truncated zip.
    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError, match="vit.npz"):
        train.train_and_evaluate(small_config(
            repo, data_cache, *BASE, f"--config.init_from.checkpoint={bad}"), str(fresh))
    assert not fresh.exists()  # Created for the run, removed again: it stayed empty.
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="vit.npz"):
        train.train_and_evaluate(small_config(
            repo, data_cache, *BASE, f"--config.init_from.checkpoint={bad}"),
            str(tmp_path / "empty"))
    assert list((tmp_path / "empty").iterdir()) == []  # A user's empty directory stays.


def _disk_full(monkeypatch):
    """Every file Orbax writes from now on fails with ENOSPC, as on a full disk."""
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(async_path, "write_text", full)
    monkeypatch.setattr(async_path, "write_bytes", full)


def test_disk_full_stops_at_the_failing_save_with_one_line(repo, data_cache, tmp_path,
                                                           monkeypatch, capfd):
    trained_workdir(tmp_path, small_config(repo, data_cache, *BASE), 2)
    step2 = tree_hash(tmp_path / "checkpoints" / "2")
    _, params2 = final_params(tmp_path)
    capfd.readouterr()
    _disk_full(monkeypatch)
    args = ["--config", str(repo / TINY), "--workdir", str(tmp_path),
            f"--config.dataset.data_dir={data_cache}", "--config.model.hidden_size=32",
            "--config.model.num_heads=2", "--config.model.mlp_dim=64", "--config.batch_size=16",
            "--config.eval_batch_size=16", *BASE[1:], "--config.num_train_steps=10",
            "--config.checkpoint_every_steps=4", "--config.log_every_steps=1"]
    assert main.run_train(args) == 1
    out, err = capfd.readouterr()
    ckpt_dir = tmp_path / "checkpoints"
    assert err.splitlines() == [
        f"vivit-train: error: saving checkpoint step 4 to {ckpt_dir / '4'} failed: [Errno 28] "
        f"No space left on device: '{ckpt_dir / '4.orbax-checkpoint-tmp'}"
        + err.split("4.orbax-checkpoint-tmp", 1)[1].split("'", 1)[0]
        + "'; the checkpoints of steps [2] are intact"], err
    # Stopped as soon as the background write failed: at the latest at the next save (8).
    assert "step 4/10" in out and "step 9/10" not in out and "done:" not in out
    monkeypatch.undo()
    assert tree_hash(ckpt_dir / "2") == step2
    step, params = final_params(tmp_path)  # The earlier checkpoint restores, unchanged.
    assert step == 2
    for a, b in zip(jax.tree.leaves(params2), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def _flip_last_record(path) -> None:
    """Flips one byte in the payload of the shard's last TFRecord (size unchanged, so the
    cached record counts still match and only reading it finds the damage)."""
    data = bytearray(path.read_bytes())
    pos, last = 0, None
    while pos < len(data):
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        last = pos + 12 + n // 2
        pos += 12 + n + 4
    data[last] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged_shards(repo, data_cache, tmp_path):
    """A copy of the tiny synthetic set whose train shard 2 has its last record corrupted."""
    generated = pipeline.resolve_data_dir(small_config(repo, data_cache, *BASE).dataset)
    shards = tmp_path / "shards"
    shards.mkdir()
    for p in generated.iterdir():
        if p.name.startswith(("train-", "validation-", "label_map", "num_examples")):
            shutil.copy(p, shards / p.name)
    bad = shards / "train-00002-of-00004"
    _flip_last_record(bad)
    return shards, bad


def test_shard_damaged_mid_run_stops_naming_it(repo, data_cache, tmp_path, damaged_shards):
    shards, bad = damaged_shards
    dmvr = [*BASE, "--config.dataset.name=dmvr", f"--config.dataset.data_dir={shards}",
            "--config.batch_size=8", "--config.num_train_steps=4",
            "--config.dataset.shuffle_buffer=1", "--config.dataset.cache_decoded=False",
            "--config.checkpoint_every_steps=100"]
    wd = tmp_path / "wd"
    # The shards' last records come last in the epoch (4 shards × 4 clips, batch 8): step 1
    # trains, step 2 stops, and the last completed step is checkpointed before the error.
    with pytest.raises(pipeline.CorruptData) as e:
        train.train_and_evaluate(small_config(repo, data_cache, *dmvr), str(wd))
    assert str(e.value).startswith(f"shard {bad} is truncated or corrupt after record 3: ")
    assert str(e.value).endswith("training stopped before step 2, the last checkpoint is "
                                 "step 1")
    assert final_params(wd)[0] == 1
    # dataset.on_corrupt='skip' reads on past the damage and finishes the run.
    res = train.train_and_evaluate(small_config(repo, data_cache, *dmvr,
                                                "--config.dataset.on_corrupt=skip"), str(wd))
    assert res["step"] == 4 and final_params(wd)[0] == 4


def test_damaged_eval_shard_is_named(repo, data_cache, damaged_shards):
    shards, bad = damaged_shards
    val = shards / "validation-00001-of-00004"
    _flip_last_record(val)
    cfg = small_config(repo, data_cache, *BASE, "--config.dataset.name=dmvr",
                       f"--config.dataset.data_dir={shards}")
    with pytest.raises(pipeline.CorruptData, match=f"^shard {val} is truncated or corrupt"):
        list(pipeline.eval_iterator(cfg.dataset, "validation", global_batch_size=8))


@pytest.mark.parametrize("mode", [["--mode", "train"], ["--mode=train"], ["--mode=eval"]])
def test_the_removed_mode_option_is_refused_in_one_line(tmp_path, capsys, mode):
    """`--mode` had one value and changed nothing; it is refused before anything is written."""
    wd = tmp_path / "wd"
    assert main.run_train(["--config", "configs/nope.py", "--workdir", str(wd), *mode]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vivit-train: error: --mode is no option (vivit-train always trains, resuming from "
        "--workdir, then evaluates): drop it; vivit-eval evaluates a workdir's checkpoint"]
    assert not wd.exists()
