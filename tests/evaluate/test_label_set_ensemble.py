"""`vivit-ensemble` and `vivit-compare` on label-set prediction files (Epic-Kitchens' noun and
verb over one head): every figure recomputed here from the npz arrays by the EK-100 rules."""
import csv
import json

import numpy as np
import pytest

from vivit_jax.evaluate import compare, ensemble, predictions

# More classes per set than top-5 holds, so that top-5 is not trivially right.
N, V = 8, 6
SETS = (("noun", N), ("verb", V))
SPEC = f"noun:{N},verb:{V}"
NAMES = [f"noun:n{i}" for i in range(N)] + [f"verb:v{i}" for i in range(V)]
LABELS = np.array([[0, 1], [1, 2], [2, 0], [3, 1], [4, 5], [5, 3], [6, 4], [7, 0], [2, 2],
                   [1, 5]])


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def recompute(noun, verb, labels):
    """noun / verb / action top-1 and top-5 of per-set probabilities, written out plainly."""
    out = {}
    for name, p, y in (("noun", noun, labels[:, 0]), ("verb", verb, labels[:, 1])):
        top = np.argsort(-p, axis=-1, kind="stable")
        out[name] = {"top1": float(np.mean(top[:, 0] == y)),
                     "top5": float(np.mean((top[:, :5] == y[:, None]).any(-1)))}
    joint = (noun[:, :, None] * verb[:, None, :]).reshape(len(noun), -1)
    top = np.argsort(-joint, axis=-1, kind="stable")[:, :5]
    true = labels[:, 0] * V + labels[:, 1]
    out["action"] = {"top1": float(np.mean(top[:, 0] == true)),
                     "top5": float(np.mean((top == true[:, None]).any(-1)))}
    return out


def close(got, want, tol=1e-6):
    """Two {set: {'top1', 'top5'}} tables equal to `tol`, with the same sets and keys."""
    return got.keys() == want.keys() and all(
        got[k].keys() == want[k].keys()
        and all(abs(got[k][m] - want[k][m]) <= tol for m in want[k]) for k in want)


def set_probs(npz_path, which):
    """(noun, verb) probabilities of a file's `logits` (softmax per slice) or `probs`."""
    with np.load(npz_path) as f:
        assert str(f["label_sets"]) == SPEC and f["labels"].shape == (len(LABELS), 2)
        x = f[which].astype(np.float64)
    if which == "logits":
        return softmax(x[:, :N]), softmax(x[:, N:])
    return x[:, :N], x[:, N:]


def write(path, seed, aggregate, ids=None):
    # Noisy logits that lean to the true noun and verb: figures between 0 and 1.
    two_hot = np.concatenate([np.eye(N)[LABELS[:, 0]], np.eye(V)[LABELS[:, 1]]], axis=-1)
    views = np.random.default_rng(seed).normal(0, 2, (len(LABELS), 3, N + V))
    views += 1.5 * two_hot[:, None]
    pred = predictions.per_video(views, aggregate, False, SETS)
    predictions.write(path, video_index=np.arange(len(LABELS)), labels=LABELS,
                      logits=pred["logits"], probs=pred["probs"], aggregate=aggregate,
                      names=NAMES, num_views=3, multi_label=False, sets=SETS,
                      video_ids=ids or [f"P01_{i:02d}" for i in range(len(LABELS))])
    return str(path)


@pytest.fixture
def files(tmp_path):
    return {"a": write(tmp_path / "a.npz", 0, "logits"), "b": write(tmp_path / "b.npz", 1, "probs"),
            "c": write(tmp_path / "c.npz", 2, "logits")}


