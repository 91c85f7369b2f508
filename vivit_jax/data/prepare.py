"""`vivit-prepare`: video files + an annotation file → DMVR-schema TFRecord shards.

  vivit-prepare --annotations kinetics400/train.csv --video_dir k400/train \\
      --output_dir data/k400 --split train [--fps 10 --min_resize 256 --workers 16]

Decodes each video with PyAV: trim to [start, end) (DMVR CSV), resample to `--fps` (DMVR's
default 10; 0 keeps every frame) by taking, for each output time start + k/fps, the last
frame shown at that time; short side resized to `--min_resize` (DMVR's 256; 0 keeps the
size); frames JPEG-encoded at `--jpeg_quality`. Annotation formats: see `annotations.py`.

Outputs in --output_dir: shards `{split}-XXXXX-of-NNNNN` (videos shuffled by
`--shuffle_seed`, then cut into contiguous blocks, one per shard), `label_map.json` (ONE
sorted map for all splits: created by the first run, reused by every later split — a
label missing from it is an error, or skipped with --on_unknown_label=skip),
`{split}.report.json` (counts and every skipped row with its reason) and
`num_examples.json`.

Robustness: a video that cannot be opened or decoded (or a missing file) is skipped and
listed in the report, the run still succeeds (--on_bad_video=error stops instead). Each
shard is written under a temporary name and renamed when complete; a rerun with the same
arguments keeps finished shards and continues (`.{split}.prepare.json` records progress).
An existing split is never overwritten without --overwrite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import pathlib
import random
import sys
import time
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from vivit_jax.data import annotations, dmvr_format

_EPS = 1e-6


def decode_video(
    path: str, start: float = 0.0, end: float | None = None, fps: float = 10.0,
    min_resize: int = 256,
) -> tuple[list[np.ndarray], float, float]:
    """(frames uint8 [H, W, 3], clip start s, clip end s) of `path` trimmed and resampled."""
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        size = None
        out: list[np.ndarray] = []
        prev, prev_t, k, i = None, None, 0, 0

        def rgb(frame) -> np.ndarray:
            nonlocal size
            if size is None:
                w, h = frame.width, frame.height
                s = min_resize / min(w, h) if min_resize else 1.0
                size = (max(1, round(w * s)), max(1, round(h * s)))
            return frame.to_ndarray(format="rgb24", width=size[0], height=size[1])

        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else i / rate
            i += 1
            if end is not None and t >= end - _EPS:
                break
            if fps:
                # Targets before this frame's time are shown by the previous frame.
                while prev is not None and start + k / fps + _EPS < t:
                    out.append(rgb(prev))
                    k += 1
            elif t >= start - _EPS:
                out.append(rgb(frame))
            prev, prev_t = frame, t
        if prev is None:
            raise ValueError("no frames decoded")
        video_end = prev_t + 1.0 / rate
        clip_end = video_end if end is None else min(end, video_end)
        while fps and start + k / fps < clip_end - _EPS:
            out.append(rgb(prev))
            k += 1
    if not out:
        raise ValueError(f"no frames in [{start}, {clip_end})")
    return out, start, clip_end


def _convert(task):
    """Worker: (shard, row, label indices, options) → (shard, row, record | None, reason)."""
    shard, row, label_index, opts = task
    try:
        if not os.path.isfile(row.path):
            raise FileNotFoundError("file not found")
        if os.path.getsize(row.path) == 0:
            raise ValueError("empty file (0 bytes)")
        frames, start, end = decode_video(row.path, row.start, row.end, opts["fps"],
                                          opts["min_resize"])
        jpegs = [dmvr_format.encode_jpeg(f, opts["jpeg_quality"]) for f in frames]
        rec = dmvr_format.make_sequence_example(
            jpegs, label_index=label_index, label_text=list(row.labels),
            video_id=row.video_id or row.path, start_us=round(start * 1e6),
            end_us=round(end * 1e6), caption=[row.caption] if row.caption else [],
        )
        return shard, row, rec, ""
    except Exception as e:  # noqa: BLE001 — any decoder failure: skip and report the video.
        return shard, row, None, f"{type(e).__name__}: {e}".strip()


def _default_split(path: pathlib.Path) -> str:
    stem = path.stem
    for s in ("train", "validation", "val", "test"):
        if stem.endswith(f"-{s}") or stem.endswith(f"_{s}"):
            return s
    return stem


def _write_json(path: pathlib.Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _label_map(args, out_dir: pathlib.Path, rows) -> list[str]:
    if (out_dir / dmvr_format.LABEL_MAP_FILE).exists():
        return dmvr_format.read_label_map(out_dir)  # Shared by all splits: never rebuilt.
    if args.labels_file:
        p = pathlib.Path(args.labels_file)
        names = (annotations.ssv2_label_names(p) if p.suffix == ".json"
                 else [x.strip() for x in p.read_text().splitlines() if x.strip()])
    else:
        names = [lab for r in rows for lab in r.labels]
    labels = sorted(set(names))
    dmvr_format.write_label_map(out_dir, labels)
    return labels


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line flags of `vivit-prepare`."""
    p = argparse.ArgumentParser(prog="vivit-prepare", description=__doc__.split("\n")[0])
    p.add_argument("--annotations", required=True, help="CSV or SSv2 JSON (annotations.py)")
    p.add_argument("--video_dir", default="", help="root of the video paths (default: "
                   "the annotation file's directory)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--split", default="", help="shard name prefix (default from the file)")
    p.add_argument("--format", default="auto", choices=annotations.FORMATS)
    p.add_argument("--num_shards", type=int, default=0, help="0: sqrt(#videos), as DMVR")
    p.add_argument("--fps", type=float, default=10.0, help="0 keeps every frame")
    p.add_argument("--min_resize", type=int, default=256, help="short side; 0 keeps size")
    p.add_argument("--jpeg_quality", type=int, default=90)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--shuffle_seed", type=int, default=0, help="-1 keeps the file order")
    p.add_argument("--labels_file", default="", help="class list for a new label map "
                   "(SSv2 labels JSON or one name per line; default: this file's labels)")
    p.add_argument("--on_unknown_label", default="error", choices=("error", "skip"))
    p.add_argument("--on_bad_video", default="skip", choices=("skip", "error"))
    p.add_argument("--overwrite", action="store_true", help="rewrite an existing split")
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict:
    """Runs the conversion; returns the report (also written to `{split}.report.json`).

    Raises on what the user must fix (a bad annotation file, an unknown label, an existing
    split); `main` is the command line around it.
    """
    args = parse_args(argv)
    t0 = time.time()
    ann = pathlib.Path(args.annotations)
    out_dir = pathlib.Path(args.output_dir)
    split = args.split or _default_split(ann)
    rows = annotations.read_annotations(ann, args.video_dir or ann.parent, args.format)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = _label_map(args, out_dir, rows)
    index = {name: i for i, name in enumerate(labels)}

    skipped: list[dict] = []
    usable = []
    for r in rows:
        unknown = [lab for lab in r.labels if lab not in index]
        if unknown:
            msg = (f"{ann}:{r.line}: label {unknown[0]!r} is not in the label map "
                   f"{out_dir / dmvr_format.LABEL_MAP_FILE} ({len(labels)} labels)")
            if args.on_unknown_label == "error":
                raise ValueError(f"{msg}; pass --on_unknown_label=skip to skip such rows")
            skipped.append(dict(line=r.line, path=r.path, reason=f"unknown label {unknown[0]!r}"))
            continue
        if args.on_bad_video == "error" and not os.path.isfile(r.path):
            raise FileNotFoundError(f"{ann}:{r.line}: video {r.path} does not exist "
                                    "(--on_bad_video=skip skips and reports such rows)")
        usable.append(r)
    if args.shuffle_seed >= 0:
        random.Random(args.shuffle_seed).shuffle(usable)
    n_shards = args.num_shards or max(1, int(math.sqrt(len(usable))))
    bounds = [len(usable) * i // n_shards for i in range(n_shards + 1)]

    opts = dict(fps=args.fps, min_resize=args.min_resize, jpeg_quality=args.jpeg_quality)
    fingerprint = hashlib.sha1(json.dumps(dict(
        opts, annotations=str(ann.resolve()), rows=[r.path for r in usable], shards=n_shards,
        labels=labels), sort_keys=True).encode()).hexdigest()
    progress_path = out_dir / f".{split}.prepare.json"
    report_path = out_dir / f"{split}.report.json"
    existing = [p for p in out_dir.glob(f"{split}-*-of-*") if not p.name.startswith(".")]
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else None
    if args.overwrite:
        for p in existing + [progress_path, report_path]:
            p.unlink(missing_ok=True)
        progress = None
    elif progress is not None and progress.get("fingerprint") != fingerprint:
        raise FileExistsError(f"{out_dir} holds an unfinished {split!r} run with different "
                              "inputs or options; pass --overwrite to start again")
    elif progress is None and (existing or report_path.exists()):
        raise FileExistsError(f"split {split!r} already exists in {out_dir} "
                              f"({len(existing)} shards); pass --overwrite to rewrite it")
    if progress is None:
        progress = dict(fingerprint=fingerprint, done={})
        _write_json(progress_path, progress)
    done = {int(k): v for k, v in progress["done"].items()
            if (out_dir / dmvr_format.shard_name(split, int(k), n_shards)).exists()}

    pending = [s for s in range(n_shards) if s not in done]
    tasks = [(s, r, [index[lab] for lab in r.labels], opts)
             for s in pending for r in usable[bounds[s]:bounds[s + 1]]]
    remaining = {s: bounds[s + 1] - bounds[s] for s in pending}
    writers, shard_info = {}, {s: dict(written=0, skipped=[]) for s in pending}
    print(f"vivit-prepare: {len(usable)} videos → {n_shards} '{split}' shards in {out_dir} "
          f"({len(done)} already done)", flush=True)

    def finish(s: int) -> None:
        if s in writers:
            writers.pop(s).close()
        final = out_dir / dmvr_format.shard_name(split, s, n_shards)
        tmp = final.with_name(f".{final.name}.tmp")
        if not tmp.exists():  # Empty shard (every video skipped): still a valid file.
            import tensorflow as tf

            tf.io.TFRecordWriter(str(tmp)).close()
        os.replace(tmp, final)
        done[s] = shard_info.pop(s)
        progress["done"] = {str(k): v for k, v in done.items()}
        _write_json(progress_path, progress)

    for s in [s for s, n in remaining.items() if n == 0]:
        finish(s)
    # fork is cheapest (no re-import of TF per worker) but unsafe once JAX runs threads in
    # this process (e.g. called from a trainer or a test session): then use a forkserver.
    method = "forkserver" if "jax" in sys.modules else "fork"
    ctx = mp.get_context(method) if args.workers > 1 else None
    pool = ctx.Pool(args.workers) if ctx else None
    try:
        results = pool.imap(_convert, tasks, chunksize=1) if pool else map(_convert, tasks)
        for s, row, rec, reason in tqdm(results, total=len(tasks), unit="video",
                                        desc=f"{split}", dynamic_ncols=True):
            if rec is None:
                if args.on_bad_video == "error":
                    raise ValueError(f"{ann}:{row.line}: cannot decode {row.path}: {reason}")
                shard_info[s]["skipped"].append(dict(line=row.line, path=row.path,
                                                     reason=reason))
            else:
                if s not in writers:
                    import tensorflow as tf

                    final = out_dir / dmvr_format.shard_name(split, s, n_shards)
                    writers[s] = tf.io.TFRecordWriter(str(final.with_name(f".{final.name}.tmp")))
                writers[s].write(rec)
                shard_info[s]["written"] += 1
            remaining[s] -= 1
            if remaining[s] == 0:
                finish(s)
    finally:
        if pool:
            pool.terminate()
        for w in writers.values():
            w.close()

    paths = [out_dir / dmvr_format.shard_name(split, s, n_shards) for s in range(n_shards)]
    dmvr_format._update_counts(out_dir, split, paths, [done[s]["written"] for s in range(n_shards)])
    skipped += [x for s in range(n_shards) for x in done[s]["skipped"]]
    report = dict(
        split=split, annotations=str(ann), num_rows=len(rows), num_shards=n_shards,
        written=sum(done[s]["written"] for s in range(n_shards)),
        skipped_count=len(skipped), skipped=sorted(skipped, key=lambda x: x["line"]),
        label_map=str(out_dir / dmvr_format.LABEL_MAP_FILE), num_labels=len(labels),
        options=opts, seconds=round(time.time() - t0, 2),
    )
    _write_json(report_path, report)
    progress_path.unlink(missing_ok=True)
    print(f"vivit-prepare: wrote {report['written']} videos, skipped {len(skipped)} "
          f"(see {report_path})", flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point for `vivit-prepare`: 0 on success (skipped videos
    included: they are in the report), 1 with one line naming the culprit otherwise."""
    try:
        run(argv)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            PermissionError) as e:
        print(f"vivit-prepare: error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
