"""Per-video predictions: the `predictions.npz` file, the report written beside it, and the
metrics of both.

`vivit-eval` writes the file; `vivit-ensemble` and `vivit-compare` read it (and the ensemble
writes one of its own). A file holds, per video in video-index order: `video_id` (the shards'
`video/filename`), `labels` ([N] class ids, [N, K] multi-hot, or [N, L] each label set's own
class id), the views' mean `logits` and mean `probs` [N, K], `scores` (the one of the two
that `aggregate` names), and once `label_names` [K], `num_views`, `multi_label` and
`label_sets` ('noun:300,verb:97', or '' for one ordinary label).

With label sets (`vivit_jax.label_sets`) every probability is each set's softmax over its own
slice of the joint head, and the metrics are each set's and the action's top-1 / top-5.
"""
from __future__ import annotations

import csv
import io
import json
import pathlib
from typing import Any

import numpy as np

from vivit_jax import fileio, label_sets
from vivit_jax.evaluate import metrics as metrics_lib

REQUIRED = ("video_index", "labels", "logits", "probs", "label_names")


def per_video(view_logits: np.ndarray, aggregate: str, multi_label: bool, sets=()) -> dict:
    """[N, V, K] view logits → per-video mean `logits`, mean `probs` and the `scores` of
    `aggregate` (with label `sets`, each set's softmax over its own slice)."""
    logits = metrics_lib.aggregate_views(view_logits, "logits", multi_label)
    probs = (label_sets.aggregate_probs(view_logits, sets) if sets
             else metrics_lib.aggregate_views(view_logits, "probs", multi_label))
    return {"logits": logits, "probs": probs, "scores": probs if aggregate == "probs" else logits}


def probabilities(scores: np.ndarray, aggregate: str, multi_label: bool, sets=()) -> np.ndarray:
    """Per-video probabilities [N, K] of scores that are `aggregate` ('logits': softmax, per
    label set with `sets`, or sigmoid for multi-label; 'probs': as they are)."""
    if aggregate == "probs":
        return np.asarray(scores, np.float64)
    if sets:
        return np.concatenate(label_sets.set_probabilities(scores, sets, "logits"), axis=-1)
    return metrics_lib.probabilities(scores, multi_label)


def compute(scores: np.ndarray, labels: np.ndarray, multi_label: bool, sets=(),
            aggregate: str = "logits") -> dict[str, Any]:
    """`metrics_lib.compute_metrics`, or with label `sets` `label_sets.metrics` (each set's and
    the action's top-1/5; `top1`/`top5` are the action's)."""
    if sets:
        return label_sets.metrics(scores, labels, sets, aggregate)
    return metrics_lib.compute_metrics(scores, labels, multi_label)


def single_view_metrics(view_logits: np.ndarray, labels: np.ndarray,
                        multi_label: bool, sets=()) -> dict[str, Any]:
    """Clip-level metrics: every view scored on its own, as one clip (the number papers call
    "single view" or "clip-level"; the aggregated ones are video-level)."""
    n, v = view_logits.shape[:2]
    per_view = np.repeat(np.asarray(labels), v, axis=0)  # Row i*v + j is view j of video i.
    return compute(view_logits.reshape(n * v, -1), per_view, multi_label, sets)


def write(path: str | pathlib.Path, *, video_index, labels, logits, probs, aggregate: str,
          names, num_views: int, multi_label: bool, video_ids=None, sets=()) -> None:
    """Writes a predictions file (local or remote); rows in the order given. Without
    `video_ids` the video index stands in for the id."""
    ids = [str(i) for i in video_index] if video_ids is None else [str(v) for v in video_ids]
    arrays = dict(label_sets=np.asarray(label_sets.to_string(sets)),
                  video_index=np.asarray(video_index, np.int64),
                  video_id=np.asarray(ids, dtype=str), labels=np.asarray(labels),
                  logits=np.asarray(logits, np.float32), probs=np.asarray(probs, np.float32),
                  scores=np.asarray(probs if aggregate == "probs" else logits, np.float32),
                  aggregate=np.asarray(aggregate), label_names=np.asarray(list(names)),
                  num_views=np.asarray(num_views), multi_label=np.asarray(bool(multi_label)))
    if fileio.is_remote(path):  # np.savez seeks: written in memory, stored in one write.
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        fileio.write_bytes(path, buf.getvalue())
        return
    np.savez(path, **arrays)


