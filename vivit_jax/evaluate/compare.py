"""`vivit-compare`: per-class accuracy gains of model B over model A (VidTr supplementary §3).

  vivit-compare A.npz B.npz --out DIR [--top 10]

Gain of a class = top-1 accuracy of B − top-1 accuracy of A on that class's videos (VidTr's
Table 4: "the disparity of the top-1 accuracy between VidTr and I3D"). Writes `gains.csv`
(every class, sorted by gain), `top_gained.csv` / `top_lost.csv` (the k largest gains and
losses) and `gains.png` (bar chart of both). The files must hold the same videos and labels.

Files with label sets (Epic-Kitchens' `noun:300,verb:97`) are compared set by set: each class
of each set (its top-1 within its set's slice), the CSVs with a `label_set` column, the k
largest gains and losses of every set; the summary holds each set's and the action's top-1.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

import numpy as np

from vivit_jax import fileio, label_sets
from vivit_jax.evaluate import ensemble, metrics, plots, predictions


def class_gains(a: dict[str, Any], b: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-class top-1 accuracy of A and B (from their `scores`), the gain B − A, counts."""
    acc_a, counts = metrics.per_class_accuracy(a["scores"], a["labels"])
    acc_b, _ = metrics.per_class_accuracy(b["scores"], b["labels"])
    return {"acc_a": acc_a, "acc_b": acc_b, "gain": acc_b - acc_a, "count": counts}


