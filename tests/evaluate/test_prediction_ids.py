"""Video ids from the shards to `predictions.npz` to `vivit-ensemble`/`vivit-compare`; the
plots' names and empty cases; eval and rollout outputs checked before the work."""
import errno
import os

import numpy as np
import pytest

from tests.evaluate.helpers import SMALL, make_workdir, moving_square, write_video
from vivit_jax import config as config_lib
from vivit_jax.data import pipeline
from vivit_jax.evaluate import compare, ensemble, multiview, predict, predictions, rollout

TINY = "configs/synthetic/vivit_tiny.py:runlocal"


def data_overrides(data_cache):
    return [f"--config.dataset.data_dir={data_cache}",
            "--config.dataset.synthetic.train_size=16", "--config.eval_batch_size=16"]


def test_ids_round_trip_from_shards_to_predictions_to_ensemble(repo, data_cache, tmp_path,
                                                               capsys):
    wd = make_workdir(tmp_path / "wd", TINY)
    cfg = config_lib.load(str(repo / TINY), SMALL + data_overrides(data_cache))
    multiview.run(cfg, workdir=str(wd), checkpoint=None, split="test", num_clips=1,
                  num_crops=1, aggregate="logits", log=None)
    path = wd / "eval_test_1x1" / "predictions.npz"
    pred = predictions.read(path)
    # The ids are the shards' `video/filename`, each row with the label its record holds.
    shard_labels = {}
    for b in pipeline.eval_iterator(cfg.dataset, "test", global_batch_size=8,
                                    include_ids=True):
        for vid, label, m in zip(b["video_id"], b["label"], b["mask"]):
            if m:
                shard_labels[vid.decode()] = int(label)
    assert len(pred["video_id"]) == len(shard_labels) == 32
    assert sorted(pred["video_id"]) == [f"synthetic_motion/test/{i:06d}" for i in range(32)]
    assert [shard_labels[v] for v in pred["video_id"]] == pred["labels"].tolist()

    # The same predictions stored in another order: matched by id, not by position.
    flip = slice(None, None, -1)
    shuffled = tmp_path / "shuffled.npz"
    predictions.write(
        shuffled, video_index=pred["video_index"][flip], labels=pred["labels"][flip],
        logits=pred["logits"][flip], probs=pred["probs"][flip], aggregate="logits",
        names=pred["label_names"], num_views=1, multi_label=False,
        video_ids=pred["video_id"][::-1])
    s = ensemble.run([str(path), str(shuffled)], out=str(tmp_path / "ens"))
    assert s["metrics"] == pytest.approx(s["members"][str(path)])
    ens = predictions.read(tmp_path / "ens" / "predictions.npz")
    assert ens["video_id"] == pred["video_id"]
    np.testing.assert_allclose(ens["probs"], pred["probs"], atol=1e-6)

    # A file without one of the videos: refused, naming it.
    partial = tmp_path / "partial.npz"
    keep = slice(1, None)
    predictions.write(
        partial, video_index=pred["video_index"][keep], labels=pred["labels"][keep],
        logits=pred["logits"][keep], probs=pred["probs"][keep], aggregate="logits",
        names=pred["label_names"], num_views=1, multi_label=False,
        video_ids=pred["video_id"][1:])
    capsys.readouterr()
    assert ensemble.main([str(path), str(partial)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-ensemble: error: the files hold different videos (31 in {partial}, 32 in "
        f"{path}): video '{pred['video_id'][0]}' is in {path} but not in {partial}"]

    # Compared with itself: no class gained or lost, said in words and in the figure.
    assert compare.main([str(path), str(shuffled), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "no class gained" in out and "no class lost" in out
    assert (tmp_path / "cmp" / "gains.png").stat().st_size > 5000


def test_ids_of_clips_cut_from_one_file_are_told_apart():
    local = [(np.array([1, 0, 2, -1]), np.array([b"a.mp4", b"a.mp4", b"b.mp4", b""], object),
              np.array([[400_000, 1_000_000], [0, 400_000], [0, 2_000_000], [0, 0]]))]
    assert multiview.video_ids(local, 3) == ["a.mp4#t=0,0.4", "a.mp4#t=0.4,1", "b.mp4"]


def test_compare_names_the_runs_apart():
    assert compare.run_names("runs/a/eval_test_4x3/predictions.npz",
                             "runs/b/eval_test_4x3/predictions.npz") == (
        "a/eval_test_4x3", "b/eval_test_4x3")
    assert compare.run_names("w/eval_test_4x3/predictions.npz",
                             "w/eval_test_1x3/predictions.npz") == ("eval_test_4x3",
                                                                    "eval_test_1x3")


def _read_only(monkeypatch, root):
    """mkdir under `root` fails as on a read-only file system."""
    real = os.mkdir

    def mkdir(path, *a, **k):
        if str(path).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)


def test_unwritable_eval_and_rollout_outputs_fail_before_the_work(repo, data_cache, tmp_path,
                                                                  monkeypatch, capsys):
    wd = make_workdir(tmp_path / "wd", TINY)
    video = write_video(tmp_path / "v.mp4", moving_square())
    (tmp_path / "a_file").write_text("")
    _read_only(monkeypatch, tmp_path / "ro")
    monkeypatch.setattr(multiview, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    a_file = tmp_path / "a_file"
    for out, reason in ((tmp_path / "ro" / "eval", " is not writable: Read-only file system"),
                        (a_file / "eval", f": '{a_file}' is a file, not a directory")):
        argv = ["--config", str(repo / TINY), "--workdir", str(wd), "--out", str(out),
                "--views", "1x1", *SMALL, *data_overrides(data_cache)]
        assert multiview.main(argv) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"vivit-eval: error: output directory '{out}'{reason}"]
    monkeypatch.setattr(predict, "load", lambda *a, **k: pytest.fail("loaded the model"))
    png = tmp_path / "ro" / "x.png"
    assert rollout.main([video, "--checkpoint", str(wd), "--out", str(png)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-rollout: error: output file {str(png)!r}: its directory "
        f"'{tmp_path / 'ro'}' is not writable: Read-only file system"]
    # Under a file (issue 32: "is not writable: File exists").
    assert rollout.main([video, "--checkpoint", str(wd), "--out", str(a_file / "x.png")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-rollout: error: output file '{a_file / 'x.png'}': '{a_file}' is a file, not a "
        f"directory"]


def test_rollout_decode_error_names_the_file(tmp_path, capsys):
    wd = make_workdir(tmp_path / "wd", TINY)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(4000))
    assert rollout.main([str(broken), "--checkpoint", str(wd), "--out",
                         str(tmp_path / "r.png")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"vivit-rollout: error: {broken}: cannot decode")
    assert not (tmp_path / "r.png").exists()



def test_ids_gathered_from_every_process_keep_their_rows(monkeypatch):
    # Two processes faked as two copies of this one: every gather returns its input twice.
    from jax.experimental import multihost_utils

    from vivit_jax import cluster

    monkeypatch.setattr(multihost_utils, "process_allgather",
                        lambda x: np.stack([np.asarray(x)] * 2))
    assert cluster.allgather_rows(np.array([[1, 2], [3, 4]])).tolist() == [[1, 2], [3, 4]] * 2
    assert cluster.allgather_rows(np.zeros((0, 2), np.int64)).shape == (0, 2)
    # Names are NUL-padded to the longest and come back whole, in process order.
    names = [b"a.mp4", b"long/name.mp4", b""]
    assert cluster.allgather_bytes(names) == names * 2
    monkeypatch.setattr("jax.process_count", lambda: 2)
    local = [(np.array([1, 0, -1]), np.array([b"b.mp4", b"a.mp4", b""], object),
              np.array([[0, 1_000_000], [0, 400_000], [0, 0]]))]
    # Process 1 sends the same two rows: each video index twice, the later row kept.
    assert multiview.video_ids(local, 2) == ["a.mp4", "b.mp4"]
