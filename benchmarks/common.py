"""Shared pieces of the benchmark scripts: machine facts, timing, the matmul ceiling, the
train-step / forward throughput of a config, and printing (a table plus JSON lines).

Every figure is measured in the run that prints it; nothing is cached or hard-coded.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows the module docstring as written (its commands) and every default."""


def add_case_arguments(p: argparse.ArgumentParser) -> None:
    """The timed case's flags shared by the throughput scripts (defaults: the CPU case)."""
    p.add_argument("--frames", type=int, default=8, help="frames per clip (even for ViViT)")
    p.add_argument("--size", type=int, default=112, help="square frame size (multiple of 16)")
    p.add_argument("--batch", type=int, default=2, help="clips per call")
    p.add_argument("--layers", type=int, default=0,
                   help="encoder depth (0: the paper's; small values for smoke tests)")
    p.add_argument("--calls", type=int, default=3, help="calls per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows (median)")


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None
          ) -> tuple[argparse.Namespace, tuple[str, ...]]:
    """`argv` (default `sys.argv[1:]`) parsed by `p`, with the `--config.FIELD=VALUE`
    overrides set aside (applied to every config the script builds)."""
    from vivit_jax.cli import split_args

    rest, overrides = split_args(list(sys.argv[1:] if argv is None else argv))
    return p.parse_args(rest), tuple(overrides)