def test_ensemble_of_logits_runs_reports_noun_verb_action(files, tmp_path, capsys):
    a, c = files["a"], files["c"]
    s = ensemble.run([a, c], weights="1,3", out=str(tmp_path / "ens"))
    assert s["aggregate"] == "logits"
    with np.load(a) as fa, np.load(c) as fc:
        mean = 0.25 * fa["logits"].astype(np.float64) + 0.75 * fc["logits"]
    want = recompute(softmax(mean[:, :N]), softmax(mean[:, N:]), LABELS)
    got = s["metrics"]["label_sets"]
    assert set(got) == {"noun", "verb", "action"}
    assert close(got, want)
    assert (s["metrics"]["top1"], s["metrics"]["top5"]) == (got["action"]["top1"],
                                                            got["action"]["top5"])
    for path in (a, c):  # Each member as its own vivit-eval figure.
        assert close(s["members"][path]["label_sets"],
                     recompute(*set_probs(path, "logits"), LABELS))
    # The ensemble's own file is a label-set file: ensembling it alone gives the same figures.
    saved = tmp_path / "ens" / "predictions.npz"
    assert close(recompute(*set_probs(saved, "logits"), LABELS), want)
    noun, verb = set_probs(saved, "probs")
    np.testing.assert_allclose(noun.sum(-1), 1, atol=1e-6)
    np.testing.assert_allclose(verb.sum(-1), 1, atol=1e-6)
    assert close(ensemble.run([str(saved)])["metrics"]["label_sets"], got)
    summary = json.loads((tmp_path / "ens" / "summary.json").read_text())
    assert summary["metrics"]["label_sets"] == got
    rows = list(csv.reader(open(tmp_path / "ens" / "per_class.csv")))
    assert rows[0][:3] == ["label_set", "class_index", "class_name"] and len(rows) == 1 + N + V
    assert [r[0] for r in rows[1:]] == ["noun"] * N + ["verb"] * V
    assert not (tmp_path / "ens" / "confusion.png").exists()
    assert ensemble.main([a, c, "--weights", "1,3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [f"  {name}: top1 {got[name]['top1']:.4f}  top5 {got[name]['top5']:.4f}"
                        for name in ("noun", "verb", "action")]
    assert f"    noun: top1 {s['members'][a]['label_sets']['noun']['top1']:.4f}" in "\n".join(out)


def test_ensemble_of_a_logits_and_a_probs_run_averages_each_sets_probabilities(files):
    a, b = files["a"], files["b"]
    s = ensemble.run([a, b])
    assert s["aggregate"] == "probs"
    (na, va), (nb, vb) = set_probs(a, "logits"), set_probs(b, "probs")
    want = recompute((na + nb) / 2, (va + vb) / 2, LABELS)
    assert close(s["metrics"]["label_sets"], want)
    assert close(s["members"][b]["label_sets"], recompute(nb, vb, LABELS))
    # --aggregate probs re-scores the logits run from its mean view probabilities.
    r = ensemble.run([a], aggregate="probs")
    assert close(r["metrics"]["label_sets"], recompute(*set_probs(a, "probs"), LABELS))


def test_label_set_and_plain_files_are_not_ensembled(files, tmp_path):
    plain = tmp_path / "plain.npz"
    with np.load(files["a"]) as f:
        predictions.write(plain, video_index=f["video_index"], labels=LABELS[:, 0],
                          logits=f["logits"], probs=f["probs"], aggregate="logits",
                          names=NAMES, num_views=3, multi_label=False,
                          video_ids=list(f["video_id"]))
    with pytest.raises(ValueError, match=rf"label sets disagree: .*plain.npz has none, "
                                         rf".*a.npz has {SPEC}"):
        ensemble.run([files["a"], str(plain)])


def test_compare_label_set_runs_set_by_set(files, tmp_path, capsys):
    a, b = files["a"], files["b"]
    s = compare.run(a, b, str(tmp_path / "cmp"), top=2)
    (na, va), (nb, vb) = set_probs(a, "logits"), set_probs(b, "probs")
    ra, rb = recompute(na, va, LABELS), recompute(nb, vb, LABELS)
    assert (s["top1_a"], s["top1_b"]) == (ra["action"]["top1"], rb["action"]["top1"])
    for name in ("noun", "verb", "action"):
        assert s["label_sets"][name]["top1_a"] == pytest.approx(ra[name]["top1"])
        assert s["label_sets"][name]["top1_b"] == pytest.approx(rb[name]["top1"])
    rows = list(csv.DictReader(open(tmp_path / "cmp" / "gains.csv")))
    for set_name, offset, pa, pb, y in (("noun", 0, na, nb, LABELS[:, 0]),
                                        ("verb", N, va, vb, LABELS[:, 1])):
        gain = {}
        for c in range(pa.shape[1]):
            videos = y == c
            if videos.any():
                gain[NAMES[offset + c]] = (np.mean(pb[videos].argmax(-1) == c)
                                           - np.mean(pa[videos].argmax(-1) == c))
        mine = [r for r in rows if r["label_set"] == set_name]
        assert {r["class_name"]: float(r["gain"]) for r in mine} == pytest.approx(gain, abs=1e-6)
        assert [float(r["gain"]) for r in mine] == sorted((float(r["gain"]) for r in mine),
                                                          reverse=True)
        best = sorted((g for g in gain.values() if g > 0), reverse=True)[:2]
        assert [g for _, g in s["label_sets"][set_name]["gained"]] == pytest.approx(best)
    assert (tmp_path / "cmp" / "gains.png").stat().st_size > 1000
    assert compare.main([a, b, "--out", str(tmp_path / "cmp2")]) == 0
    out = capsys.readouterr().out
    assert "(action)" in out and "noun: top1 A" in out and "verb: top1 A" in out
