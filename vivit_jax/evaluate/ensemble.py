"""`vivit-ensemble`: result-level ensemble of saved predictions (VidTr supplementary, §2).

  vivit-ensemble PRED1.npz [PRED2.npz …] [--weights w1,w2] [--aggregate probs|logits]
                 [--out DIR]

Averages `vivit-eval`'s `predictions.npz` files with the given weights (normalised to sum 1),
then reports top-1/top-5 and mean per-class accuracy (mAP for multi-label data). By default
each member counts as `vivit-eval` scored it (its file's `aggregate`): members evaluated with
`logits` are averaged as mean logits (their views and the members' all weigh in as logits,
Scenic's rule), members evaluated with `probs` as mean probabilities (VidTr's "result level"
ensemble); members of both kinds are averaged as probabilities, each a softmax of its own
scores. One file is its own `vivit-eval` figure. `--aggregate` re-scores every member from
its mean logits or mean view probabilities instead. Files must hold the same videos (matched
by video id, the shards' `video/filename`, in any order) with the same labels, label map and
label sets; a video that one file lacks, or the first other disagreement, is named.

Files with label sets (Epic-Kitchens' `noun:300,verb:97`) are averaged the same way over the
joint head: logits as logits, probabilities as each set's probabilities (a member of the
other kind: each set's softmax of its slice); the report gives each set's and the action's
top-1 / top-5, and `per_class.csv` one row per class of each set.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from vivit_jax import fileio, label_sets
from vivit_jax.evaluate import metrics as metrics_lib
from vivit_jax.evaluate import predictions

PER_VIDEO = ("video_index", "video_id", "labels", "logits", "probs", "scores")


def align(preds: Sequence[dict[str, Any]], paths: Sequence[str]) -> list[dict[str, Any]]:
    """The files' per-video rows in the first file's video order, matched by video id.

    Raises ValueError naming the first video id that is in one file and not the other (or
    twice in one), label sets, the first class name or label that disagrees."""
    ref, ref_path = preds[0], paths[0]
    out = []
    for p, path in zip(preds, paths):
        ids = p["video_id"]
        pos = {v: i for i, v in enumerate(ids)}
        if len(pos) != len(ids):
            dup = next(v for i, v in enumerate(ids) if pos[v] != i)
            raise ValueError(f"{path} lists video {dup!r} twice")
        missing = [v for v in ref["video_id"] if v not in pos]
        if missing or len(ids) != len(ref["video_id"]):
            ref_ids = set(ref["video_id"])
            extra = [v for v in ids if v not in ref_ids]
            which = (f"video {missing[0]!r} is in {ref_path} but not in {path}" if missing
                     else f"video {extra[0]!r} is in {path} but not in {ref_path}")
            raise ValueError(f"the files hold different videos ({len(ids)} in {path}, "
                             f"{len(ref['video_id'])} in {ref_path}): {which}")
        order = np.asarray([pos[v] for v in ref["video_id"]], np.int64)
        q = dict(p)
        for k in PER_VIDEO:
            if k in q:
                q[k] = [q[k][i] for i in order] if isinstance(q[k], list) else q[k][order]
        if q.get("sets", ()) != ref.get("sets", ()):
            sets_q, sets_ref = (label_sets.to_string(x.get("sets", ())) or "none"
                                for x in (q, ref))
            raise ValueError(f"label sets disagree: {path} has {sets_q}, {ref_path} has "
                             f"{sets_ref}")
        if q["label_names"] != ref["label_names"]:
            if len(q["label_names"]) != len(ref["label_names"]):
                raise ValueError(f"label maps disagree: {path} has {len(q['label_names'])} "
                                 f"classes, {ref_path} has {len(ref['label_names'])}")
            c = next(i for i, (a, b) in enumerate(zip(q["label_names"], ref["label_names"]))
                     if a != b)
            raise ValueError(f"label maps disagree at class {c}: {path} has "
                             f"{q['label_names'][c]!r}, {ref_path} has {ref['label_names'][c]!r}")
        if q["labels"].shape != ref["labels"].shape or (q["labels"] != ref["labels"]).any():
            rows = np.flatnonzero(
                (q["labels"] != ref["labels"]).reshape(len(ref["labels"]), -1).any(-1))
            i = int(rows[0]) if rows.size else 0
            raise ValueError(f"labels disagree for video {ref['video_id'][i]!r}: "
                             f"{path} vs {ref_path}")
        out.append(q)
    return out


def parse_weights(text: str | None, n: int) -> np.ndarray:
    """'1,2' → [1/3, 2/3]; None → equal weights."""
    if not text:
        return np.full(n, 1.0 / n)
    try:
        w = np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise ValueError(f"--weights {text!r}: expected comma-separated numbers") from None
    if len(w) != n:
        raise ValueError(f"--weights {text!r} has {len(w)} values for {n} prediction files")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"--weights {text!r}: weights must be >= 0 with a positive sum")
    return w / w.sum()


def member_scores(preds: Sequence[dict[str, Any]], aggregate: str | None = None
                  ) -> tuple[list[np.ndarray], str]:
    """Each file's per-video scores [N, K] and what they are ('logits' or 'probs'): its
    `aggregate` array, or by default (None) the scores `vivit-eval` reported for it."""
    if aggregate is not None:
        if aggregate not in metrics_lib.AGGREGATES:
            raise ValueError(f"--aggregate {aggregate!r}: expected one of "
                             f"{metrics_lib.AGGREGATES}")
        return [np.asarray(p[aggregate], np.float64) for p in preds], aggregate
    own = [str(p.get("aggregate", "logits")) for p in preds]
    scores = [np.asarray(p.get("scores", p[a]), np.float64) for p, a in zip(preds, own)]
    if len(set(own)) == 1:
        return scores, own[0]
    # Members of both kinds: each as probabilities (ranked as its own scores rank).
    multi, sets = bool(preds[0]["multi_label"]), preds[0].get("sets", ())
    return [predictions.probabilities(x, a, multi, sets) for x, a in zip(scores, own)], "probs"


def run(paths: Sequence[str], *, weights: str | None = None, aggregate: str | None = None,
        out: str | None = None) -> dict[str, Any]:
    """Loads, checks and averages the files; writes the report into `out` if given."""
    from vivit_jax import outputs

    if not paths:
        raise ValueError("no prediction file given")
    if out:  # Checked before any file is read, and nothing created if a file is refused.
        outputs.creatable_dir(fileio.native(out))
    preds = align([predictions.read(p) for p in paths], [str(p) for p in paths])
    w = parse_weights(weights, len(preds))
    members, aggregate = member_scores(preds, aggregate)
    scores = sum(x * wi for wi, x in zip(w, members))
    ref = preds[0]
    multi, sets = ref["multi_label"], ref.get("sets", ())

    def scored(x: np.ndarray) -> dict[str, Any]:
        return predictions.compute(x, ref["labels"], multi, sets, aggregate)

    summary = {"files": [str(p) for p in paths], "weights": w.tolist(), "aggregate": aggregate,
               "counts": {"videos": int(len(ref["video_index"]))},
               "members": {str(p): scored(x) for p, x in zip(paths, members)},
               "metrics": scored(scores)}
    if out:
        outdir = fileio.native(out)  # Local or `gs://…`.
        summary = predictions.write_report(outdir, scores, ref["labels"], ref["label_names"],
                                           multi, summary, "ensemble", sets)
        probs = predictions.probabilities(scores, aggregate, multi, sets)
        predictions.write(
            fileio.join(outdir, "predictions.npz"), video_index=ref["video_index"],
            labels=ref["labels"],
            logits=scores if aggregate == "logits" else np.log(np.maximum(scores, 1e-12)),
            probs=probs, aggregate=aggregate, names=ref["label_names"],
            num_views=int(ref.get("num_views", 0)), multi_label=multi,
            video_ids=ref["video_id"], sets=sets)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-ensemble`."""
    p = argparse.ArgumentParser(prog="vivit-ensemble",
                                description="Average saved predictions of several models.")
    p.add_argument("files", nargs="+", help="predictions.npz files written by vivit-eval")
    p.add_argument("--weights", help="comma-separated weights (default: equal)")
    p.add_argument("--aggregate", help="re-score every member from its mean logits or mean "
                   "view probabilities (default: each member as vivit-eval scored it)")
    p.add_argument("--out", help="directory for summary.json, per_class.csv, predictions.npz")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        s = run(args.files, weights=args.weights, aggregate=args.aggregate, out=args.out)
    except (ValueError, OSError) as e:  # OSError: an --out that cannot be written too.
        print(f"vivit-ensemble: error: {e}", file=sys.stderr, flush=True)
        return 1
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    for path, m in s["members"].items():
        print(f"  {path}: top1 {m['top1']:.4f}  top5 {m['top5']:.4f}")
        for line in predictions.label_set_lines(m, "    "):
            print(line)
    m = s["metrics"]
    print(f"ensemble ({s['aggregate']}, weights {[round(x, 3) for x in s['weights']]}): "
          f"top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  ({s['counts']['videos']} videos)")
    for line in predictions.label_set_lines(m):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
