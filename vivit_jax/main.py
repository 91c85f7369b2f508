"""Command-line entry: `vivit-train --config FILE[:ARG] --workdir DIR [--config.key=value …]`.

Also `python -m vivit_jax.main`. Errors a user can fix (a missing config file, an unknown
config key, an unwritable workdir, missing data, a diverged run) print one line naming the
culprit and exit with a non-zero code; nothing already written is removed.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

from vivit_jax.cli import exit_code, load_config, split_args

# glibc's malloc with transparent huge pages for its mmap'd chunks (glibc >= 2.35).
_HUGEPAGES_TUNABLE = "glibc.malloc.hugetlb=1"


def huge_pages_env(environ: dict[str, str], libc: tuple[str, str], thp_mode: str
                   ) -> dict[str, str] | None:
    """The environment to restart with for glibc's huge-page malloc, or None to carry on:
    Linux with glibc ≥ 2.35 (`libc`: `platform.libc_ver()`), transparent huge pages in
    'madvise' mode (`thp_mode`: /sys/kernel/mm/transparent_hugepage/enabled), not already
    set, not turned off by `VIVIT_HUGEPAGES=0`."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    if environ.get("VIVIT_HUGEPAGES", "1") == "0" or "glibc.malloc.hugetlb" in tunables:
        return None
    try:
        new_enough = libc[0] == "glibc" and tuple(map(int, libc[1].split(".")[:2])) >= (2, 35)
    except ValueError:
        return None
    if not new_enough or "[madvise]" not in thp_mode:
        return None
    return dict(environ, GLIBC_TUNABLES=":".join(filter(None, [tunables, _HUGEPAGES_TUNABLE])))


def with_huge_pages() -> None:
    """Restarts this process once with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` where that
    helps (`huge_pages_env`); otherwise returns at once.

    Why: XLA:CPU maps a fresh temporary buffer for every train step (94.5 MB for the default
    experiment) and faults it in 4 KiB page by page; with huge pages the faults fall 9× and
    the default experiment trains faster (BENCHMARKS.md, "The default experiment"). glibc
    reads its tunables only at start-up, hence the restart (same PID, same arguments), done
    before anything heavy is imported. `VIVIT_HUGEPAGES=0` turns it off.
    """
    if sys.platform != "linux" or not getattr(sys, "orig_argv", None):
        return
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp_mode = f.read()
    except OSError:
        return
    env = huge_pages_env(dict(os.environ), platform.libc_ver(), thp_mode)
    if env is not None:
        try:
            os.execve(sys.executable, sys.orig_argv, env)
        except OSError:
            return  # Could not restart: carry on without.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vivit-train",
        description="Train and evaluate a video transformer from a config file.",
        epilog="Override any config field with --config.FIELD=VALUE, e.g. "
               "--config.batch_size=8 --config.optim.lr=3e-4.")
    p.add_argument("--config", required=True, help="config file, optionally FILE:ARG")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and logs go here")
    return p


def _removed_mode(args: list[str]) -> str | None:
    """The one-line refusal of `--mode`, which had one value (train) and changed nothing: a
    command line that passes it gets told to drop it, before anything is written."""
    if any(a == "--mode" or a.startswith("--mode=") for a in args):
        return ("--mode is no option (vivit-train always trains, resuming from --workdir, then "
                "evaluates): drop it; vivit-eval evaluates a workdir's checkpoint")
    return None


def run_train(argv: list[str] | None = None) -> int:
    """Console-script entry point for `vivit-train` (`argv`: called from Python, no restart)."""
    if argv is None:
        with_huge_pages()
    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    refusal = _removed_mode(rest)
    if refusal:
        print(f"vivit-train: error: {refusal}", file=sys.stderr, flush=True)
        return 2  # A usage error, as argparse's.
    args = _parser().parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Imports after argument parsing so `--help` is instant.
    from vivit_jax import cluster, train
    from vivit_jax import config as config_lib

    try:
        cfg = load_config(args.config, overrides=overrides)
        cluster.maybe_initialize_distributed()
        train.train_and_evaluate(cfg, args.workdir)
    except (config_lib.ConfigError, OSError, ValueError, train.TrainingDiverged) as e:
        # OSError: FileNotFoundError, PermissionError, CheckpointSaveError and the failures
        # of remote (`gs://…`) files, each one line naming the path.
        print(f"vivit-train: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    return 0


if __name__ == "__main__":
    sys.exit(run_train())
