"""Any path may be remote: `fileio` on TensorFlow's in-memory `ram://` file system (no
network), `vivit-prepare` → `vivit-train` → `vivit-eval` with the data dir and the workdir
there, and the multi-host shard counts (each host counts only its own files).

Orbax (checkpoints) writes its arrays through tensorstore, which knows `gs://` but not
`ram://`, and TF's `gs://` file system has a fixed endpoint (no emulator): in the end-to-end
test the checkpoints directory alone is redirected to a local directory
(`checkpoint.orbax_path`); everything else of the workdir stays on `ram://`.
"""
import json
import threading

import av
import numpy as np
import pytest

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import fileio
from vivit_jax.data import config as data_config
from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import pipeline, prepare
from vivit_jax.evaluate import multiview, predictions
from vivit_jax.main import run_train

TINY = "configs/synthetic/vivit_tiny.py:runlocal"


# --- fileio ---------------------------------------------------------------------------------


def test_fileio_on_ram_and_local(tmp_path):
    for root in ("ram://fileio_unit", str(tmp_path / "loc")):
        d = fileio.join(root, "a", "b")
        fileio.makedirs(d)
        assert fileio.isdir(d) and not fileio.isfile(d)
        f = fileio.join(d, "x.json")
        fileio.write_text(f, '{"v": 1}')
        assert fileio.isfile(f) and fileio.read_text(f) == '{"v": 1}'
        assert fileio.size(f) == 8 and fileio.basename(f) == "x.json"
        assert fileio.dirname(f) == d
        fileio.write_atomic(fileio.join(d, "y.bin"), b"\x00\x01")
        assert fileio.read_bytes(fileio.join(d, "y.bin")) == b"\x00\x01"
        assert fileio.listdir(d) == ["x.json", "y.bin"]
        assert fileio.glob(fileio.join(d, "*.json")) == [f]
        fileio.rename(f, fileio.join(d, "z.json"))
        assert not fileio.exists(f) and fileio.read_text(fileio.join(d, "z.json")) == '{"v": 1}'
        fileio.copy(fileio.join(d, "z.json"), fileio.join(d, "c.json"))
        assert fileio.read_bytes(fileio.join(d, "c.json")) == b'{"v": 1}'
        fileio.remove(fileio.join(d, "z.json"))
        fileio.remove(fileio.join(d, "z.json"), missing_ok=True)
        assert fileio.listdir(d) == ["c.json", "y.bin"]
        with pytest.raises(FileNotFoundError, match="nope.txt"):
            fileio.read_text(fileio.join(d, "nope.txt"))
    # A URL stays a URL (pathlib would fold `gs://b` into `gs:/b`).
    assert fileio.join("gs://bucket/k400", "label_map.json") == "gs://bucket/k400/label_map.json"
    assert fileio.absolute("gs://bucket/x") == "gs://bucket/x"
    assert fileio.native("gs://bucket/x") == "gs://bucket/x"
    with pytest.raises(OSError, match=r"nosuch://x/y: the file system 'nosuch://' is not"):
        fileio.read_text("nosuch://x/y")


def test_remote_data_dir_errors_name_the_url():
    cfg = data_config.default_data_config()
    cfg.update(dict(name="dmvr", data_dir="ram://no_such_bucket/k400_shards", num_classes=2))
    with pytest.raises(FileNotFoundError,
                       match=r"^data directory ram://no_such_bucket/k400_shards does not exist$"):
        pipeline.resolve_data_dir(cfg)
    with pytest.raises(ValueError, match=r"checkpoint directory 'ram://w/checkpoints': Orbax "
                                         r"checkpoints can be written to local paths and gs:// "
                                         r"only, not ram://"):
        ckpt_lib.Checkpointer("ram://w", every_steps=1, keep=1)
    assert str(ckpt_lib.orbax_path("gs://bucket/w/checkpoints")) == "gs://bucket/w/checkpoints"


# --- Multi-host shard counts ----------------------------------------------------------------


def _shards(root, split="train", num_shards=5, per=(3, 1, 2, 4, 2)):
    recs = [dm.make_sequence_example([b"jpeg"], label_index=[0], label_text=[], video_id=f"v{i}")
            for i in range(sum(per))]
    # Round-robin would give equal shards; write each shard's records on its own.
    w = dm.ShardWriter(root, split, num_shards)
    for s, n in enumerate(per):
        for _ in range(n):
            w._writers[s].write(recs.pop())
            w.counts[s] += 1
    w.close()
    fileio.remove(fileio.join(root, dm.COUNTS_FILE))  # As shards copied without the cache.
    dm._COUNTED.clear()
    return dm.list_shards(root, split)


