"""`vivit-eval`: multi-view evaluation of a checkpoint (T temporal clips × S spatial crops).

  vivit-eval --config FILE --workdir DIR [--checkpoint STEP|PATH] [--views 4x3]
             [--aggregate logits|probs] [--split test] [--json] [--config.FIELD=VALUE …]

Every video of the split is seen once with its T·S views together
(`pipeline.multiview_iterator`); the per-view logits are averaged per video (`logits`, as
Scenic does for ViViT) or their softmax probabilities are (`probs`, mmaction2 / VidTr). The
papers' protocols are the configs' `dataset.test_clips` × `dataset.test_crops` (ViViT 4×3,
TimeSformer 1×3, VidTr 10×3, STAT 5×1). Writes `WORKDIR/eval_<split>_<T>x<S>/`:
`summary.json`, `per_class.csv`, `predictions.npz` (what `vivit-ensemble`/`vivit-compare`
read) and `confusion.png`.

Many hosts: each reads its slice of the split; the jitted forward returns the global batch's
logits, labels and `video_index` replicated, so every host assembles the same per-video
table and each video is counted exactly once (padding has index -1; duplicates or gaps are
an error, never silently averaged in).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import sys
import time
from typing import Any

import numpy as np

from vivit_jax import fileio, label_sets
from vivit_jax.evaluate import metrics as metrics_lib
from vivit_jax.evaluate import predictions


def assemble(batches: list[dict[str, np.ndarray]], num_videos: int | None = None):
    """Per-batch `{logits [B, V, K], label, video_index}` → arrays sorted by video index.

    Padding rows (index -1) are dropped; a video seen twice or missing raises ValueError.
    """
    index = np.concatenate([b["video_index"] for b in batches])
    keep = index >= 0
    index = index[keep]
    logits = np.concatenate([b["logits"] for b in batches])[keep]
    labels = np.concatenate([b["label"] for b in batches])[keep]
    uniq, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"video_index {int(uniq[counts > 1][0])} was evaluated "
                         f"{int(counts[counts > 1][0])} times")
    n = len(index) if num_videos is None else num_videos
    if len(uniq) != n or (n and (uniq[0] != 0 or uniq[-1] != n - 1)):
        missing = sorted(set(range(n)) - set(uniq.tolist()))
        raise ValueError(f"evaluated {len(uniq)} videos, expected {n}; first missing index "
                         f"{missing[0] if missing else '?'}")
    order = np.argsort(index)
    return index[order], logits[order], labels[order]


def _make_forward(graphdef, cfg, param_sh, batch_sh, repl):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from vivit_jax import state as state_lib

    dtype = state_lib.DTYPES[cfg.dtype]

    def forward(params, video, label, index):
        model = nnx.merge(graphdef, params)
        b, v = video.shape[:2]
        x = state_lib.model_input(video.reshape((b * v,) + video.shape[2:]), cfg)
        logits, _ = model(x.astype(dtype), train=False)
        return logits.astype(jnp.float32).reshape(b, v, -1), label, index

    return jax.jit(forward, in_shardings=(param_sh, batch_sh, batch_sh, batch_sh),
                   out_shardings=(repl, repl, repl))


def _host(x) -> np.ndarray:
    """A replicated global array as numpy on this host (one local copy; works multi-host)."""
    if x.is_fully_addressable:
        return np.asarray(x)
    return np.asarray(x.addressable_data(0))


def evaluate(cfg, step_dir: pathlib.Path, *, split: str, num_clips: int, num_crops: int,
             batch_size: int | None = None, log=print) -> dict[str, Any]:
    """Runs the split; returns `{video_index, view_logits [N, V, K], labels}` on every host."""
    import jax

    from vivit_jax import sharding
    from vivit_jax import state as state_lib
    from vivit_jax.data import pipeline
    from vivit_jax.evaluate import restore

    graphdef, params, setup, mesh = restore.load_model(cfg, step_dir)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    views = num_clips * num_crops
    if batch_size is None:  # About `eval_batch_size` clips per forward, whole videos per batch.
        batch_size = max(1, cfg.eval_batch_size // views)
    batch_size = -(-batch_size // shards) * shards
    forward = _make_forward(graphdef, cfg, setup.param_sh, batch_sh, repl)
    total = pipeline.num_examples(cfg.dataset, split)
    it = pipeline.multiview_iterator(cfg.dataset, split, num_clips=num_clips,
                                     num_crops=num_crops, global_batch_size=batch_size,
                                     process_index=jax.process_index(),
                                     process_count=jax.process_count(), include_ids=True)
    out, local_ids, seen, t0 = [], [], 0, time.perf_counter()
    for i, batch in enumerate(it):
        local_ids.append((batch["video_index"], batch.pop("video_id"), batch.pop("video_span")))
        g = state_lib.to_global(batch, batch_sh)
        logits, label, index = (_host(x) for x in forward(params, g["video"], g["label"],
                                                          g["video_index"]))
        out.append({"logits": logits, "label": label, "video_index": index})
        seen += int((index >= 0).sum())
        elapsed = time.perf_counter() - t0
        eta = elapsed / max(seen, 1) * max(total - seen, 0)
        if log and (i % 10 == 0 or seen >= total):
            log(f"[{split} {num_clips}x{num_crops}] {seen}/{total} videos, {elapsed:.0f} s, "
                f"ETA {eta:.0f} s")
    index, view_logits, labels = assemble(out, total)
    return {"video_index": index, "view_logits": view_logits, "labels": labels,
            "video_id": video_ids(local_ids, len(index)),
            "seconds": time.perf_counter() - t0, "batch_size": batch_size}


def video_ids(local: list, num_videos: int) -> list[str]:
    """The shards' video ids (`video/filename`) by video index, from every process's
    `(video_index, video_id, video_span)` batches. A file cut into several clips (DMVR CSV
    rows with start/end) repeats its name: such ids get the clip as a media fragment,
    `a.mp4#t=0.4,1.0` (seconds), so that every id names one video."""
    import jax

    index = np.concatenate([i for i, _, _ in local]) if local else np.zeros(0, np.int32)
    keep = index >= 0
    names = np.concatenate([n for _, n, _ in local])[keep] if local else np.zeros(0, object)
    spans = np.concatenate([s for _, _, s in local])[keep] if local else np.zeros((0, 2))
    index = index[keep]
    if jax.process_count() > 1:
        from vivit_jax import cluster

        index, spans = cluster.allgather_rows(index), cluster.allgather_rows(
            np.asarray(spans, np.int64))
        names = cluster.allgather_bytes(names)
    ids = [""] * num_videos
    span_of = [(0, -1)] * num_videos
    for i, n, sp in zip(index, names, spans):
        ids[int(i)] = n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
        span_of[int(i)] = (int(sp[0]), int(sp[1]))
    counts: dict[str, int] = {}
    for v in ids:
        counts[v] = counts.get(v, 0) + 1
    out = []
    for v, (start, end) in zip(ids, span_of):
        if counts[v] > 1:
            v = f"{v}#t={start / 1e6:g},{end / 1e6:g}" if end >= 0 else f"{v}#t={start / 1e6:g}"
        out.append(v)
    seen: dict[str, int] = {}
    for k, v in enumerate(out):  # Identical clips listed twice: numbered, never merged.
        seen[v] = seen.get(v, 0) + 1
        if seen[v] > 1:
            out[k] = f"{v}#{seen[v]}"
    return out


def run(cfg, *, workdir: str, checkpoint: str | None, split: str, num_clips: int,
        num_crops: int, aggregate: str, batch_size: int | None = None,
        out: str | None = None, log=print) -> dict[str, Any]:
    """Evaluates, writes the outputs (process 0) and returns the summary."""
    import jax

    from vivit_jax import checkpoint as ckpt_lib
    from vivit_jax.evaluate import restore

    if aggregate not in metrics_lib.AGGREGATES:
        raise ValueError(f"--aggregate {aggregate!r}: expected one of {metrics_lib.AGGREGATES}")
    found = ckpt_lib.resolve(checkpoint, workdir)
    step_dir, step = found.step_dir, found.step
    multi = bool(cfg.dataset.multi_label)
    sets = label_sets.of(cfg.dataset)
    # A checkpoint that carries its classes (a converted release) is scored in the data's
    # class order: its logits are permuted when the two label maps order the same names
    # differently, and refused (before any work) when the names differ.
    names = restore.label_names(cfg, workdir)
    order = restore.align_classes(
        restore.checkpoint_label_names(workdir, int(cfg.dataset.num_classes)),
        restore.dataset_label_names(cfg), str(workdir))
    # The non-default aggregate gets its own directory: it never replaces the logits run's.
    suffix = "" if aggregate == "logits" else f"_{aggregate}"
    # A local directory as a pathlib.Path, a remote one as its URL.
    default_out = fileio.join(workdir, f"eval_{split}_{num_clips}x{num_crops}{suffix}")
    outdir = fileio.native(out or default_out)
    created = not fileio.exists(outdir)
    if jax.process_index() == 0:  # Checked before the evaluation, not after it.
        from vivit_jax import outputs
        outputs.writable_dir(outdir)
    try:
        res = evaluate(cfg, step_dir, split=split, num_clips=num_clips, num_crops=num_crops,
                       batch_size=batch_size, log=log)
    except BaseException:
        if created and jax.process_index() == 0:
            try:
                os.rmdir(outdir)  # Made by the check above and still empty: leave nothing.
            except OSError:
                pass
        raise
    if order is not None:
        log("the checkpoint's classes are reordered to the data's label map")
        res["view_logits"] = res["view_logits"][..., order]
        names = restore.dataset_label_names(cfg)
    pred = predictions.per_video(res["view_logits"], aggregate, multi, sets)
    n, v = res["view_logits"].shape[:2]
    summary = {"split": split, "checkpoint": str(step_dir), "checkpoint_step": step,
               "views": f"{num_clips}x{num_crops}", "num_clips": num_clips,
               "num_crops": num_crops, "aggregate": aggregate,
               "counts": {"videos": int(n), "views_per_video": int(v), "views": int(n * v)},
               "model": {"family": cfg.model.family, "variant": cfg.model.get("variant", "")},
               "seconds": round(res["seconds"], 2), "batch_size_videos": res["batch_size"],
               "processes": jax.process_count(), "devices": jax.device_count()}
    summary = dict(summary, metrics=predictions.compute(pred["scores"], res["labels"], multi,
                                                        sets, aggregate),
                   single_view=predictions.single_view_metrics(res["view_logits"],
                                                               res["labels"], multi, sets))
    if jax.process_index() == 0:
        summary = predictions.write_report(
            outdir, pred["scores"], res["labels"], names, multi, summary,
            f"{cfg.model.family} {split} {num_clips}x{num_crops}", sets)
        predictions.write(fileio.join(outdir, "predictions.npz"), video_index=res["video_index"],
                          labels=res["labels"], logits=pred["logits"], probs=pred["probs"],
                          aggregate=aggregate, names=names, num_views=v, multi_label=multi,
                          video_ids=res["video_id"], sets=sets)
    summary["outdir"] = str(outdir)
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vivit-eval", description="Multi-view evaluation of a checkpoint.",
        epilog="Override config fields with --config.FIELD=VALUE.")
    p.add_argument("--config", help="config file[:ARG] (default: WORKDIR/config.json)")
    p.add_argument("--workdir", required=True, help="training workdir (checkpoints/)")
    p.add_argument("--checkpoint", help="step number or checkpoint path (default: latest)")
    p.add_argument("--views", help="CLIPSxCROPS, e.g. 4x3 (default: dataset.test_clips x "
                                   "dataset.test_crops)")
    p.add_argument("--aggregate", help="logits (Scenic) or probs (TimeSformer, VidTr, "
                   "mmaction2); default: the config's dataset.test_aggregate")
    p.add_argument("--split", help="split to evaluate (default: dataset.test_split)")
    p.add_argument("--batch_size", type=int, help="videos per global batch")
    p.add_argument("--out", help="output directory (default: WORKDIR/eval_<split>_<T>x<S>, "
                                 "+ '_probs' with --aggregate probs)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-eval`; user errors print one line and return non-zero."""
    from vivit_jax.cli import exit_code, load_config, parse_views, split_args

    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        views = parse_views(args.views) if args.views else None
        cfg = load_config(args.config, args.workdir, overrides)
        clips, crops = views or parse_views(f"{cfg.dataset.test_clips}x{cfg.dataset.test_crops}")
        log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
        # With --json stdout carries the JSON alone: anything else printed on the way (e.g.
        # synthetic_motion's first-use generation) goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            summary = run(cfg, workdir=args.workdir, checkpoint=args.checkpoint,
                          split=args.split or cfg.dataset.test_split, num_clips=clips,
                          num_crops=crops,
                          aggregate=args.aggregate or cfg.dataset.test_aggregate,
                          batch_size=args.batch_size, out=args.out, log=log)
    except (ValueError, OSError) as e:
        hint = (" (the config's test split is the default; --split picks another)"
                if isinstance(e, FileNotFoundError) and not args.split
                and "split '" in str(e) else "")  # A missing split, not a checkpoint.
        if type(e) is OSError and e.filename and e.strerror:  # Disk full while writing…
            e = f"{e.filename}: {e.strerror}"
        print(f"vivit-eval: error: {e}{hint}", file=sys.stderr, flush=True)
        return exit_code(e)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        m, sv = summary["metrics"], summary["single_view"]
        extra = (f"mAP {m['mAP']:.4f}" if "mAP" in m
                 else "(action)" if "label_sets" in m
                 else f"mean class acc {m['mean_class_accuracy']:.4f}")
        print(f"{summary['split']} {summary['views']} ({summary['aggregate']}), step "
              f"{summary['checkpoint_step']}: video-level top1 {m['top1']:.4f}  top5 "
              f"{m['top5']:.4f}  {extra}  ({summary['counts']['videos']} videos × "
              f"{summary['counts']['views_per_video']} views) → {summary['outdir']}")
        for line in predictions.label_set_lines(m):
            print(line)
        print(f"  single view (clip-level, each view on its own): top1 {sv['top1']:.4f}  "
              f"top5 {sv['top5']:.4f}" + (f"  mAP {sv['mAP']:.4f}" if "mAP" in sv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
