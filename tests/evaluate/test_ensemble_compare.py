"""`vivit-ensemble` and `vivit-compare` on fixed prediction files."""
import csv
import json

import numpy as np
import pytest

from vivit_jax.evaluate import compare, ensemble, metrics, predictions

NAMES = ["a", "b"]


def write(path, probs, labels, names=NAMES, ids=None):
    probs = np.asarray(probs, float)
    predictions.write(
        path, video_index=np.arange(len(probs)), labels=np.asarray(labels),
        logits=np.log(probs), probs=probs, aggregate="probs", names=names, num_views=1,
        multi_label=False, video_ids=ids or [f"v{i}.mp4" for i in range(len(probs))])
    return str(path)


@pytest.fixture
def two_files(tmp_path):
    # Labels 0 1 0. A: v0 [.9 .1] ✓, v1 [.6 .4] ✗, v2 [.45 .55] ✗ → top-1 1/3.
    #               B: v0 [.3 .7] ✗, v1 [.1 .9] ✓, v2 [.6 .4] ✓ → top-1 2/3.
    # Equal weights: v0 [.6 .4] ✓, v1 [.35 .65] ✓, v2 [.525 .475] ✓ → 1.
    # Weights 1,3:   v0 [.45 .55] ✗, v1 [.225 .775] ✓, v2 [.5625 .4375] ✓ → 2/3.
    labels = [0, 1, 0]
    a = write(tmp_path / "a.npz", [[.9, .1], [.6, .4], [.45, .55]], labels)
    b = write(tmp_path / "b.npz", [[.3, .7], [.1, .9], [.6, .4]], labels)
    return a, b


