"""Command-line entry: `vivit-train --config FILE[:ARG] --workdir DIR [--config.key=value …]`.

Also `python -m vivit_jax.main`. Errors a user can fix (a missing config file, an unknown
config key, an unwritable workdir, missing data, a diverged run) print one line naming the
culprit and exit with a non-zero code; nothing already written is removed.
"""
from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vivit-train",
        description="Train and evaluate a video transformer from a config file.",
        epilog="Override any config field with --config.FIELD=VALUE, e.g. "
               "--config.batch_size=8 --config.optim.lr=3e-4.")
    p.add_argument("--config", required=True, help="config file, optionally FILE:ARG")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and logs go here")
    p.add_argument("--mode", default="train", choices=("train",),
                   help="train: train (resuming from workdir) then evaluate")
    return p


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separates `--config.key=value` overrides from the other arguments."""
    overrides, rest = [], []
    it = iter(argv)
    for arg in it:
        if arg.startswith("--config."):
            if "=" not in arg:  # `--config.key value`
                arg = f"{arg}={next(it, '')}"
            overrides.append(arg)
        else:
            rest.append(arg)
    return rest, overrides


def run_train(argv: list[str] | None = None) -> int:
    """Console-script entry point for `vivit-train`."""
    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Imports after argument parsing so `--help` is instant.
    from vivit_jax import checkpoint, cluster, train
    from vivit_jax import config as config_lib

    try:
        cfg = config_lib.load(args.config, overrides)
        cluster.maybe_initialize_distributed()
        train.train_and_evaluate(cfg, args.workdir)
    except (config_lib.ConfigError, FileNotFoundError, NotADirectoryError, PermissionError,
            ValueError, train.TrainingDiverged, checkpoint.CheckpointSaveError) as e:
        print(f"vivit-train: error: {e}", file=sys.stderr, flush=True)
        return 2 if isinstance(e, config_lib.ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(run_train())