def read(path: str | pathlib.Path) -> dict[str, Any]:
    """A predictions file as a dict, refusing files without the expected arrays; `sets` holds
    its label sets (() for one ordinary label), `video_id` and `label_names` are str lists."""
    path = fileio.native(path)
    if not fileio.isfile(path):
        raise FileNotFoundError(f"prediction file {str(path)!r} does not exist")
    source = io.BytesIO(fileio.read_bytes(path)) if fileio.is_remote(path) else path
    with np.load(source, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if not set(REQUIRED) <= set(data):
        raise ValueError(f"{path} is not a predictions file: missing "
                         f"{sorted(set(REQUIRED) - set(data))}")
    data["label_names"] = [str(x) for x in data["label_names"]]
    # A file without `video_id`: the video index stands in (files then match by position).
    data["video_id"] = ([str(x) for x in data["video_id"]] if "video_id" in data
                        else [str(int(i)) for i in data["video_index"]])
    data["multi_label"] = bool(data.get("multi_label", np.asarray(False)))
    try:
        data["sets"] = label_sets.parse(str(data.get("label_sets", "")))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if data["sets"] and np.asarray(data["labels"]).shape != (len(data["logits"]),
                                                            len(data["sets"])):
        raise ValueError(f"{path}: labels have shape {np.asarray(data['labels']).shape}, "
                         f"expected one class per label set {data['label_sets']}")
    return data


def _per_class_rows(scores, labels, names, multi_label: bool, sets) -> list[list]:
    if sets:
        return label_sets.per_class_rows(scores, labels, names, sets)
    if multi_label:
        ap = metrics_lib.per_class_ap(scores, labels)
        rows = [["class_index", "class_name", "num_positives", "average_precision"]]
        return rows + [[c, name, int((np.asarray(labels)[:, c] > 0).sum()), f"{a:.6f}"]
                       for c, (name, a) in enumerate(zip(names, ap))]
    acc, counts = metrics_lib.per_class_accuracy(scores, labels)
    rows = [["class_index", "class_name", "num_videos", "top1_accuracy"]]
    return rows + [[c, name, int(n), "" if np.isnan(a) else f"{a:.6f}"]
                   for c, (name, a, n) in enumerate(zip(names, acc, counts))]


def write_report(outdir: str | pathlib.Path, scores: np.ndarray, labels: np.ndarray, names,
                 multi_label: bool, summary: dict[str, Any], title: str = "",
                 sets=()) -> dict[str, Any]:
    """summary.json, per_class.csv and confusion.png (one single-label set only) into
    `outdir`; returns the summary. Its `metrics` are computed here only when the caller has
    not (scored as `summary['aggregate']`, default logits)."""
    from vivit_jax.evaluate import plots

    fileio.makedirs(outdir)
    if "metrics" not in summary:
        summary = dict(summary, metrics=compute(scores, labels, multi_label, sets,
                                                summary.get("aggregate", "logits")))
    with fileio.open(fileio.join(outdir, "per_class.csv"), "w", newline="") as f:
        csv.writer(f).writerows(_per_class_rows(scores, labels, names, multi_label, sets))
    if not multi_label and not sets:
        plots.confusion_png(metrics_lib.confusion_matrix(scores, labels), names,
                            fileio.join(outdir, "confusion.png"), title)
    fileio.write_text(fileio.join(outdir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary


def label_set_lines(m: dict[str, Any], indent: str = "  ") -> list[str]:
    """One printed line per label set and the action (none without label sets)."""
    return [f"{indent}{name}: top1 {s['top1']:.4f}  top5 {s['top5']:.4f}"
            for name, s in m.get("label_sets", {}).items()]
