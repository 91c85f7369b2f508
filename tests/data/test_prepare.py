"""vivit-prepare: real mp4s → shards; fps/trim timestamps, label map, bad videos, resume."""

import errno
import json
import os
import pathlib
import subprocess
import sys

import av
import numpy as np
import pytest
import tensorflow as tf

from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import prepare

FPS_IN, N_FRAMES = 25, 30  # 1.2 s videos; frame k has grey level 8k.


def _write_mp4(path, offset=0):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS_IN)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"crf": "0"}  # Lossless: levels survive up to colour conversion.
        for k in range(N_FRAMES):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * k + offset, np.uint8),
                                           format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    for name in ("a", "b", "c", "d"):
        _write_mp4(d / f"{name}.mp4")
    (d / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "empty.mp4").write_bytes(b"")
    return d


def _records(out, split):
    recs = {}
    for f in dm.list_shards(out, split):
        for r in tf.data.TFRecordDataset(f):
            ex = {k: v.numpy() for k, v in dm.parse_sequence_example(r).items()}
            recs[ex["video_id"].decode()] = ex
    return recs


def _levels(ex):
    return [int(round(tf.io.decode_jpeg(f).numpy().mean())) for f in ex["frames"]]


def test_prepare_dmvr_csv_fps_trim_labels_and_bad_videos(videos, tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text(
        "video_path,start,end,label\n"
        "a.mp4,0,,walk\n"  # Whole video.
        "b.mp4,0.4,1.0,run\n"  # Trimmed to [0.4, 1.0).
        "c.mp4,0,,run;jump\n"  # Multi-label.
        "corrupt.mp4,0,,walk\n"
        "empty.mp4,0,,walk\n"
        "missing.mp4,0,,walk\n"
    )
    out = tmp_path / "out"
    args = ["--annotations", str(csv), "--video_dir", str(videos), "--output_dir", str(out),
            "--num_shards", "2", "--min_resize", "24", "--workers", "2"]
    report = prepare.run(args)
    assert dm.read_label_map(out) == ["jump", "run", "walk"]  # One sorted map.
    assert [p.rsplit("/", 1)[-1] for p in dm.list_shards(out, "train")] == [
        "train-00000-of-00002", "train-00001-of-00002"]
    assert report["written"] == 3 and report["skipped_count"] == 3
    reasons = {x["path"].rsplit("/", 1)[-1]: x["reason"] for x in report["skipped"]}
    assert set(reasons) == {"corrupt.mp4", "empty.mp4", "missing.mp4"}
    assert "not found" in reasons["missing.mp4"] and "empty" in reasons["empty.mp4"]
    assert json.loads((out / "train.report.json").read_text())["skipped_count"] == 3
    recs = _records(out, "train")
    a, b, c = recs["a.mp4"], recs["b.mp4"], recs["c.mp4"]
    # 10 fps: output frame j shows source frame floor(j · 2.5) of the 25 fps video.
    assert len(a["frames"]) == 12 and (a["start_us"], a["end_us"]) == (0, 1_200_000)
    np.testing.assert_allclose(_levels(a), [8 * int(j * 2.5) for j in range(12)], atol=3)
    assert len(b["frames"]) == 6 and (b["start_us"], b["end_us"]) == (400_000, 1_000_000)
    np.testing.assert_allclose(_levels(b), [8 * int((0.4 + j / 10) * 25 + 1e-6)
                                            for j in range(6)], atol=3)
    assert tf.io.decode_jpeg(a["frames"][0]).shape == (24, 32, 3)  # Short side 24.
    assert a["label_index"].tolist() == [2] and a["label_text"].tolist() == [b"walk"]
    assert c["label_index"].tolist() == [1, 0]
    assert sum(dm.shard_counts(out, "train").values()) == 3


def test_second_split_reuses_label_map_and_unknown_labels(videos, tmp_path):
    out = tmp_path / "out"
    (tmp_path / "train.csv").write_text("path,label\na.mp4,zebra\nb.mp4,ant\n")
    prepare.run(["--annotations", str(tmp_path / "train.csv"), "--video_dir", str(videos),
                 "--output_dir", str(out), "--workers", "1", "--fps", "0"])
    assert dm.read_label_map(out) == ["ant", "zebra"]
    assert len(_records(out, "train")["a.mp4"]["frames"]) == N_FRAMES  # fps 0: all frames.
    val = tmp_path / "validation.csv"
    val.write_text("path,label\nc.mp4,zebra\nd.mp4,yak\n")
    base = ["--annotations", str(val), "--video_dir", str(videos), "--output_dir", str(out),
            "--workers", "1"]
    with pytest.raises(ValueError, match=r"validation.csv:3: label 'yak' is not in the label"):
        prepare.run(base)
    report = prepare.run(base + ["--on_unknown_label", "skip"])
    assert report["written"] == 1 and report["skipped"][0]["reason"] == "unknown label 'yak'"
    assert dm.read_label_map(out) == ["ant", "zebra"]  # Not rebuilt for the second split.
    assert _records(out, "validation")["c.mp4"]["label_index"].tolist() == [1]
    with pytest.raises(FileNotFoundError, match=r"train.csv:2: video .*missing.mp4"):
        (tmp_path / "train.csv").write_text("path,label\nmissing.mp4,ant\n")
        prepare.run(["--annotations", str(tmp_path / "train.csv"), "--video_dir",
                     str(videos), "--output_dir", str(tmp_path / "o2"),
                     "--on_bad_video", "error"])


def test_resume_and_overwrite(videos, tmp_path, monkeypatch):
    csv = tmp_path / "train.csv"
    csv.write_text("path,label\n" + "".join(f"{v}.mp4,x\n" for v in "abcd"))
    out = tmp_path / "out"
    args = ["--annotations", str(csv), "--video_dir", str(videos), "--output_dir", str(out),
            "--num_shards", "4", "--workers", "1", "--min_resize", "0", "--shuffle_seed", "-1"]
    real, calls = prepare._convert, []

    def flaky(task):
        calls.append(task[1].path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Killed while converting the 3rd video.
        return real(task)

    monkeypatch.setattr(prepare, "_convert", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare.run(args)
    done = sorted(p.name for p in out.glob("train-*"))
    assert done == ["train-00000-of-00004", "train-00001-of-00004"]
    first = (out / done[0]).read_bytes()
    calls.clear()
    monkeypatch.setattr(prepare, "_convert", lambda t: (calls.append(t[1].path), real(t))[1])
    report = prepare.run(args)  # Continues: only c and d are converted again.
    assert [c.rsplit("/", 1)[-1] for c in calls] == ["c.mp4", "d.mp4"]
    assert report["written"] == 4 and (out / done[0]).read_bytes() == first
    calls.clear()
    shards = {p.name: p.read_bytes() for p in out.glob("train-*")}
    again = prepare.run(args)  # Finished, same inputs: nothing to do.
    assert again["already_complete"] and again["written"] == 4 and calls == []
    assert {p.name: p.read_bytes() for p in out.glob("train-*")} == shards
    with pytest.raises(FileExistsError, match="from other inputs or options.*--overwrite"):
        prepare.run(args + ["--fps", "5"])
    prepare.run(args + ["--overwrite"])
    assert len(calls) == 4 and len(list(out.glob("train-*"))) == 4


def test_prepared_records_use_dmvrs_keys_and_kinds(videos, tmp_path):
    """Same context keys/kinds as DMVR's `examples/generate_from_file.py` writes."""
    (tmp_path / "train.csv").write_text("video_path,start,end,label,caption\n"
                                        "a.mp4,0.2,0.8,walk,a grey fade\n")
    out = tmp_path / "out"
    prepare.run(["--annotations", str(tmp_path / "train.csv"), "--video_dir", str(videos),
                 "--output_dir", str(out), "--workers", "1"])
    (raw,) = list(tf.data.TFRecordDataset(dm.list_shards(out, "train")))
    ex = tf.train.SequenceExample.FromString(raw.numpy())
    kinds = {k: f.WhichOneof("kind") for k, f in ex.context.feature.items()}
    assert kinds == {"clip/label/index": "int64_list", "clip/label/text": "bytes_list",
                     "video/filename": "bytes_list", "clip/start/timestamp": "int64_list",
                     "clip/end/timestamp": "int64_list", "caption/string": "bytes_list"}
    frames = ex.feature_lists.feature_list["image/encoded"].feature
    assert len(frames) == 6 and all(len(f.bytes_list.value) == 1 for f in frames)
    assert frames[0].bytes_list.value[0][:2] == b"\xff\xd8"  # JPEG, as DMVR's decoder expects.


def test_command_line_exit_codes_and_headerless_csv(videos, tmp_path, capsys):
    """`vivit-prepare` exits 0 when it succeeds (skipped videos included: they are in the
    report) and 1 with one line naming the culprit, no traceback, when it cannot run; a
    headerless `path,label` CSV is read as one."""
    (tmp_path / "train.csv").write_text("a.mp4,walk\ncorrupt.mp4,run\nb.mp4,run\n")
    out = tmp_path / "out"
    args = ["--annotations", str(tmp_path / "train.csv"), "--video_dir", str(videos),
            "--output_dir", str(out), "--workers", "1", "--min_resize", "0"]
    assert prepare.main(args) == 0
    report = json.loads((out / "train.report.json").read_text())
    assert (report["num_rows"], report["written"], report["skipped_count"]) == (3, 2, 1)
    assert report["skipped"][0]["line"] == 2  # Lines count from 1: no header line.
    assert dm.read_label_map(out) == ["run", "walk"]
    capsys.readouterr()
    assert prepare.main(args) == 0  # The split is complete: a rerun does nothing.
    out_err = capsys.readouterr()
    assert out_err.err == "" and f"split 'train' is already complete in {out}" in out_err.out
    assert prepare.main(args + ["--jpeg_quality", "50"]) == 1  # Other options: refused.
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-prepare: error: split 'train' already exists in {out} (1 shard) from other "
        "inputs or options; pass --overwrite to rewrite it"]
    (tmp_path / "odd.csv").write_text("clip,class\na.mp4,walk\n")
    assert prepare.main(["--annotations", str(tmp_path / "odd.csv"), "--output_dir",
                         str(out)]) == 1
    assert "cannot tell the format of" in capsys.readouterr().err


def test_unwritable_output_is_one_line_before_any_decoding(videos, tmp_path, capsys,
                                                           monkeypatch):
    """A read-only output file system (EROFS on mkdir) and an output path under a file: one
    line naming the directory, exit 1, and no video decoded."""
    (tmp_path / "train.csv").write_text("a.mp4,walk\n")
    ro = tmp_path / "readonly" / "shards"
    real_mkdir = os.mkdir

    def mkdir(path, *a, **k):
        if str(path).startswith(str(tmp_path / "readonly")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(prepare, "_convert", lambda t: pytest.fail("decoded a video"))
    (tmp_path / "a_file").write_text("")
    a_file = tmp_path / "a_file"
    for out, reason in ((ro, " is not writable: Read-only file system"),
                        (a_file / "o", f": '{a_file}' is a file, not a directory")):
        args = ["--annotations", str(tmp_path / "train.csv"), "--video_dir", str(videos),
                "--output_dir", str(out), "--workers", "1"]
        assert prepare.main(args) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"vivit-prepare: error: output directory '{out}'{reason}"]
    assert not ro.exists()


def test_help_and_workers_import_neither_tensorflow_nor_jax(repo):
    """`vivit-prepare --help` and the decoding workers start without TensorFlow or JAX (which
    took each worker 7-11 CPU-s before its first video)."""
    code = ("import sys; import vivit_jax.data.prepare, vivit_jax.data.video_decode; "
            "print(sorted(m for m in ('tensorflow', 'jax', 'flax') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo,
                       timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
    r = subprocess.run([sys.executable, "-m", "vivit_jax.data.prepare", "--help"],
                       capture_output=True, text=True, cwd=repo, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("usage: vivit-prepare")


def test_disk_full_while_writing_shards_is_one_line(videos, tmp_path, capsys, monkeypatch):
    class FullDisk:  # TFRecordWriter on a full disk: the write fails.
        def __init__(self, path):
            self.path = path

        def write(self, record):
            raise tf.errors.ResourceExhaustedError(None, None, f"{self.path}; No space left")

        def close(self):
            pass

    monkeypatch.setattr(tf.io, "TFRecordWriter", FullDisk)
    (tmp_path / "train.csv").write_text("a.mp4,walk\n")
    out = tmp_path / "out"
    assert prepare.main(["--annotations", str(tmp_path / "train.csv"), "--video_dir",
                         str(videos), "--output_dir", str(out), "--workers", "1"]) == 1
    tmp = out / ".train-00000-of-00001.tmp"
    err = capsys.readouterr().err  # (Beside tqdm's progress bar, also on stderr.)
    assert "Traceback" not in err and [ln for ln in err.splitlines() if "vivit-" in ln] == [
        f"vivit-prepare: error: writing {tmp} failed: {tmp}; No space left"]
    assert not list(out.glob("train-*"))  # No shard under a final name.


def test_list_files_keep_the_index_order_and_raw_frames_are_read(videos, tmp_path):
    """mmaction2 lists: integer labels are the label map's indices (not re-sorted names);
    raw-frame lists: the directory's images, the first total_frames of them."""
    from PIL import Image
    frames = tmp_path / "frames" / "clip1"
    frames.mkdir(parents=True)
    for k in range(6):
        Image.fromarray(np.full((48, 64, 3), 30 * k, np.uint8)).save(frames / f"img_{k:05d}.jpg")
    lst = tmp_path / "train_list.txt"
    lst.write_text("a.mp4 10\nb.mp4 2 0\n")
    out = tmp_path / "out"
    (tmp_path / "names.txt").write_text("\n".join(f"class {i}" for i in range(12)))
    prepare.run(["--annotations", str(lst), "--video_dir", str(videos), "--output_dir",
                 str(out), "--workers", "1", "--labels_file", str(tmp_path / "names.txt")])
    assert dm.read_label_map(out)[:3] == ["class 0", "class 1", "class 2"]  # In index order.
    recs = _records(out, "train_list")
    assert recs["a.mp4"]["label_index"].tolist() == [10]
    assert recs["b.mp4"]["label_index"].tolist() == [2, 0]
    assert recs["b.mp4"]["label_text"].tolist() == [b"class 2", b"class 0"]
    raw = tmp_path / "rawframes_val.txt"
    raw.write_text("clip1 4 1\nmissing 4 0\n")
    report = prepare.run(["--annotations", str(raw), "--video_dir", str(tmp_path / "frames"),
                          "--output_dir", str(out), "--workers", "1", "--min_resize", "24"])
    assert (report["written"], report["skipped_count"]) == (1, 1)
    ex = _records(out, "val")["clip1"]
    assert _levels(ex) == [0, 30, 60, 90]  # The first 4 of the 6 images, in name order.
    assert tf.io.decode_jpeg(ex["frames"][0]).shape == (24, 32, 3)
    assert ex["label_index"].tolist() == [1]


def _tree(path):
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
            for p in sorted(path.rglob("*"))}


def _errors(capsys):
    """stderr without tqdm's progress bar (the lines that mention no error)."""
    return [x for x in capsys.readouterr().err.splitlines() if "error" in x]


def test_a_run_that_converts_nothing_fails_and_leaves_nothing(videos, tmp_path, capsys):
    # Issue 32: a misspelt --video_dir skipped every video as "file not found", exit 0, and
    # left empty shards that made the rerun with the right path ask for --overwrite.
    csv = tmp_path / "train.csv"
    csv.write_text("path,label\na.mp4,walk\nb.mp4,run\n")
    out = tmp_path / "new" / "shards"
    args = ["--annotations", str(csv), "--output_dir", str(out), "--workers", "1"]
    assert prepare.main(args + ["--video_dir", str(tmp_path / "vidoes")]) == 1
    assert _errors(capsys) == [
        f"vivit-prepare: error: no video of {csv} was converted (2 rows: 2 FileNotFoundError: "
        f"file not found) (is --video_dir '{tmp_path / 'vidoes'}' right?); first: {csv}:2: "
        f"{tmp_path / 'vidoes' / 'a.mp4'}; nothing was written"]
    assert not (tmp_path / "new").exists()
    assert prepare.main(args + ["--video_dir", str(videos)]) == 0
    # A second split into the same directory, every video undecodable: the first split,
    # the label map and num_examples.json stay byte-identical.
    before = _tree(out)
    (tmp_path / "val.csv").write_text("path,label\ncorrupt.mp4,walk\nempty.mp4,run\n")
    assert prepare.main(["--annotations", str(tmp_path / "val.csv"), "--video_dir", str(videos),
                         "--output_dir", str(out), "--workers", "1"]) == 1
    err = _errors(capsys)
    assert len(err) == 1 and err[0].startswith(
        f"vivit-prepare: error: no video of {tmp_path / 'val.csv'} was converted (2 rows: ")
    assert "1 ValueError: empty file (0 bytes)" in err[0] and "video_dir" not in err[0]
    assert _tree(out) == before


def test_kinetics_validate_csv_is_the_validation_split():
    # Issue 32: Kinetics' `validate.csv` became split 'validate'; the trainer reads
    # 'validation'.
    split = prepare._split_from_name
    assert [split(pathlib.Path(p)) for p in (
        "kinetics400/validate.csv", "k700-2020_validate.csv", "validation.csv", "val.csv",
        "train.csv", "ssv2-test.json", "clips.csv")] == [
        "validation", "validation", "validation", "val", "train", "test", "clips"]
