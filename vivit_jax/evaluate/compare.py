"""`vivit-compare`: per-class accuracy gains of model B over model A (VidTr supplementary §3).

  vivit-compare A.npz B.npz --out DIR [--top 10]

Gain of a class = top-1 accuracy of B − top-1 accuracy of A on that class's videos (VidTr's
Table 4: "the disparity of the top-1 accuracy between VidTr and I3D"). Writes `gains.csv`
(every class, sorted by gain), `top_gained.csv` / `top_lost.csv` (the k largest gains and
losses) and `gains.png` (bar chart of both). The files must hold the same videos and labels.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

import numpy as np

from vivit_jax import fileio
from vivit_jax.evaluate import ensemble, metrics, multiview, plots


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


def _write(path: str, rows, names, g) -> None:
    with fileio.open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class_index", "class_name", "num_videos", "top1_a", "top1_b", "gain"])
        for c in rows:
            w.writerow([int(c), names[c], int(g["count"][c]), f"{g['acc_a'][c]:.6f}",
                        f"{g['acc_b'][c]:.6f}", f"{g['gain'][c]:+.6f}"])


def run(path_a: str, path_b: str, out: str, top: int = 10) -> dict[str, Any]:
    """Compares two prediction files; writes the CSVs and the PNG into `out`."""
    from vivit_jax import outputs

    outputs.creatable_dir(fileio.native(out))  # Before the files are read, creating nothing.
    a, b = ensemble.align([multiview.read_predictions(path_a),
                           multiview.read_predictions(path_b)], [str(path_a), str(path_b)])
    if a["multi_label"]:
        raise ValueError(f"{path_a} is multi-label: per-class top-1 gains need single labels")
    for p in (a, b):
        p.setdefault("scores", p["logits"])
    g = class_gains(a, b)
    gained, lost = top_classes(g["gain"], top)
    names = a["label_names"]
    outdir = fileio.native(out)  # Local or `gs://…`.
    fileio.makedirs(outdir)
    valid = np.flatnonzero(np.isfinite(g["gain"]))
    _write(fileio.join(outdir, "gains.csv"), valid[np.argsort(-g["gain"][valid], kind="stable")],
           names, g)
    _write(fileio.join(outdir, "top_gained.csv"), gained, names, g)
    _write(fileio.join(outdir, "top_lost.csv"), lost, names, g)
    shown = list(gained) + list(lost[::-1])
    name_a, name_b = run_names(path_a, path_b)
    plots.gains_png([names[c] for c in shown], g["gain"][shown],
                    fileio.join(outdir, "gains.png"),
                    f"per-class top-1 gain of B over A (top {top} each way)\n"
                    f"A: {name_a}\nB: {name_b}")
    summary = {"a": str(path_a), "b": str(path_b), "name_a": name_a, "name_b": name_b,
               "top1_a": metrics.topk_accuracy(a["scores"], a["labels"]),
               "top1_b": metrics.topk_accuracy(b["scores"], b["labels"]),
               "gained": [[names[c], float(g["gain"][c])] for c in gained],
               "lost": [[names[c], float(g["gain"][c])] for c in lost]}
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
    print(f"top1 A ({s['name_a']}) {s['top1_a']:.4f}  B ({s['name_b']}) {s['top1_b']:.4f}")
    for title, rows in (("gained", s["gained"]), ("lost", s["lost"])):
        print(f"top {len(rows)} {title}:" if rows else f"no class {title}")
        for name, gain in rows:
            print(f"  {name:30s} {gain * 100:+.1f}%")
    print(f"wrote {fileio.join(fileio.native(args.out), 'gains.png')} and the CSVs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
