"""`vivit-prepare` throughput on real h264 clips with 1 and N workers, and every CLI's
`--help` time; runs interleaved (A/B) so that a busy machine slows every variant alike.

  python benchmarks/prepare_throughput.py --clips 32 --seconds 3 --workers 1,2 --rounds 3
  python benchmarks/prepare_throughput.py --help-times --rounds 3

The clips (a textured square moving over a gradient with noise, 25 fps, h264, written
with PyAV) go into `--scratch`; `vivit-prepare` runs as a user types it (the console
script, default options: 10 fps, short side 256, JPEG 90). Figures: wall seconds and clips
per second, median over the rounds (BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common

CLIS = ("vivit-train", "vivit-profile", "vivit-prepare", "vivit-eval", "vivit-ensemble",
        "vivit-compare", "vivit-predict", "vivit-rollout", "vivit-convert")


def make_clips(out: pathlib.Path, n: int, seconds: float, width: int, height: int) -> str:
    """`n` h264 clips and a `path,label` CSV of them (4 classes) in `out`; the CSV's path."""
    import av
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["path,label"]
    frames = round(25 * seconds)
    bg = (np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 3))).astype(np.uint8)
    for i in range(n):
        tex = rng.integers(0, 255, (48, 48, 3), np.uint8)
        path = out / f"clip{i:03d}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            for k in range(frames):
                f = bg.copy()
                y = (20 + 2 * k + 7 * i) % (height - 48)
                x = (3 * k + 11 * i) % (width - 48)
                f[y:y + 48, x:x + 48] = tex
                f = np.clip(f.astype(int) + rng.integers(-8, 8, f.shape), 0, 255)
                for p in s.encode(av.VideoFrame.from_ndarray(f.astype(np.uint8),
                                                             format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        rows.append(f"{path.name},class{i % 4}")
    (out / "train.csv").write_text("\n".join(rows) + "\n")
    return str(out / "train.csv")


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return time.perf_counter() - t0


def prepare_rows(args) -> list[dict]:
    scratch = pathlib.Path(args.scratch or tempfile.mkdtemp(prefix="vivit_prepare_bench_"))
    csv = make_clips(scratch / "clips", args.clips, args.seconds, args.width, args.height)
    workers = [int(w) for w in args.workers.split(",")]
    times: dict[int, list[float]] = {w: [] for w in workers}
    for r in range(args.rounds):
        for w in workers if r % 2 == 0 else workers[::-1]:  # Alternate the order.
            out = scratch / f"out_w{w}"
            shutil.rmtree(out, ignore_errors=True)
            exe = ([shutil.which("vivit-prepare")] if shutil.which("vivit-prepare")
                   else [sys.executable, "-m", "vivit_jax.data.prepare"])
            times[w].append(_timed([*exe, "--annotations", csv, "--output_dir", str(out),
                                    "--split", "train", "--workers", str(w)]))
            report = json.loads((out / "train.report.json").read_text())
            assert report["written"] == args.clips, report
    return [{"case": f"prepare --workers {w}", "clips": args.clips, "seconds_per_clip":
             args.seconds, "size": f"{args.width}x{args.height}",
             "wall_s": round(statistics.median(t), 3), "all_wall_s": [round(x, 3) for x in t],
             "clips_per_s": round(args.clips / statistics.median(t), 2)}
            for w, t in times.items()]


def help_rows(args) -> list[dict]:
    times: dict[str, list[float]] = {c: [] for c in CLIS}
    for r in range(args.rounds):
        for c in CLIS if r % 2 == 0 else CLIS[::-1]:
            exe = shutil.which(c) or c
            times[c].append(_timed([exe, "--help"]))
    return [{"case": f"{c} --help", "wall_s": round(statistics.median(t), 3),
             "all_wall_s": [round(x, 3) for x in t]} for c, t in times.items()]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=common.HelpFormatter)
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--seconds", type=float, default=3.0, help="length of each clip")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (median)")
    p.add_argument("--scratch", default="", help="directory for clips and shards "
                   "(default: a new temporary one)")
    p.add_argument("--help-times", action="store_true",
                   help="time every CLI's --help instead of vivit-prepare")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = help_rows(args) if args.help_times else prepare_rows(args)
    for r in rows:
        extra = f", {r['clips_per_s']} clips/s" if "clips_per_s" in r else ""
        print(f"{r['case']:28s} {r['wall_s']:.3f} s{extra}  (runs: {r['all_wall_s']})")
    common.print_json(rows, common.machine(__file__, argv))


if __name__ == "__main__":
    main()