def names(p: argparse.ArgumentParser, csv: str, known, what: str) -> list[str]:
    """The comma-separated `csv` as a list, refused (argparse error) if empty or unknown."""
    out = [n for n in csv.split(",") if n]
    unknown = sorted(set(out) - set(known))
    if unknown or not out:
        p.error(f"unknown {what} {unknown or csv!r}; known: {', '.join(known)}")
    return out


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine(script: str | None = None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """What the figures were measured on, and when, with the command line: `python
    benchmarks/SCRIPT ARGV…` (`script`: the caller's `__file__`; `argv`: the arguments its
    `main(argv)` was given, default `sys.argv[1:]`)."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    prog = f"benchmarks/{pathlib.Path(script).name}" if script else sys.argv[0]
    args = list(sys.argv[1:] if argv is None else argv)
    dev = jax.devices()[0]
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "platform": platform.platform(), "cpu": f"{cpu}, {cpu_count()} cores",
            "cpu_count": cpu_count(), "backend": jax.default_backend(),
            "device_kind": dev.device_kind, "devices": f"{jax.device_count()}x {dev.device_kind}",
            "jax": jax.__version__, "command": " ".join(["python", prog, *args])}


def add_xla_flag(flag: str) -> None:
    """Appends `flag` to XLA_FLAGS; it only takes effect before JAX starts its backends, so
    this refuses once they are (run the script afresh, or set XLA_FLAGS yourself)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if flag in flags.split():
        return
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            raise RuntimeError(f"JAX's backends are already running: set XLA_FLAGS={flag} "
                               "before starting Python")
    os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def median_rate(fn: Callable[[int], None], items_per_call: int, calls: int,
                repeats: int) -> float:
    """Items per second: `fn(calls)` once to compile and warm up, then the median of
    `repeats` timed windows of `calls` calls each."""
    fn(1)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(calls)
        rates.append(calls * items_per_call / (time.perf_counter() - t0))
    return statistics.median(rates)


def matmul_gflops(n: int = 2048, calls: int = 10, repeats: int = 5,
                  dtype: str = "float32") -> float:
    """Measured dense matmul GFLOP/s of the default device: jitted `a @ b` on n×n `dtype`
    matrices, 2·n³ flops a call, the median of `repeats` windows of `calls` calls."""
    import jax

    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    mm = jax.jit(lambda x, y: x @ y)

    def run(k):
        for _ in range(k):
            out = mm(a, b)
        jax.block_until_ready(out)

    return median_rate(run, 1, calls, repeats) * 2 * n ** 3 / 1e9


def _flops(compiled) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def throughput(cfg, *, calls: int = 3, repeats: int = 3,
               parts: Sequence[str] = ("forward", "train"), devices=None) -> dict[str, Any]:
    """Forward and train-step clips/s of a config's model at `cfg.batch_size`, with XLA's
    flops per clip and the achieved GFLOP/s.

    Forward: `latency.latency_per_view` at the batch size (median of `calls × repeats` timed
    calls after compilation and a warm-up), flops per clip from `profile.forward_flops` (the
    model zoo's GMACs × 2). Train step: the trainer's own (`state_lib.make_train_step`, donated
    sharded state) on the config's mesh over `devices` (default: as many as divide the batch),
    the median of `repeats` windows of `calls` steps after compilation and one warm-up step;
    flops per clip from the compiled step's own cost analysis (forward + backward +
    optimizer; XLA reports one device's share, so × the mesh size). Random inputs already on
    device: no input pipeline is timed.
    """
    import math

    import jax
    import numpy as np

    from vivit_jax import sharding
    from vivit_jax import state as state_lib
    from vivit_jax.evaluate import latency, profile

    b = cfg.batch_size
    out: dict[str, Any] = {"batch": b, "input": list(state_lib.model_input_shape(cfg))}
    if "forward" in parts:
        lat = latency.latency_per_view(cfg, batch_sizes=(b,), repeats=max(1, calls * repeats))
        rate = b / (lat[b]["ms_per_batch"] / 1e3)
        flops = profile.forward_flops(cfg)
        out.update(forward_clips_per_s=rate, forward_gflop_per_clip=flops / 1e9,
                   forward_gflops=rate * flops / 1e9)
    if "train" in parts:
        if devices is None:
            devices = jax.devices()[:math.gcd(b, jax.device_count())]
        mesh = sharding.mesh_from_config(cfg, devices)
        batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
        setup = state_lib.setup_state(cfg, mesh)
        out["params"] = setup.num_params
        state = setup.init_state(jax.random.key(0))
        t, h, w = state_lib.model_input_shape(cfg)
        rng = np.random.default_rng(0)
        batch = {"video": rng.uniform(-1, 1, (b, t, h, w, 3)).astype(np.float32),
                 "label": rng.integers(0, cfg.dataset.num_classes, b).astype(np.int32)}
        batch = jax.device_put(batch, batch_sh)
        key = jax.random.key(0)
        step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, cfg, mesh),
                       in_shardings=(setup.state_sh, batch_sh, repl),
                       out_shardings=(setup.state_sh, repl), donate_argnums=(0,))
        step = step.lower(state, batch, key).compile()

        def run_train(k):
            nonlocal state
            for _ in range(k):
                state, m = step(state, batch, key)
            jax.block_until_ready(m)

        rate = median_rate(run_train, b, calls, repeats)
        flops = _flops(step) * mesh.size / b
        out.update(mesh_devices=int(mesh.size), train_clips_per_s=rate,
                   train_ms_per_step=b / rate * 1e3, train_gflop_per_clip=flops / 1e9,
                   train_gflops=rate * flops / 1e9)
    return out


def versus(value: float, target: float, fmt: str = ".2f") -> str:
    """`value` against a lower bound `target`: 'meets' or by how much it misses."""
    if value >= target:
        return f"meets (>= {target:{fmt}})"
    return (f"misses by {target - value:{fmt}} ({value:{fmt}} vs >= {target:{fmt}}, "
            f"{value / target:.0%} of it)")


def print_json(rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> None:
    """One JSON line per row, each with `meta` (machine, date, command) first."""
    for r in rows:
        print(json.dumps({**meta, **r}, default=str), flush=True)


def print_table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]],
                meta: dict[str, Any]) -> None:
    """A fixed-width table of `columns` = (key, header, format), then one JSON line per row
    (each with `meta`: machine, date, command)."""
    widths = [max(len(h), 10) for _, h, _ in columns]
    print("  ".join(h.rjust(w) if i else h.ljust(w + 20)
                    for i, ((_, h, _), w) in enumerate(zip(columns, widths))))
    for r in rows:
        cells = []
        for i, ((k, _, fmt), w) in enumerate(zip(columns, widths)):
            v = r.get(k)
            s = "—" if v is None else format(v, fmt)
            cells.append(s.rjust(w) if i else s.ljust(w + 20))
        print("  ".join(cells))
    print_json(rows, meta)
