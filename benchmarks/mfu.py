"""Training MFU of a config's model on an accelerator: bf16 compute, fp32 params, the
trainer's own step.

  python benchmarks/mfu.py --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \
      --batch 8 --peak-tflops 989     # H100 SXM dense bf16 peak

The step is `vivit_jax.state.make_train_step` (via `common.throughput`: the config's loss,
optimiser and non-finite guard, donated sharded state, random inputs already on device -- no
input pipeline), so it needs only jax, flax, optax and ml-collections: the trainer imports
TensorFlow only where it reads data, and this runs on a bare accelerator image. MFU = model
flops per step × steps/s ÷ the device's peak, with model flops = 3 × the forward flops
(forward + backward, the usual MFU convention; forward flops from
`vivit_jax.evaluate.profile`, XLA's cost analysis of the lowered HLO, the model zoo's GMACs ×
2). The compiled step's own count is printed too. On GPU, XLA's cost analysis (of the
lowered HLO too) misses the work in cuBLAS / cuDNN custom calls and reads ~20× low, so there
pass `--forward-gmacs` from `vivit-profile --config FILE` run on a CPU (e.g. 284.41 for the
ViViT-B/16x2 FE config). Any `--config.FIELD=VALUE` is applied (e.g.
`--config.model.attention_impl=cudnn`). Prints a table and one JSON line (machine, date,
command).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="bfloat16", choices=("float32", "bfloat16"))
    p.add_argument("--steps", type=int, default=10, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows (median)")
    p.add_argument("--peak-tflops", type=float, required=True,
                   help="the device's dense peak for --dtype (H100 SXM bf16: 989)")
    p.add_argument("--remat", action="store_true")
    p.add_argument("--forward-gmacs", type=float, default=0.0,
                   help="forward GMACs per clip (vivit-profile on a CPU); 0: XLA's count here")
    args, overrides = p.parse_known_args(argv)

    import jax

    from vivit_jax import config as config_lib
    from vivit_jax.evaluate import profile

    cfg = config_lib.load(args.config, [f"--config.batch_size={args.batch}",
                                        f"--config.dtype={args.dtype}",
                                        f"--config.model.remat={args.remat}", *overrides])
    r = common.throughput(cfg, calls=args.steps, repeats=args.repeats, parts=("train",),
                          devices=jax.devices()[:1])
    forward = args.forward_gmacs * 2e9 if args.forward_gmacs else profile.forward_flops(cfg)
    flops = 3 * forward * args.batch
    sec = r["train_ms_per_step"] / 1e3
    achieved = flops / sec / 1e12
    row = {**common.machine(__file__, argv), "config": args.config,
           "input": [args.batch, *r["input"], 3], "dtype": args.dtype, "remat": args.remat,
           "step_ms": r["train_ms_per_step"], "clips_per_s": r["train_clips_per_s"],
           "tflop_per_step": flops / 1e12,
           "xla_compiled_tflop_per_step": r["train_gflop_per_clip"] * args.batch / 1e3,
           "achieved_tflops": achieved, "peak_tflops": args.peak_tflops,
           "mfu": achieved / args.peak_tflops}
    print(f"{'config':55s} {'batch':>5s} {'step ms':>8s} {'clips/s':>8s} {'TFLOP/s':>8s} "
          f"{'MFU':>6s}")
    print(f"{args.config:55s} {args.batch:5d} {row['step_ms']:8.1f} {row['clips_per_s']:8.1f} "
          f"{achieved:8.1f} {row['mfu']:6.1%}")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