def _as_processes(fn, n=2):
    """Runs `fn(process_index, gather)` on n threads standing in for n hosts; `gather` is a
    real all-gather between them. Returns the results (or raised errors) by index."""
    barrier, slots, out = threading.Barrier(n), [None] * n, [None] * n

    def run(p):
        def gather(x):
            slots[p] = x
            barrier.wait(timeout=60)
            return np.stack(slots)
        try:
            out[p] = fn(p, gather)
        except Exception as e:  # noqa: BLE001 — compared by the test.
            out[p] = e
    threads = [threading.Thread(target=run, args=(p,), name=f"host{p}") for p in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


@pytest.fixture
def counted(monkeypatch):
    """{thread name: [files count_records read]}."""
    seen: dict[str, list[str]] = {}
    real = dm.count_records

    def spy(path, on_corrupt="error"):
        seen.setdefault(threading.current_thread().name, []).append(str(path))
        return real(path, on_corrupt)
    monkeypatch.setattr(dm, "count_records", spy)
    return seen


@pytest.mark.parametrize("root", ["ram://counts", "local"])
def test_each_host_counts_only_its_own_shards(root, tmp_path, counted):
    root = str(tmp_path) if root == "local" else root
    files = _shards(root)
    want = dict(zip(files, [3, 1, 2, 4, 2]))
    res = _as_processes(lambda p, g: dm.shard_counts(root, "train", process_index=p,
                                                     process_count=2, gather=g))
    assert res == [want, want]
    assert counted == {"host0": files[0::2], "host1": files[1::2]}  # Each record read once.
    cache = json.loads(fileio.read_text(fileio.join(root, dm.COUNTS_FILE)))  # By process 0.
    assert cache["train"] == [[fileio.basename(f), fileio.size(f), n] for f, n in want.items()]
    counted.clear()
    # Cached now: no counting, no gathering.
    assert dm.shard_counts(root, "train", process_index=1, process_count=2,
                           gather=lambda x: pytest.fail("gathered")) == want
    assert counted == {}
    # The pipeline's num_examples, with a fake process index and count.
    fileio.remove(fileio.join(root, dm.COUNTS_FILE))
    dm._COUNTED.clear()
    cfg = data_config.default_data_config()
    cfg.update(dict(name="dmvr", data_dir=root, num_classes=1))
    assert _as_processes(lambda p, g: pipeline.num_examples(
        cfg, "train", process_index=p, process_count=2, gather=g)) == [12, 12]
    assert counted == {"host0": files[0::2], "host1": files[1::2]}


def test_a_damaged_shard_stops_every_host(tmp_path, counted):
    files = _shards(str(tmp_path))
    data = fileio.read_bytes(files[3])
    fileio.write_bytes(files[3], data[:-7])  # Host 1's second shard, cut short.
    res = _as_processes(lambda p, g: dm.shard_counts(str(tmp_path), "train", process_index=p,
                                                     process_count=2, gather=g))
    assert isinstance(res[1], ValueError) and str(res[1]).startswith(
        f"shard {files[3]} is truncated or corrupt after record 3")
    assert isinstance(res[0], ValueError) and str(res[0]) == (
        f"shard {files[3]} is truncated or corrupt (found by process 1; set "
        f"dataset.on_corrupt='skip' to read its good records)")
    assert not fileio.exists(fileio.join(str(tmp_path), dm.COUNTS_FILE))


def test_train_iterator_counts_only_the_files_it_reads(tmp_path, counted):
    files = _shards(str(tmp_path), per=(2, 2, 2, 2, 2))
    cfg = data_config.default_data_config()
    cfg.update(dict(name="dmvr", data_dir=str(tmp_path), num_classes=1))
    pipeline.train_iterator(cfg, global_batch_size=4, seed=0, process_index=1, process_count=2)
    assert counted == {"MainThread": files[1::2]}


# --- vivit-prepare → vivit-train → vivit-eval on ram:// ---------------------------------------


def _write_mp4(path, level):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 48, 40, "yuv420p"
        for k in range(16):
            img = np.full((40, 48, 3), level, np.uint8)
            img[:, (3 * k) % 48:(3 * k) % 48 + 8] = 255 - level  # A moving bar.
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_prepare_train_eval_with_data_and_workdir_on_ram(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # Anything written through a folded path would land here.
    videos = tmp_path / "videos"
    videos.mkdir()
    rows = {"train": [], "validation": []}
    for i in range(12):
        label = ("dark", "light")[i % 2]
        _write_mp4(videos / f"v{i}.mp4", 40 if label == "dark" else 200)
        rows["train" if i < 8 else "validation"].append(f"v{i}.mp4,0,,{label}")
    data = "ram://e2e/k400_shards"
    for split, lines in rows.items():
        csv = tmp_path / f"{split}.csv"
        csv.write_text("video_path,start,end,label\n" + "\n".join(lines) + "\n")
        assert prepare.main(["--annotations", str(csv), "--video_dir", str(videos),
                             "--output_dir", data, "--split", split, "--num_shards", "2",
                             "--fps", "0", "--min_resize", "36", "--workers", "1"]) == 0
    assert dm.read_label_map(data) == ["dark", "light"]
    assert sorted(fileio.listdir(data)) == [
        "label_map.json", "num_examples.json", "train-00000-of-00002", "train-00001-of-00002",
        "train.report.json", "validation-00000-of-00002", "validation-00001-of-00002",
        "validation.report.json"]
    assert json.loads(fileio.read_text(f"{data}/train.report.json"))["written"] == 8
    assert sum(dm.shard_counts(data, "validation").values()) == 4

    # Orbax cannot write ram:// (see the module docstring): its directory alone is local.
    real = ckpt_lib.orbax_path
    monkeypatch.setattr(ckpt_lib, "orbax_path", lambda p: real(
        tmp_path / "orbax" / str(p)[len("ram://"):] if str(p).startswith("ram://") else p))
    wd = "ram://e2e/workdir"
    over = [f"--config.dataset.data_dir={data}", "--config.dataset.name=dmvr",
            "--config.dataset.num_classes=2", "--config.model.hidden_size=32",
            "--config.model.num_heads=2", "--config.model.mlp_dim=64",
            "--config.batch_size=8", "--config.eval_batch_size=8", "--config.log_every_steps=1",
            "--config.eval_every_steps=0", "--config.checkpoint_every_steps=2",
            "--config.dataset.shuffle_buffer=4", "--config.optim.warmup_steps=0",
            "--config.eval_test_split=False"]
    train_args = ["--config", str(repo / TINY), "--workdir", wd, *over]
    assert run_train([*train_args, "--config.num_train_steps=2"]) == 0
    final = json.loads(fileio.read_text(f"{wd}/results.json"))
    assert final["step"] == 2 and final["validation"]["num_examples"] == 4
    assert json.loads(fileio.read_text(f"{wd}/config.json"))["dataset"]["data_dir"] == data
    assert fileio.listdir(f"{tmp_path}/orbax/e2e/workdir/checkpoints") == ["2"]
    rows = [json.loads(x) for x in fileio.read_text(f"{wd}/metrics.jsonl").splitlines()]
    assert [(r["step"], r["split"]) for r in rows] == [
        (1, "train"), (2, "train"), (2, "validation")]
    assert rows[-1]["top1"] == final["validation"]["top1"]
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert any(n.startswith("events.out.tfevents") for n in fileio.listdir(f"{wd}/tensorboard"))
    capsys.readouterr()

    # vivit-eval with the workdir's config.json (read from ram://), outputs on ram://.
    assert multiview.main(["--workdir", wd, "--split", "validation", "--views", "1x1",
                           "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    out = f"{wd}/eval_validation_1x1"
    assert summary["outdir"] == out and summary["checkpoint_step"] == 2
    assert summary["counts"] == {"videos": 4, "views_per_video": 1, "views": 4}
    # 1×1 is the trainer's own evaluation of the split: the same numbers.
    assert summary["metrics"]["top1"] == pytest.approx(final["validation"]["top1"], abs=1e-6)
    assert summary["metrics"]["top5"] == pytest.approx(final["validation"]["top5"], abs=1e-6)
    saved = json.loads(fileio.read_text(f"{out}/summary.json"))
    assert saved["metrics"] == summary["metrics"]
    pred = predictions.read(f"{out}/predictions.npz")
    assert sorted(pred["video_id"]) == sorted(f"v{i}.mp4" for i in range(8, 12))  # CSV ids.
    assert pred["labels"].tolist() == [
        int(v[1:].split(".")[0]) % 2 for v in pred["video_id"]]  # Odd videos: "light".
    assert pred["label_names"] == ["dark", "light"]
    assert len(fileio.read_text(f"{out}/per_class.csv").splitlines()) == 1 + 2
    assert fileio.read_bytes(f"{out}/confusion.png")[:4] == b"\x89PNG"
    # Nothing landed in a local directory named after a folded URL.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "orbax", "train.csv", "validation.csv", "videos"]
    assert summary["metrics"]["top1"] == pytest.approx(
        float((pred["scores"].argmax(-1) == pred["labels"]).mean()))


def test_metric_writer_on_ram_appends_after_a_resume():
    from vivit_jax import metric_writers

    wd = "ram://metrics_resume/wd"
    first = metric_writers.MetricWriter(wd)
    first.write(1, "train", {"loss": 2.0})
    first.write(2, "train", {"loss": 1.5})
    first.close()
    second = metric_writers.MetricWriter(wd)  # A resumed run: a fresh staging directory.
    second.write(3, "train", {"loss": 1.25})
    second.close()
    rows = [json.loads(x) for x in fileio.read_text(f"{wd}/metrics.jsonl").splitlines()]
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 2.0), (2, 1.5), (3, 1.25)]
    events = [n for n in fileio.listdir(f"{wd}/tensorboard") if n.startswith("events.out")]
    assert len(events) == 2  # One event file per run, both kept.
    assert not second.path.parent.exists()  # The local staging directory is removed.
