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
listed in the report, the run still succeeds (--on_bad_video=error stops instead) unless
no video at all was converted (a misspelt --video_dir): that run fails and removes what it
wrote (shards, report, a label map or output directory it created). Each
shard is written under a temporary name and renamed when complete; a rerun with the same
arguments keeps finished shards and continues (`.{split}.prepare.json` records progress).
A rerun of a finished split with the same inputs and options does nothing and exits 0
("already complete"); one with other inputs stops and asks for --overwrite, which rewrites.
Workers (`--workers`, default: the CPU count) are spawned processes that import only PyAV,
numpy and PIL (`video_decode.py`), so they start at once.
"""

from __future__ import annotations

import argparse
import fnmatch
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

from vivit_jax import fileio, label_sets
from vivit_jax.data import annotations, dmvr_files, label_maps
from vivit_jax.data.video_decode import convert as _convert
from vivit_jax.data.video_decode import decode_video  # noqa: F401 (vivit-predict's import)

# Imports light enough for `--help` and the worker processes: TensorFlow (writing the
# shards) is imported by `run` only, while the workers start (`video_decode` is all they
# import).


def _default_split(path: pathlib.Path, fmt: str) -> str:
    if annotations.is_epic_kitchens_test(path, fmt):  # EPIC_100_test_timestamps.csv
        return "test"
    return _split_from_name(path)


def _split_from_name(path: pathlib.Path) -> str:
    """The split an annotation file's name says (`…_validate.csv` → 'validation')."""
    stem = path.stem
    for s in ("train", "validation", "validate", "val", "test"):
        if stem == s or stem.endswith(f"-{s}") or stem.endswith(f"_{s}"):
            # Kinetics' `validate.csv` (K400-K700) is the split the trainer calls 'validation'.
            return "validation" if s == "validate" else s
    return stem


def _write_json(path: str, data) -> None:
    fileio.write_atomic(path, json.dumps(data, indent=1) + "\n")


