"""Train-step and forward throughput of a config on this machine (clips/s), no input pipeline.

  python benchmarks/train_step.py --config configs/synthetic/vivit_tiny.py [--steps 30]
      [--config.FIELD=VALUE …]

Prints a table and one JSON line: machine, date, devices, clips/s of the jitted train step
(donated state, the trainer's own step function) and of the forward pass, XLA's flops per
clip and the achieved GFLOP/s, with the compile time excluded (median of `--repeats` timed
windows of `--steps` calls).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=common.HelpFormatter)
    p.add_argument("--config", required=True, help="config file, optionally FILE:ARG")
    p.add_argument("--steps", type=int, default=30, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows (median)")
    args, overrides = common.parse(p, argv)

    from vivit_jax import config as config_lib

    cfg = config_lib.load(args.config, overrides)
    row = {"benchmark": "train_step", "config": args.config, "overrides": list(overrides),
           **common.throughput(cfg, calls=args.steps, repeats=args.repeats)}
    common.print_table([row], [("config", "config", "s"), ("batch", "batch", "d"),
                               ("train_clips_per_s", "train clips/s", ".1f"),
                               ("forward_clips_per_s", "fwd clips/s", ".1f"),
                               ("train_gflops", "train GFLOP/s", ".1f"),
                               ("forward_gflops", "fwd GFLOP/s", ".1f")],
                       common.machine(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
