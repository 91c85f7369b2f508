"""Train-step and forward throughput of a config on this machine (clips/s), no input pipeline.

  python benchmarks/train_step.py --config configs/synthetic/vivit_tiny.py [--steps 50]
      [--config.FIELD=VALUE …]

Prints a table and one JSON line: machine, date, devices, clips/s of the jitted train step
(donated state, the trainer's own step function) and of the forward pass, with the
compile time excluded (median of `--repeats` timed windows).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    from vivit_jax.main import split_args
    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--steps", type=int, default=30, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(rest)

    import jax
    import numpy as np
    from flax import nnx

    from vivit_jax import config as config_lib
    from vivit_jax import sharding, train

    cfg = config_lib.load(args.config, overrides)
    mesh = sharding.make_mesh(cfg.mesh)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    setup = train.setup_state(cfg, mesh)  # The trainer's own sharded state and step.
    state = setup.init_state(jax.random.key(0))
    b = cfg.batch_size
    t, h, w = train.model_input_shape(cfg)
    rng = np.random.default_rng(0)
    batch = {"video": jax.device_put(rng.uniform(-1, 1, (b, t, h, w, 3)).astype(np.float32),
                                     batch_sh),
             "label": jax.device_put(rng.integers(0, cfg.dataset.num_classes, b).astype(np.int32),
                                     batch_sh)}
    step = jax.jit(train.make_train_step(setup.graphdef, setup.tx, cfg),
                   in_shardings=(setup.state_sh, batch_sh, repl),
                   out_shardings=(setup.state_sh, repl), donate_argnums=(0,))
    key = jax.random.key(0)
    graphdef, dtype = setup.graphdef, train.DTYPES[cfg.dtype]

    @jax.jit
    def forward(params, video):
        return nnx.merge(graphdef, params)(video.astype(dtype))[0]

    def timed(fn):
        fn()  # Compile and warm up.
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(args.steps)
            rates.append(args.steps * b / (time.perf_counter() - t0))
        return statistics.median(rates)

    def run_train(n=1):
        nonlocal state
        for _ in range(n):
            state, m = step(state, batch, key)
        jax.block_until_ready(m)

    def run_fwd(n=1):
        for _ in range(n):
            out = forward(state["params"], batch["video"])
        jax.block_until_ready(out)

    result = {
        "benchmark": "train_step", "config": args.config, "overrides": overrides,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "devices": f"{jax.device_count()}x {jax.devices()[0].device_kind}",
        "date": datetime.date.today().isoformat(), "batch": b, "input": [t, h, w],
        "train_clips_per_s": round(timed(run_train), 1),
        "forward_clips_per_s": round(timed(run_fwd), 1),
    }
    print(f"{'config':50s} {'batch':>5s} {'train clips/s':>14s} {'fwd clips/s':>12s}")
    print(f"{args.config:50s} {b:5d} {result['train_clips_per_s']:14.1f} "
          f"{result['forward_clips_per_s']:12.1f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
