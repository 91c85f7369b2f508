"""Training MFU of a config's model on an accelerator: bf16 compute, fp32 params, AdamW.

  python benchmarks/mfu.py --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \
      --batch 8 --peak-tflops 989     # H100 SXM dense bf16 peak

Needs only jax, flax, optax and ml-collections (no TensorFlow: the step is built from the
model zoo and `vivit_jax.optim` directly, the same loss and update as the trainer's step
without its data pipeline), so it runs on a bare accelerator image. MFU = model flops per
step × steps/s ÷ the device's peak, with model flops = 3 × the forward flops (forward +
backward, the usual MFU convention; forward flops from `vivit_jax.evaluate.profile`, XLA's
cost analysis of the lowered HLO, the model zoo's GMACs × 2). The compiled step's own count
is printed too. On GPU, XLA's cost analysis (of the lowered HLO too) misses the work in
cuBLAS / cuDNN custom calls and reads ~20× low, so there pass `--forward-gmacs` from
`vivit-profile --config FILE` run on a CPU (e.g. 284.41 for the ViViT-B/16x2 FE config).
Prints a table and one JSON line (machine, date, command).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak-tflops", type=float, required=True,
                   help="the device's dense peak for --dtype (H100 SXM bf16: 989)")
    p.add_argument("--remat", action="store_true")
    p.add_argument("--forward-gmacs", type=float, default=0.0,
                   help="forward GMACs per clip (vivit-profile on a CPU); 0: XLA's count here")
    args, overrides = p.parse_known_args(argv)

    import datetime
    import statistics

    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from vivit_jax import config as config_lib
    from vivit_jax import optim
    from vivit_jax.evaluate import profile
    from vivit_jax.models import build_model

    cfg = config_lib.load(args.config, [f"--config.batch_size={args.batch}",
                                        f"--config.model.remat={args.remat}", *overrides])
    d = cfg.dataset
    shape = (args.batch, d.num_frames, d.image_size, d.image_size, 3)
    dtype = jnp.dtype(args.dtype)
    model = build_model(cfg.model, num_classes=d.num_classes, input_shape=shape[1:4],
                        dtype=dtype, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(params)
    tx, _ = optim.make_optimizer(cfg.optim, params, cfg.num_train_steps)
    opt_state = tx.init(params)

    def loss_fn(params, video, label):
        logits, _ = nnx.merge(graphdef, params)(video.astype(dtype), train=True,
                                                rngs=nnx.Rngs(dropout=0))
        return optax.softmax_cross_entropy_with_integer_labels(
            logits.astype(jnp.float32), label).mean()

    def step(params, opt_state, video, label):
        loss, grads = jax.value_and_grad(loss_fn)(params, video, label)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    key = jax.random.key(0)
    video = jax.random.uniform(key, shape, jnp.float32, -1, 1)
    label = jax.random.randint(key, (args.batch,), 0, d.num_classes)
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, opt_state, video,
                                                          label).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost["flops"])
    if args.forward_gmacs:
        forward = args.forward_gmacs * 2e9
    else:
        forward = profile.forward_flops(config_lib.load(args.config, overrides))
    flops = 3 * forward * args.batch
    params, opt_state, loss = compiled(params, opt_state, video, label)  # Warm-up.
    jax.block_until_ready(loss)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            params, opt_state, loss = compiled(params, opt_state, video, label)
        jax.block_until_ready(loss)
        times.append((time.perf_counter() - t0) / args.steps)
    sec = statistics.median(times)
    achieved = flops / sec / 1e12
    dev = jax.devices()[0]
    row = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "device": dev.device_kind, "backend": jax.default_backend(), "jax": jax.__version__,
           "command": " ".join(["python", "benchmarks/mfu.py", *(argv or sys.argv[1:])]),
           "config": args.config, "input": list(shape), "dtype": args.dtype,
           "remat": args.remat, "step_ms": sec * 1e3, "clips_per_s": args.batch / sec,
           "tflop_per_step": flops / 1e12, "xla_compiled_tflop_per_step": xla_flops / 1e12,
           "achieved_tflops": achieved,
           "peak_tflops": args.peak_tflops, "mfu": achieved / args.peak_tflops,
           "loss": float(loss)}
    print(f"{'config':55s} {'batch':>5s} {'step ms':>8s} {'clips/s':>8s} {'TFLOP/s':>8s} "
          f"{'MFU':>6s}")
    print(f"{args.config:55s} {args.batch:5d} {row['step_ms']:8.1f} {row['clips_per_s']:8.1f} "
          f"{achieved:8.1f} {row['mfu']:6.1%}")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