def test_ensemble_of_two_files(two_files, tmp_path, capsys):
    a, b = two_files
    s = ensemble.run([a, b], out=str(tmp_path / "ens"))
    assert s["members"][a]["top1"] == pytest.approx(1 / 3)
    assert s["members"][b]["top1"] == pytest.approx(2 / 3)
    assert s["metrics"]["top1"] == 1.0 and s["metrics"]["mean_class_accuracy"] == 1.0
    saved = predictions.read(tmp_path / "ens" / "predictions.npz")
    np.testing.assert_allclose(saved["probs"], [[.6, .4], [.35, .65], [.525, .475]], atol=1e-6)
    s13 = ensemble.run([a, b], weights="1,3")
    assert s13["weights"] == [0.25, 0.75] and s13["metrics"]["top1"] == pytest.approx(2 / 3)
    assert ensemble.main([a, b, "--weights", "0,1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["top1"] == pytest.approx(2 / 3)
    # Averaging logits (= log-probabilities here) is a geometric mean: v2 → √(.45·.6) vs
    # √(.55·.4): .5196 > .4690 → class 0 ✓; v0 √(.27) > √(.07) ✓; v1 √(.06) < √(.36) ✓.
    assert ensemble.run([a, b], aggregate="logits")["metrics"]["top1"] == 1.0


def test_ensemble_refuses_mismatches(two_files, tmp_path, capsys):
    a, _ = two_files
    other_ids = write(tmp_path / "ids.npz", [[.5, .5]] * 3, [0, 1, 0],
                      ids=["v0.mp4", "v1.mp4", "v9.mp4"])
    with pytest.raises(ValueError, match=r"the files hold different videos \(3 in .*ids.npz, 3 "
                                         r"in .*a.npz\): video 'v2.mp4' is in .*a.npz but not in"):
        ensemble.run([a, other_ids])
    other_names = write(tmp_path / "names.npz", [[.5, .5]] * 3, [0, 1, 0], names=["a", "c"])
    with pytest.raises(ValueError, match="label maps disagree at class 1: .*'c'.*'b'"):
        ensemble.run([a, other_names])
    other_labels = write(tmp_path / "labels.npz", [[.5, .5]] * 3, [0, 1, 1])
    with pytest.raises(ValueError, match="labels disagree for video 'v2.mp4'"):
        ensemble.run([a, other_labels])
    assert ensemble.main([a, other_ids]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-ensemble: error: the files hold different videos")
    assert "\n" not in err
    with pytest.raises(ValueError, match="has 1 values for 2"):
        ensemble.run([a, a], weights="1")


def test_compare_gains(tmp_path, capsys):
    # Labels 0 0 1 1 2 2. A predicts 0 0 1 0 1 1 → per class 1, 1/2, 0.
    #                     B predicts 0 1 1 1 2 0 → per class 1/2, 1, 1/2.
    # Gains B − A: class 0 −1/2, class 1 +1/2, class 2 +1/2.
    labels = [0, 0, 1, 1, 2, 2]
    names = ["x", "y", "z"]
    pa = np.eye(3)[[0, 0, 1, 0, 1, 1]] * 0.8 + 0.1 / 3 * 2
    pb = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.1 / 3 * 2
    a = write(tmp_path / "a.npz", pa, labels, names)
    b = write(tmp_path / "b.npz", pb, labels, names)
    s = compare.run(a, b, str(tmp_path / "cmp"), top=1)
    assert s["gained"] == [["y", 0.5]] and s["lost"] == [["x", -0.5]]
    assert s["top1_a"] == pytest.approx(3 / 6) and s["top1_b"] == pytest.approx(4 / 6)
    rows = list(csv.DictReader(open(tmp_path / "cmp" / "gains.csv")))
    assert [(r["class_name"], float(r["gain"])) for r in rows] == [("y", .5), ("z", .5),
                                                                    ("x", -.5)]
    assert (tmp_path / "cmp" / "gains.png").stat().st_size > 1000
    assert compare.main([a, b, "--out", str(tmp_path / "cmp2"), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "top 2 gained" in out and "+50.0%" in out and "-50.0%" in out


def test_one_file_is_its_own_eval_figure_and_members_keep_their_aggregate(tmp_path, capsys):
    # Issue 32: vivit-ensemble re-aggregated every member by mean probabilities, so a
    # `logits` run's file scored 0.9450 where its vivit-eval summary said 0.9425.
    # Video 0 (label 0): view logits [9, 0], [-4, 0], [-4, 0] → mean logits [.33, 0] → class
    # 0 ✓; mean probabilities [.35, .65] → class 1 ✗. Video 1 (label 1): both say class 1.
    view_logits = np.array([[[9.0, 0.0], [-4.0, 0.0], [-4.0, 0.0]],
                            [[0.0, 2.0], [0.0, 1.0], [0.0, 1.0]]])
    labels = np.array([0, 1])

    def eval_file(name, aggregate, views=view_logits):
        pred = predictions.per_video(views, aggregate, False)
        path = tmp_path / name
        predictions.write(path, video_index=np.arange(2), labels=labels,
                          logits=pred["logits"], probs=pred["probs"],
                          aggregate=aggregate, names=NAMES, num_views=3,
                          multi_label=False, video_ids=["v0", "v1"])
        return str(path)

    logits_run, probs_run = eval_file("l.npz", "logits"), eval_file("p.npz", "probs")
    assert ensemble.main([logits_run]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"  {logits_run}: top1 1.0000  top5 1.0000",
                   "ensemble (logits, weights [1.0]): top1 1.0000  top5 1.0000  (2 videos)"]
    assert ensemble.run([probs_run])["metrics"]["top1"] == 0.5  # Its own figure too.
    # Two `logits` runs: their mean logits are averaged (all views weigh in as logits).
    other = eval_file("l2.npz", "logits", view_logits[::-1] * np.array([1.0, 3.0])[:, None, None])
    s = ensemble.run([logits_run, other], weights="1,1")
    assert s["aggregate"] == "logits"
    saved = {k: predictions.read(p)["logits"] for k, p in
             (("a", logits_run), ("b", other))}
    assert s["metrics"]["top1"] == metrics.topk_accuracy((saved["a"] + saved["b"]) / 2, labels)
    # A `logits` run and a `probs` run: probabilities, each member ranked as vivit-eval did.
    s = ensemble.run([logits_run, probs_run])
    assert s["aggregate"] == "probs"
    assert [m["top1"] for m in s["members"].values()] == [1.0, 0.5]
    assert ensemble.run([logits_run], aggregate="probs")["metrics"]["top1"] == 0.5


@pytest.mark.parametrize("cli", ["ensemble", "compare"])
def test_out_under_a_file_is_one_line_before_any_work(two_files, tmp_path, capsys, cli):
    # Issue 32: a 16- or 19-line NotADirectoryError traceback.
    a, b = two_files
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "out"
    main = ensemble.main if cli == "ensemble" else compare.main
    assert main([a, b, "--out", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-{cli}: error: output directory '{out}': '{tmp_path / 'f'}' is a file, not a "
        f"directory"]
    assert (tmp_path / "f").read_text() == "x"
    # A refused ensemble creates no --out either.
    other = write(tmp_path / "c.npz", [[.5, .5]] * 2, [0, 1])
    assert main([a, other, "--out", str(tmp_path / "new")]) == 1
    assert "different videos" in capsys.readouterr().err and not (tmp_path / "new").exists()
