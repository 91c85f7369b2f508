"""Train tiny configs on synthetic_motion and print validation/test top-1, wall time, clips/s.

  python benchmarks/synthetic_accuracy.py configs/synthetic/vivit_tiny.py [more configs…]
      [--workdir-root /tmp/vivit_bench] [--config.FIELD=VALUE …]

Each config runs as its own `vivit-train` process (the README's command, from scratch in a
fresh workdir); the script prints a table and one JSON line per config with the machine and
date, for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402


def run(config: str, root: pathlib.Path, overrides: list[str]) -> dict:
    workdir = root / pathlib.Path(config.split(":")[0]).stem
    shutil.rmtree(workdir, ignore_errors=True)
    cmd = ["vivit-train", "--config", config, "--workdir", str(workdir), *overrides]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        return {"config": config, "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads((workdir / "results.json").read_text())
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["clips_per_s"] for r in rows if r["split"] == "train"][1:]  # Skip compile.
    return {
        "config": config, "overrides": overrides, "command": " ".join(cmd),
        "validation_top1": res.get("validation", {}).get("top1"),
        "test_top1": res.get("test", {}).get("top1"),
        "steps": res["step"], "wall_s": round(wall, 1), "train_s": res["train_seconds"],
        "train_clips_per_s": round(sum(rates) / max(len(rates), 1), 1),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--workdir-root", default="/tmp/vivit_bench")
    args = p.parse_args([a for a in argv if not a.startswith("--config.")])
    root = pathlib.Path(args.workdir_root)
    results = [run(c, root, overrides) for c in args.configs]
    print(f"{'config':45s} {'val top1':>9s} {'test top1':>9s} {'wall s':>7s} {'clips/s':>8s}")
    for r in results:
        if "error" in r:
            print(f"{r['config']:45s} error: {r['error']}")
            continue
        print(f"{r['config']:45s} {r['validation_top1']:9.4f} {r['test_top1']:9.4f} "
              f"{r['wall_s']:7.1f} {r['train_clips_per_s']:8.1f}")
    common.print_json(results, common.machine(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
