"""Metrics on numbers small enough to check by hand."""
import numpy as np
import pytest

from vivit_jax import cli
from vivit_jax.evaluate import metrics, multiview, predictions


def test_logits_and_probs_aggregation_disagree():
    # One video, 3 views, 2 classes: view 1 [3, 0], views 2-3 [0, 1].
    # Mean logits: [1, 2/3] → class 0.
    # Mean probs: softmax([3, 0]) = [e³/(1+e³), ·] = [0.952574, 0.047426];
    # softmax([0, 1]) = [1/(1+e), ·] = [0.268941, 0.731059];
    # class 0: (0.952574 + 2·0.268941)/3 = 0.496819 < 0.5 → class 1.
    views = np.array([[[3.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    by_logits = metrics.aggregate_views(views, "logits")
    by_probs = metrics.aggregate_views(views, "probs")
    np.testing.assert_allclose(by_logits, [[1.0, 2 / 3]])
    np.testing.assert_allclose(by_probs, [[0.496819, 0.503181]], atol=1e-6)
    labels = np.array([1])
    assert metrics.topk_accuracy(by_logits, labels) == 0.0
    assert metrics.topk_accuracy(by_probs, labels) == 1.0
    # Multi-label probabilities are per-class sigmoids: mean over views of σ(x).
    np.testing.assert_allclose(metrics.aggregate_views(views, "probs", multi_label=True),
                               [[(0.952574 + 1.0) / 3, (0.5 + 2 * 0.731059) / 3]], atol=1e-6)
    with pytest.raises(ValueError, match="aggregate='max'"):
        metrics.aggregate_views(views, "max")


def test_map_hand_example():
    # 4 videos, 3 classes (class 2 has no positive → left out of the mean).
    # Class 0 scores .9 .8 .3 .1, positives v0, v2: ranks 1 (P=1/1) and 3 (P=2/3) → AP 5/6.
    # Class 1 scores .2 .4 .6 .8, positives v1, v2: ranked v3 v2 v1 v0 → hits at ranks 2
    # (P=1/2) and 3 (P=2/3) → AP 7/12. mAP = (5/6 + 7/12)/2 = 17/24.
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[.9, .2, .5], [.8, .4, .1], [.3, .6, .7], [.1, .8, .3]])
    ap = metrics.per_class_ap(scores, labels)
    np.testing.assert_allclose(ap[:2], [5 / 6, 7 / 12])
    assert np.isnan(ap[2])
    assert metrics.mean_average_precision(scores, labels) == pytest.approx(17 / 24)
    m = metrics.compute_metrics(scores, labels, multi_label=True)
    # top-1: v0 → class 0 ✓, v1 → class 0 ✗, v2 → class 2 ✗, v3 → class 1 ✗.
    assert m["top1"] == 0.25 and m["mAP"] == pytest.approx(17 / 24)


def test_mean_per_class_accuracy_and_confusion():
    # Labels 0 0 0 1 2 2, predictions 0 0 1 1 2 0 (class 3 has no video):
    # recalls 2/3, 1/1, 1/2 → mean 13/18; overall top-1 4/6.
    labels = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 2, 0])
    scores = np.eye(4)[pred] + 0.01 * np.arange(4)  # argmax = pred; top-5 covers all.
    acc, counts = metrics.per_class_accuracy(scores, labels)
    np.testing.assert_allclose(acc[:3], [2 / 3, 1.0, 0.5])
    assert np.isnan(acc[3]) and counts.tolist() == [3, 1, 2, 0]
    m = metrics.compute_metrics(scores, labels)
    assert m["mean_class_accuracy"] == pytest.approx(13 / 18)
    assert m["top1"] == pytest.approx(4 / 6) and m["top5"] == 1.0
    cm = metrics.confusion_matrix(scores, labels)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_top5_counts_a_hit_in_the_five_best():
    scores = np.array([[6, 5, 4, 3, 2, 1, 0.0]] * 2)
    assert metrics.topk_accuracy(scores, np.array([4, 5]), 5) == 0.5


def test_assemble_counts_every_video_once():
    b1 = {"logits": np.arange(8.0).reshape(4, 1, 2), "label": np.array([0, 1, 0, 0]),
          "video_index": np.array([2, 0, -1, -1])}  # Two padding rows.
    b2 = {"logits": -np.arange(4.0).reshape(2, 1, 2), "label": np.array([1, 1]),
          "video_index": np.array([1, 3])}
    index, logits, labels = multiview.assemble([b1, b2], 4)
    assert index.tolist() == [0, 1, 2, 3] and labels.tolist() == [1, 1, 0, 1]
    np.testing.assert_array_equal(logits[:, 0], [[2, 3], [0, -1], [0, 1], [-2, -3]])
    dup = dict(b2, video_index=np.array([1, 2]))
    with pytest.raises(ValueError, match="video_index 2 was evaluated 2 times"):
        multiview.assemble([b1, dup], 4)
    with pytest.raises(ValueError, match="first missing index 3"):
        multiview.assemble([b1, dict(b2, video_index=np.array([1, -1]))], 4)


@pytest.mark.parametrize("text,expected", [("4x3", (4, 3)), ("1X1", (1, 1)), ("10x3", (10, 3))])
def test_parse_views(text, expected):
    assert cli.parse_views(text) == expected


@pytest.mark.parametrize("text,msg", [("0x3", "clips must be >= 1"), ("2x2", "1 or 3"),
                                      ("4", "CLIPSxCROPS"), ("ax3", "CLIPSxCROPS")])
def test_parse_views_errors(text, msg):
    with pytest.raises(ValueError, match=msg):
        cli.parse_views(text)


def test_multi_label_report_writes_ap_per_class(tmp_path):
    # The mAP example above: the CSV lists AP 5/6, 7/12 and no value for class 2.
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[.9, .2, .5], [.8, .4, .1], [.3, .6, .7], [.1, .8, .3]])
    s = predictions.write_report(tmp_path, scores, labels, ["p", "q", "r"], True, {"split": "t"})
    assert s["metrics"]["mAP"] == pytest.approx(17 / 24)
    rows = (tmp_path / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class_index,class_name,num_positives,average_precision"
    assert rows[1:] == ["0,p,2,0.833333", "1,q,2,0.583333", "2,r,0,nan"]
    assert not (tmp_path / "confusion.png").exists()  # No single true class per video.
