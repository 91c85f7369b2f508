"""Shared pieces of the benchmark scripts: machine facts, timing, the matmul ceiling, the
train-step / forward throughput of a config, and printing (a table plus JSON lines).

Every figure is measured in the run that prints it; nothing is cached or hard-coded.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def machine() -> dict[str, Any]:
    """What the figures were measured on, and when, with the command line."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "cpu": f"{cpu}, {os.cpu_count()} cores", "backend": jax.default_backend(),
            "devices": f"{jax.device_count()}x {jax.devices()[0].device_kind}",
            "jax": jax.__version__, "command": " ".join([sys.executable.split("/")[-1],
                                                         *sys.argv])}


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


def matmul_gflops(n: int = 2048, calls: int = 10, repeats: int = 5) -> float:
    """Measured dense fp32 matmul GFLOP/s of the default device (jitted `a @ b`, n×n)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
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
               parts: Sequence[str] = ("forward", "train")) -> dict[str, Any]:
    """Forward and train-step clips/s of a config's model at `cfg.batch_size`, with XLA's
    flops per clip of each compiled program and the achieved GFLOP/s.

    The train step is the trainer's own (`train.make_train_step`, donated sharded state) on
    the config's mesh over as many devices as divide the batch; random inputs already on
    device, so no input pipeline is timed.
    """
    import math

    import jax
    import numpy as np
    from flax import nnx

    from vivit_jax import sharding, train

    devices = jax.devices()[:math.gcd(cfg.batch_size, jax.device_count())]
    mesh = sharding.make_mesh(cfg.mesh, devices)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    setup = train.setup_state(cfg, mesh)
    state = setup.init_state(jax.random.key(0))
    b = cfg.batch_size
    t, h, w = train.model_input_shape(cfg)
    rng = np.random.default_rng(0)
    video = jax.device_put(rng.uniform(-1, 1, (b, t, h, w, 3)).astype(np.float32), batch_sh)
    label = jax.device_put(rng.integers(0, cfg.dataset.num_classes, b).astype(np.int32),
                           batch_sh)
    key = jax.random.key(0)
    graphdef, dtype = setup.graphdef, train.DTYPES[cfg.dtype]
    out: dict[str, Any] = {"batch": b, "input": [t, h, w], "params": setup.num_params}

    if "forward" in parts:
        fwd = jax.jit(lambda p, v: nnx.merge(graphdef, p)(v.astype(dtype))[0]).lower(
            state["params"], video).compile()

        def run_fwd(k):
            for _ in range(k):
                y = fwd(state["params"], video)
            jax.block_until_ready(y)

        rate = median_rate(run_fwd, b, calls, repeats)
        flops = _flops(fwd) / b
        out.update(forward_clips_per_s=rate, forward_gflop_per_clip=flops / 1e9,
                   forward_gflops=rate * flops / 1e9)
    if "train" in parts:
        step = jax.jit(train.make_train_step(graphdef, setup.tx, cfg),
                       in_shardings=(setup.state_sh, batch_sh, repl),
                       out_shardings=(setup.state_sh, repl), donate_argnums=(0,))
        step = step.lower(state, {"video": video, "label": label}, key).compile()

        def run_train(k):
            nonlocal state
            for _ in range(k):
                state, m = step(state, {"video": video, "label": label}, key)
            jax.block_until_ready(m)

        rate = median_rate(run_train, b, calls, repeats)
        flops = _flops(step) / b
        out.update(train_clips_per_s=rate, train_gflop_per_clip=flops / 1e9,
                   train_gflops=rate * flops / 1e9)
    return out


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
    for r in rows:
        print(json.dumps({**meta, **r}, default=str))
