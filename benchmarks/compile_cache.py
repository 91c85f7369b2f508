"""Time to the first train step with a cold and a warm persistent compilation cache.

  python benchmarks/compile_cache.py [--runs 2] [--layers 12] [--width 768]

Runs `vivit-train` (as a user does: a new process each time) on the embedded synthetic_motion
data with a ViViT-B-sized encoder (12 layers, width 768, MLP 3072, 12 heads; 8×32² clips,
8×8×2 tubelets: the graph XLA compiles is ViViT-B's, only the token count is small), twice
per round in one fresh cache directory: the first run compiles and writes the cache
(`compile_cache_dir`), the second (a restarted or preempted job) reads it. Time to first step
= from starting the process to the trainer's `step 1/` line; the data are generated before the
first round, so both runs find them. Prints a table and one JSON line (machine, date, command).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs/synthetic/vivit_tiny.py")


def time_to_first_step(workdir: str, cache: str, overrides: list[str]) -> float:
    """Seconds from process start to the trainer's first `step 1/` line."""
    env = dict(os.environ, VIVIT_HUGEPAGES="0", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vivit_jax.main", "--config", CONFIG,
                             "--workdir", workdir, f"--config.compile_cache_dir={cache}",
                             *overrides], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    first, lines = None, []
    for line in proc.stdout:
        lines.append(line)
        if first is None and line.startswith("step 1/"):
            first = time.perf_counter() - t0
    if proc.wait() != 0 or first is None:
        raise SystemExit("compile_cache: error: the trainer failed:\n" + "".join(lines[-20:]))
    return first


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=common.HelpFormatter)
    p.add_argument("--runs", type=int, default=2, help="rounds of (cold, warm)")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--width", type=int, default=768)
    args = p.parse_args(argv)
    heads = max(args.width // 64, 1)
    overrides = [f"--config.model.num_layers={args.layers}",
                 f"--config.model.hidden_size={args.width}",
                 f"--config.model.num_heads={heads}", f"--config.model.mlp_dim={4 * args.width}",
                 "--config.num_train_steps=2", "--config.optim.warmup_steps=0",
                 "--config.log_every_steps=1",
                 "--config.eval_every_steps=0", "--config.eval_test_split=false",
                 "--config.batch_size=8", "--config.eval_batch_size=8",
                 "--config.dataset.cache_decoded=false"]
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="vivit_compile_cache_") as tmp:
        for r in range(args.runs):
            cache = os.path.join(tmp, f"cache{r}")
            for name, out in (("cold", cold), ("warm", warm)):
                wd = os.path.join(tmp, f"wd_{r}_{name}")
                out.append(time_to_first_step(wd, cache, overrides))
                shutil.rmtree(wd)
                print(f"round {r + 1}: {name} {out[-1]:.1f} s", flush=True)
    meta = common.machine(__file__, argv)
    row = {"case": f"ViViT {args.layers}x{args.width}", "cold_s": [round(x, 1) for x in cold],
           "warm_s": [round(x, 1) for x in warm],
           "cold_median_s": round(statistics.median(cold), 1),
           "warm_median_s": round(statistics.median(warm), 1)}
    row["saved_s"] = round(row["cold_median_s"] - row["warm_median_s"], 1)
    common.print_table([row], [("case", "time to first step", "s"),
                               ("cold_median_s", "cold (s)", ".1f"),
                               ("warm_median_s", "warm (s)", ".1f"),
                               ("saved_s", "saved (s)", ".1f")], meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
