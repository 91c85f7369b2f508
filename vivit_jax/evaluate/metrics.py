"""Pure-numpy evaluation metrics: view aggregation, top-k, per-class accuracy, mAP, confusion.

Everything takes per-video arrays already gathered on the host (`scores [N, K]`, `labels [N]`
class indices or `[N, K]` multi-hot) so that the evaluator, `vivit-ensemble` and
`vivit-compare` compute their numbers with the same code.
"""
from __future__ import annotations

from typing import Any

import numpy as np

AGGREGATES = ("logits", "probs")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # Stable for large |x|.


def probabilities(logits: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """Class probabilities of logits: softmax (single-label) or per-class sigmoid (multi-label)."""
    return sigmoid(logits) if multi_label else softmax(logits)


def aggregate_views(view_logits: np.ndarray, how: str = "logits",
                    multi_label: bool = False) -> np.ndarray:
    """`[N, V, K]` per-view logits → `[N, K]` per-video scores.

    'logits': the mean of the logits over views (Scenic's ViViT evaluation); 'probs': the mean
    of the softmax (sigmoid for multi-label) probabilities (mmaction2, used by VidTr).
    """
    if how not in AGGREGATES:
        raise ValueError(f"aggregate={how!r}: expected one of {AGGREGATES}")
    view_logits = np.asarray(view_logits, np.float64)
    if how == "logits":
        return view_logits.mean(axis=1)
    return probabilities(view_logits, multi_label).mean(axis=1)


def _positives(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices [N] → one-hot bool [N, K]; multi-hot [N, K] → bool."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return np.eye(num_classes, dtype=bool)[labels.astype(np.int64)]
    return labels > 0


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of videos with a positive class among the k highest scores (ties: lower index)."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    pos = _positives(labels, scores.shape[-1])
    return float(np.take_along_axis(pos, top, axis=-1).any(-1).mean()) if len(scores) else 0.0


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 recall of each class [K] (NaN for a class without videos), videos per class [K])."""
    k = np.asarray(scores).shape[-1]
    labels = np.asarray(labels).astype(np.int64)
    pred = np.argmax(scores, axis=-1)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    correct = np.bincount(labels[pred == labels], minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)
    return acc, counts


def mean_per_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the per-class top-1 recalls over the classes that have videos."""
    acc, counts = per_class_accuracy(scores, labels)
    return float(np.mean(acc[counts > 0])) if counts.any() else 0.0


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (scores sorted descending).

    Equal to sklearn's `average_precision_score` when scores have no ties. NaN without positives.
    """
    positives = np.asarray(positives, bool)
    if not positives.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hit = positives[order]
    precision_at = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float(precision_at[hit].mean())


def per_class_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AP of every class [K] (NaN for classes without a positive video)."""
    scores = np.asarray(scores)
    pos = _positives(labels, scores.shape[-1])
    return np.array([average_precision(scores[:, c], pos[:, c]) for c in range(scores.shape[-1])])


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """mAP over classes with at least one positive (the Charades metric)."""
    ap = per_class_ap(scores, labels)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else 0.0


def confusion_matrix(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`[K, K]` counts: row = true class, column = top-1 prediction."""
    k = np.asarray(scores).shape[-1]
    pred = np.argmax(scores, axis=-1)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (np.asarray(labels).astype(np.int64), pred), 1)
    return cm


def compute_metrics(scores: np.ndarray, labels: np.ndarray,
                    multi_label: bool = False) -> dict[str, Any]:
    """top-1, top-5 and mean per-class accuracy (single-label) or mAP (multi-label)."""
    out: dict[str, Any] = {"top1": topk_accuracy(scores, labels, 1),
                           "top5": topk_accuracy(scores, labels, 5)}
    if multi_label:
        out["mAP"] = mean_average_precision(scores, labels)
    else:
        out["mean_class_accuracy"] = mean_per_class_accuracy(scores, labels)
    return out