def top_classes(gain: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k most gained classes, largest first; k most lost, largest loss first), NaN skipped.

    Ties keep the lower class index first."""
    valid = np.flatnonzero(np.isfinite(gain))
    order = valid[np.argsort(-gain[valid], kind="stable")]
    gained = order[gain[order] > 0][:k]
    lost_order = valid[np.argsort(gain[valid], kind="stable")]
    lost = lost_order[gain[lost_order] < 0][:k]
    return gained, lost


def run_names(path_a: str, path_b: str) -> tuple[str, str]:
    """Short names that tell two prediction files apart: their paths from the last component
    that differs, without a shared `predictions.npz` (`runA/eval_test_4x3`, not
    `eval_test_4x3/predictions.npz` twice)."""
    a = [p for p in str(path_a).replace("\\", "/").split("/") if p]
    b = [p for p in str(path_b).replace("\\", "/").split("/") if p]
    if a and b and a[-1] == b[-1] == "predictions.npz":
        a, b = a[:-1], b[:-1]
    k = 1
    while k <= min(len(a), len(b)) and a[-k] == b[-k]:
        k += 1
    if k > min(len(a), len(b)):  # The same file (or one path a suffix of the other).
        return str(path_a), str(path_b)
    return "/".join(a[-k:]), "/".join(b[-k:])


def _sections(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, int, dict, dict]]:
    """`(label set, its first class in the head, A's part, B's part)`: one section of
    `{scores, labels}` per label set, or one unnamed section for an ordinary label."""
    sets = a.get("sets", ())
    if not sets:
        return [("", 0, a, b)]
    labels = np.asarray(a["labels"]).reshape(len(a["scores"]), len(sets))
    out = []
    for i, ((name, n), o) in enumerate(zip(sets, label_sets.offsets(sets))):
        a_part, b_part = ({"scores": np.asarray(p["scores"])[:, o:o + n], "labels": labels[:, i]}
                          for p in (a, b))
        out.append((name, o, a_part, b_part))
    return out


def _write(path: str, rows: list[list], with_set: bool) -> None:
    with fileio.open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["label_set"] if with_set else []) + [
            "class_index", "class_name", "num_videos", "top1_a", "top1_b", "gain"])
        w.writerows([r if with_set else r[1:] for r in rows])


def run(path_a: str, path_b: str, out: str, top: int = 10) -> dict[str, Any]:
    """Compares two prediction files; writes the CSVs and the PNG into `out`."""
    from vivit_jax import outputs

    outputs.creatable_dir(fileio.native(out))  # Before the files are read, creating nothing.
    a, b = ensemble.align([predictions.read(path_a), predictions.read(path_b)],
                          [str(path_a), str(path_b)])
    if a["multi_label"]:
        raise ValueError(f"{path_a} is multi-label: per-class top-1 gains need single labels")
    for p in (a, b):
        p.setdefault("scores", p["logits"])
    names, sets = a["label_names"], a.get("sets", ())
    csvs: dict[str, list] = {"gains": [], "top_gained": [], "top_lost": []}
    shown, per_set = [], {}
    for set_name, offset, pa, pb in _sections(a, b):
        g = class_gains(pa, pb)
        gained, lost = top_classes(g["gain"], top)

        def row(c, g=g, set_name=set_name, offset=offset):
            return [set_name, int(c), names[offset + c], int(g["count"][c]),
                    f"{g['acc_a'][c]:.6f}", f"{g['acc_b'][c]:.6f}", f"{g['gain'][c]:+.6f}"]

        valid = np.flatnonzero(np.isfinite(g["gain"]))
        csvs["gains"] += [row(c) for c in valid[np.argsort(-g["gain"][valid], kind="stable")]]
        csvs["top_gained"] += [row(c) for c in gained]
        csvs["top_lost"] += [row(c) for c in lost]
        label = (lambda c, s=set_name, o=offset: names[o + c] if not s
                 or names[o + c].startswith(f"{s}:") else f"{s}:{names[o + c]}")
        shown += [(label(c), g["gain"][c]) for c in list(gained) + list(lost[::-1])]
        per_set[set_name] = {"top1_a": metrics.topk_accuracy(pa["scores"], pa["labels"]),
                             "top1_b": metrics.topk_accuracy(pb["scores"], pb["labels"]),
                             "gained": [[label(c), float(g["gain"][c])] for c in gained],
                             "lost": [[label(c), float(g["gain"][c])] for c in lost]}
    outdir = fileio.native(out)  # Local or `gs://…`.
    fileio.makedirs(outdir)
    for name, rows in csvs.items():
        _write(fileio.join(outdir, f"{name}.csv"), rows, bool(sets))
    name_a, name_b = run_names(path_a, path_b)
    plots.gains_png([n for n, _ in shown], np.asarray([x for _, x in shown]),
                    fileio.join(outdir, "gains.png"),
                    f"per-class top-1 gain of B over A (top {top} each way"
                    f"{' per label set' if sets else ''})\nA: {name_a}\nB: {name_b}")
    summary = {"a": str(path_a), "b": str(path_b), "name_a": name_a, "name_b": name_b}
    if sets:
        m_a, m_b = (predictions.compute(p["scores"], p["labels"], False, sets,
                                        str(p.get("aggregate", "logits"))) for p in (a, b))
        summary.update(
            top1_a=m_a["top1"], top1_b=m_b["top1"],
            gained=[x for s in per_set.values() for x in s["gained"]],
            lost=[x for s in per_set.values() for x in s["lost"]],
            label_sets=dict(per_set, **{label_sets.ACTION: {
                "top1_a": m_a["top1"], "top1_b": m_b["top1"],
                "top5_a": m_a["top5"], "top5_b": m_b["top5"]}}))
    else:
        summary.update({k: per_set[""][k] for k in ("top1_a", "top1_b", "gained", "lost")})
    fileio.write_text(fileio.join(outdir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-compare`."""
    p = argparse.ArgumentParser(prog="vivit-compare",
                                description="Per-class top-1 gains of model B over model A.")
    p.add_argument("a", help="predictions.npz of model A (baseline)")
    p.add_argument("b", help="predictions.npz of model B")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--top", type=int, default=10, help="classes listed per direction")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        s = run(args.a, args.b, args.out, args.top)
    except (ValueError, OSError) as e:  # OSError: an --out that cannot be written too.
        print(f"vivit-compare: error: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"top1 A ({s['name_a']}) {s['top1_a']:.4f}  B ({s['name_b']}) {s['top1_b']:.4f}"
          + ("  (action)" if "label_sets" in s else ""))
    for set_name, part in s.get("label_sets", {"": s}).items():
        if set_name:
            print(f"{set_name}: top1 A {part['top1_a']:.4f}  B {part['top1_b']:.4f}")
        for title, rows in (("gained", part.get("gained")), ("lost", part.get("lost"))):
            if rows is None:  # The action: pairs of classes, no per-class table.
                continue
            print(f"top {len(rows)} {title}:" if rows else f"no class {title}")
            for name, gain in rows:
                print(f"  {name:30s} {gain * 100:+.1f}%")
    print(f"wrote {fileio.join(fileio.native(args.out), 'gains.png')} and the CSVs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