def _label_map(args, out_dir: str, rows, sets) -> list[str]:
    """The split's label map: the one beside the shards (shared by all splits, never
    rebuilt), else a new one (`label_maps.new_map`)."""
    path = fileio.join(out_dir, dmvr_files.LABEL_MAP_FILE)
    if fileio.exists(path):
        labels = dmvr_files.read_label_map(out_dir)
    else:
        labels = label_maps.new_map(rows, args.labels_file, sets)
        dmvr_files.write_label_map(out_dir, labels)
    label_maps.check_map(labels, sets, path)
    return labels


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line flags of `vivit-prepare`."""
    p = argparse.ArgumentParser(prog="vivit-prepare", description=__doc__.split("\n")[0])
    p.add_argument("--annotations", required=True, help="CSV or SSv2 JSON (annotations.py)")
    p.add_argument("--video_dir", default="", help="root of the video paths (default: "
                   "the annotation file's directory)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--split", default="", help="shard name prefix (default from the file "
                   "name; an Epic-Kitchens test CSV: test)")
    p.add_argument("--format", default="auto", choices=annotations.FORMATS)
    p.add_argument("--num_shards", type=int, default=0, help="0: sqrt(#videos), as DMVR")
    p.add_argument("--fps", type=float, default=10.0, help="0 keeps every frame")
    p.add_argument("--min_resize", type=int, default=256, help="short side; 0 keeps size")
    p.add_argument("--jpeg_quality", type=int, default=90)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="decoding processes (default: the CPU count; 1 decodes in this one)")
    p.add_argument("--shuffle_seed", type=int, default=0, help="-1 keeps the file order")
    p.add_argument("--labels_file", default="", help="class list for a new label map "
                   "(SSv2 labels JSON or one name per line; default: this file's labels)")
    p.add_argument("--label_sets", default="", help="label sets of rows with several (Epic-"
                   "Kitchens), in the joint head's order (default: "
                   f"{annotations.EPIC_KITCHENS_100_SETS}, Scenic's)")
    p.add_argument("--on_unknown_label", default="error", choices=("error", "skip"))
    p.add_argument("--on_bad_video", default="skip", choices=("skip", "error"))
    p.add_argument("--overwrite", action="store_true", help="rewrite an existing split")
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict:
    """Runs the conversion; returns the report (also written to `{split}.report.json`).

    Raises on what the user must fix (a bad annotation file, an unknown label, a split made
    from other inputs, an unwritable output directory); `main` is the command line around it.
    """
    from vivit_jax import outputs

    args = parse_args(argv)
    t0 = time.time()
    ann = pathlib.Path(args.annotations)
    out_dir = str(fileio.native(args.output_dir))  # Local, or `gs://…` (fileio).
    rows = annotations.read_annotations(ann, args.video_dir or ann.parent, args.format)
    split = args.split or _default_split(ann, args.format)
    sets = label_sets.parse(args.label_sets or (annotations.EPIC_KITCHENS_100_SETS if
                                                label_maps.kind(rows) == "sets" else ""))
    new_dirs = _missing_dirs(out_dir)  # What a run that converts nothing removes again.
    had_label_map = fileio.exists(fileio.join(out_dir, dmvr_files.LABEL_MAP_FILE))
    outputs.writable_dir(out_dir)
    labels = _label_map(args, out_dir, rows, sets)
    codes, usable, skipped = _usable_rows(args, ann, out_dir, rows, labels, sets)
    if args.shuffle_seed >= 0:
        random.Random(args.shuffle_seed).shuffle(usable)
    n_shards = args.num_shards or max(1, int(math.sqrt(len(usable))))
    bounds = [len(usable) * i // n_shards for i in range(n_shards + 1)]

    opts = dict(fps=args.fps, min_resize=args.min_resize, jpeg_quality=args.jpeg_quality)
    fingerprint = hashlib.sha1(json.dumps(dict(
        opts, annotations=str(ann.resolve()), rows=[r.path for r in usable], shards=n_shards,
        labels=labels), sort_keys=True).encode()).hexdigest()
    progress_path = fileio.join(out_dir, f".{split}.prepare.json")
    report_path = fileio.join(out_dir, f"{split}.report.json")
    existing = [fileio.join(out_dir, n) for n in fileio.listdir(out_dir)
                if fnmatch.fnmatchcase(n, f"{split}-*-of-*")]
    progress = (json.loads(fileio.read_text(progress_path)) if fileio.exists(progress_path)
                else None)
    if args.overwrite:
        for p in existing + [progress_path, report_path]:
            fileio.remove(p, missing_ok=True)
        progress = None
    elif progress is not None and progress.get("fingerprint") != fingerprint:
        raise FileExistsError(f"{out_dir} holds an unfinished {split!r} run with different "
                              "inputs or options; pass --overwrite to start again")
    elif progress is None and (existing or fileio.exists(report_path)):
        return _finished(out_dir, split, report_path, existing, fingerprint, n_shards)
    if progress is None:
        progress = dict(fingerprint=fingerprint, done={})
        _write_json(progress_path, progress)
    done = {int(k): v for k, v in progress["done"].items()
            if fileio.exists(fileio.join(out_dir, dmvr_files.shard_name(split, int(k), n_shards)))}
    # Spawned workers import only `video_decode` (PyAV, numpy, PIL): they start while this
    # process imports TensorFlow to write the shards.
    pool = mp.get_context("spawn").Pool(args.workers) if args.workers > 1 else None
    try:
        return _convert_all(args, ann, out_dir, split, rows, pool, t0, dict(
            labels=labels, codes=codes, usable=usable, skipped=skipped, n_shards=n_shards,
            bounds=bounds, opts=opts, fingerprint=fingerprint, progress=progress, done=done,
            progress_path=progress_path, report_path=report_path))
    except NothingConverted:  # Shards of nothing would make a rerun ask for --overwrite.
        _remove_outputs(out_dir, split, had_label_map, new_dirs)
        raise
    finally:
        if pool:
            pool.terminate()


def _usable_rows(args, ann, out_dir: str, rows, labels: list[str], sets
                 ) -> tuple[dict, list, list[dict]]:
    """(row line → (label indices, texts, per-set labels), the rows to convert, the rows
    skipped for an unknown label as report entries)."""
    index = {name: i for i, name in enumerate(labels)}
    skipped: list[dict] = []
    usable = []
    codes = {}
    for r in rows:
        try:
            codes[r.line] = label_maps.encode(r, labels, index, sets)
        except label_maps.UnknownLabel as e:
            unknown = e.args[0]
            msg = (f"{ann}:{r.line}: label {unknown!r} is not in the label map "
                   f"{fileio.join(out_dir, dmvr_files.LABEL_MAP_FILE)} ({len(labels)} labels)")
            if args.on_unknown_label == "error":
                raise ValueError(f"{msg}; pass --on_unknown_label=skip to skip such rows")
            skipped.append(dict(line=r.line, path=r.path, reason=f"unknown label {unknown!r}"))
            continue
        # Videos are decoded by PyAV from local files.
        if args.on_bad_video == "error" and not os.path.exists(r.path):
            raise FileNotFoundError(f"{ann}:{r.line}: video {r.path} does not exist "
                                    "(--on_bad_video=skip skips and reports such rows)")
        usable.append(r)
    return codes, usable, skipped


def _remove_outputs(out_dir: str, split: str, had_label_map: bool, new_dirs: list[str]) -> None:
    """Removes what a run that converted nothing wrote: the split's shards, progress and
    report, the label map and directories it created."""
    for name in fileio.listdir(out_dir):
        if fnmatch.fnmatchcase(name, f"{split}-*-of-*") or name in (
                f".{split}.prepare.json", f"{split}.report.json") or (
                not had_label_map and name == dmvr_files.LABEL_MAP_FILE):
            fileio.remove(fileio.join(out_dir, name), missing_ok=True)
    for d in new_dirs:
        try:
            os.rmdir(d)  # Created by this run, empty again (a bucket has no directories).
        except OSError:
            pass


def _convert_all(args, ann, out_dir, split, rows, pool, t0, plan) -> dict:
    """Decodes the videos of the shards not done yet (in `pool`) and writes the shards."""
    from tqdm import tqdm

    from vivit_jax.data import dmvr_format

    labels, codes, usable, skipped = plan["labels"], plan["codes"], plan["usable"], plan["skipped"]
    n_shards, bounds, opts, done = plan["n_shards"], plan["bounds"], plan["opts"], plan["done"]
    progress, progress_path = plan["progress"], plan["progress_path"]

    pending = [s for s in range(n_shards) if s not in done]
    tasks = [(s, r, codes[r.line][0], opts)
             for s in pending for r in usable[bounds[s]:bounds[s + 1]]]
    remaining = {s: bounds[s + 1] - bounds[s] for s in pending}
    writers, shard_info = {}, {s: dict(written=0, skipped=[]) for s in pending}
    print(f"vivit-prepare: {len(usable)} videos → {n_shards} '{split}' shards in {out_dir} "
          f"({len(done)} already done)", flush=True)

    def finish(s: int) -> None:
        if s in writers:
            writers.pop(s).close()
        final = fileio.join(out_dir, dmvr_format.shard_name(split, s, n_shards))
        tmp = fileio.join(out_dir, f".{dmvr_format.shard_name(split, s, n_shards)}.tmp")
        if not fileio.exists(tmp):  # Empty shard (every video skipped): still a valid file.
            fileio.record_writer(tmp).close()
        fileio.rename(tmp, final)
        done[s] = shard_info.pop(s)
        progress["done"] = {str(k): v for k, v in done.items()}
        _write_json(progress_path, progress)

    try:
        for s in [s for s, n in remaining.items() if n == 0]:
            finish(s)
        results = pool.imap(_convert, tasks, chunksize=1) if pool else map(_convert, tasks)
        for s, row, clip, reason in tqdm(results, total=len(tasks), unit="video",
                                         desc=f"{split}", dynamic_ncols=True):
            if clip is None:
                if args.on_bad_video == "error":
                    raise ValueError(f"{ann}:{row.line}: cannot decode {row.path}: {reason}")
                shard_info[s]["skipped"].append(dict(line=row.line, path=row.path,
                                                     reason=reason))
            else:
                if s not in writers:
                    name = dmvr_format.shard_name(split, s, n_shards)
                    writers[s] = fileio.record_writer(fileio.join(out_dir, f".{name}.tmp"))
                idx, texts, per_set = codes[row.line]
                writers[s].write(dmvr_format.make_sequence_example(
                    clip["jpegs"], label_index=idx, label_text=texts, label_sets=per_set,
                    video_id=row.video_id or row.path,
                    start_us=round(clip["start"] * 1e6), end_us=round(clip["end"] * 1e6),
                    caption=[row.caption] if row.caption else []))
                shard_info[s]["written"] += 1
            remaining[s] -= 1
            if remaining[s] == 0:
                finish(s)
    finally:  # A failed write (disk full, read-only…) is one OSError naming the shard.
        for w in writers.values():
            try:
                w.close()
            except OSError:
                pass  # Already reported; the temporary shard is rewritten by the next run.

    skipped += [x for s in range(n_shards) for x in done[s]["skipped"]]
    if not sum(done[s]["written"] for s in range(n_shards)):
        raise NothingConverted(_nothing_converted(ann, args.video_dir or ann.parent, rows,
                                                  skipped))
    paths = [fileio.join(out_dir, dmvr_format.shard_name(split, s, n_shards))
             for s in range(n_shards)]
    dmvr_format.save_counts(out_dir, split, paths, [done[s]["written"] for s in range(n_shards)])
    report = dict(
        split=split, annotations=str(ann), num_rows=len(rows), num_shards=n_shards,
        written=sum(done[s]["written"] for s in range(n_shards)),
        skipped_count=len(skipped), skipped=sorted(skipped, key=lambda x: x["line"]),
        label_map=fileio.join(out_dir, dmvr_format.LABEL_MAP_FILE), num_labels=len(labels),
        options=opts, seconds=round(time.time() - t0, 2), fingerprint=plan["fingerprint"],
    )
    _write_json(plan["report_path"], report)
    fileio.remove(progress_path, missing_ok=True)
    print(f"vivit-prepare: wrote {report['written']} videos, skipped {len(skipped)} "
          f"(see {plan['report_path']})", flush=True)
    return report


class NothingConverted(ValueError):
    """Every row was skipped: the run fails and leaves nothing behind."""


def _nothing_converted(ann, video_dir, rows, skipped: list[dict]) -> str:
    """The error of a run that converted no video: the reasons, counted, and the first row."""
    reasons: dict[str, int] = {}
    for x in skipped:
        reasons[x["reason"]] = reasons.get(x["reason"], 0) + 1
    counted = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda r: -r[1])[:3])
    first = min(skipped, key=lambda x: x["line"]) if skipped else None
    hint = (f" (is --video_dir {str(video_dir)!r} right?)"
            if reasons.get("FileNotFoundError: file not found") == len(skipped) else "")
    where = f"; first: {ann}:{first['line']}: {first['path']}" if first else ""
    return (f"no video of {ann} was converted ({len(rows)} rows: {counted or 'none'}){hint}"
            f"{where}; nothing was written")


def _missing_dirs(path: str) -> list[str]:
    """`path` and those of its parents that do not exist yet, deepest first (local paths)."""
    out = []
    while not fileio.is_remote(path) and path and not os.path.exists(path):
        out.append(path)
        parent = os.path.dirname(path.rstrip("/"))
        path = parent if parent != path else ""
    return out


def _finished(out_dir, split, report_path, existing, fingerprint, n_shards) -> dict:
    """A rerun of a finished split: its report if it was made from the same inputs and
    options (nothing to do), else FileExistsError asking for --overwrite."""

    try:
        report = json.loads(fileio.read_text(report_path))
    except (OSError, ValueError):
        report = {}
    names = {fileio.basename(p) for p in existing}
    missing = [dmvr_files.shard_name(split, s, n_shards) for s in range(n_shards)
               if dmvr_files.shard_name(split, s, n_shards) not in names]
    if report.get("fingerprint") != fingerprint:
        n = len(existing)
        raise FileExistsError(f"split {split!r} already exists in {out_dir} ({n} shard"
                              f"{'' if n == 1 else 's'}) from other inputs or options; pass "
                              "--overwrite to rewrite it")
    if missing:
        raise FileExistsError(f"split {split!r} in {out_dir} lacks {missing[0]} although its "
                              f"report says it is complete; pass --overwrite to rewrite it")
    print(f"vivit-prepare: split '{split}' is already complete in {out_dir} "
          f"({report.get('written')} videos in {n_shards} shards, {report_path}); nothing to do "
          f"(--overwrite rewrites it)", flush=True)
    return dict(report, already_complete=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point for `vivit-prepare`: 0 on success (skipped videos
    included: they are in the report), 1 with one line naming the culprit otherwise (a run
    that converted no video too)."""
    try:
        run(argv)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            PermissionError) as e:
        print(f"vivit-prepare: error: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:  # Disk full, read-only file system…: one line naming the file.
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"vivit-prepare: error: {where}{e.strerror or e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
