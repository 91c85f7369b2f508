"""`vivit-profile`: exact parameter count and forward GMACs per view of any registered model.

  vivit-profile --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py [--json]
  vivit-profile --config FILE[:ARG] --config.model.temporal_layers=2 --config.dtype=bfloat16
  vivit-profile --config FILE --latency --batch 8 --memory --train-batch 1

`--latency`: measured milliseconds per view of the jitted inference forward at batch 1 and at
`--batch` (median of `--repeats` calls after compilation and a warm-up; this machine's
backend). `--memory`: XLA's compiled memory analysis (peak bytes per device) of the inference
forward on one view and of one train step at `--train-batch` clips (default: the config's
batch size) on the config's mesh — compiled on abstract inputs, nothing allocated.

Nothing is allocated or trained: the parameters come from `nnx.eval_shape`, the cost from
XLA's analysis of the forward lowered on abstract inputs of one view `[1, T, H, W, 3]`
(`dataset.num_frames`, `dataset.image_size`). GMACs = XLA flops / 2 because paper tables
count multiply-adds (one MAC = 2 flops); XLA's flops include the element-wise work (softmax,
LayerNorm, GELU, biases), as the papers' counts do, and leave out transcendentals.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vivit-profile",
        description="Print the parameter count and forward GMACs per view of a config's model.",
        epilog="Override any config field with --config.FIELD=VALUE, e.g. "
               "--config.dataset.num_frames=16 --config.model.variant=L/16x2.")
    p.add_argument("--config", required=True, help="config file, optionally FILE:ARG")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--latency", action="store_true",
                   help="also time the forward per view at batch 1 and at --batch")
    p.add_argument("--batch", type=int, default=8, help="second batch size for --latency")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per batch size")
    p.add_argument("--memory", action="store_true",
                   help="also report compiled peak memory of the forward and of a train step")
    p.add_argument("--train-batch", type=int, default=0,
                   help="clips per train step for --memory (default: config.batch_size)")
    return p


def input_shape(cfg) -> tuple[int, int, int, int, int]:
    """One view: `[1, T, H, W, 3]` from the dataset section."""
    d = cfg.dataset
    return (1, d.num_frames, d.image_size, d.image_size, 3)


def abstract_model(cfg):
    """The config's model (the trainer's `create_model`) with abstract (shape-only)
    parameters: nothing is allocated."""
    from flax import nnx

    from vivit_jax import state as state_lib

    return nnx.eval_shape(lambda: state_lib.create_model(cfg, nnx.Rngs(0)))


def count_params(cfg, model=None) -> int:
    """Exact number of trainable parameters (`nnx.Param` elements) of the config's model."""
    import jax
    from flax import nnx

    model = abstract_model(cfg) if model is None else model
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


def forward_flops(cfg, model=None) -> float:
    """XLA cost-analysis flops of one inference forward pass on one view."""
    import jax
    from flax import nnx

    model = abstract_model(cfg) if model is None else model
    graphdef, state = nnx.split(model)

    def forward(state, video):
        return nnx.merge(graphdef, state)(video, train=False)[0]

    from vivit_jax import state as state_lib

    video = jax.ShapeDtypeStruct(input_shape(cfg), state_lib.DTYPES[cfg.dtype])
    lowered = jax.jit(forward).lower(state, video)
    cost = _flops(lowered.cost_analysis())
    if cost is None:  # Some backends only analyse the compiled executable.
        cost = _flops(lowered.compile().cost_analysis())
    if cost is None:
        raise RuntimeError(f"XLA cost analysis gave no flops on {jax.default_backend()}")
    return cost


def _flops(analysis: Any) -> float | None:
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def forward_gmacs(cfg, model=None) -> float:
    """Forward GMACs per view: XLA flops / 2 / 1e9 (papers count multiply-adds)."""
    return forward_flops(cfg, model) / 2e9


def profile(cfg) -> dict[str, Any]:
    """Everything `vivit-profile` prints, as a dict."""
    model = abstract_model(cfg)
    flops = forward_flops(cfg, model)
    m = cfg.model
    return {
        "family": m.family,
        "variant": m.get("variant"),
        "model_type": m.get("model_type") or m.get("attention_type"),
        "num_classes": cfg.dataset.num_classes,
        "input_shape": list(input_shape(cfg)),
        "dtype": cfg.dtype,
        "params": count_params(cfg, model),
        "flops": flops,
        "gmacs": flops / 2e9,
    }


def _text(spec: str, r: dict[str, Any]) -> str:
    kind = ", ".join(f"{k} {r[k]}" for k in ("variant", "model_type") if r[k])
    lines = [
        f"config      {spec}",
        f"family      {r['family']}" + (f" ({kind})" if kind else ""),
        f"input       {r['input_shape']} {r['dtype']} (one view), {r['num_classes']} classes",
        f"params      {r['params']:,} ({r['params'] / 1e6:.2f} M)",
        f"GMACs       {r['gmacs']:.2f} per view (XLA flops / 2)",
    ]
    for b, t in r.get("latency", {}).items():
        lines.append(f"latency     {t['ms_per_view']:.2f} ms per view at batch {b} "
                     f"({t['ms_per_batch']:.2f} ms per batch, compile {t['compile_s']:.1f} s, "
                     f"{r['backend']})")
    if "memory" in r:
        mem = r["memory"]
        for name, m in (("forward", mem["forward"]), ("train step", mem["train_step"])):
            lines.append(f"memory      {name}: peak {m.get('peak_memory_bytes', 0) / 2**20:,.1f} "
                         f"MiB per device (batch {m['batch']}; arguments "
                         f"{m.get('argument_size_bytes', 0) / 2**20:,.1f} MiB, temporaries "
                         f"{m.get('temp_size_bytes', 0) / 2**20:,.1f} MiB)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point for `vivit-profile`."""
    from vivit_jax.cli import exit_code, load_config, split_args

    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vivit_jax import config as config_lib

    try:
        if args.batch < 1 or args.repeats < 1 or args.train_batch < 0:
            raise ValueError(f"--batch={args.batch}, --repeats={args.repeats} must be >= 1 and "
                             f"--train-batch={args.train_batch} >= 0")
        cfg = load_config(args.config, overrides=overrides)
        result = profile(cfg)
        if args.latency or args.memory:
            import jax

            from vivit_jax.evaluate import latency
            result["backend"] = jax.default_backend()
            if args.latency:
                result["latency"] = latency.latency_per_view(
                    cfg, batch_sizes=sorted({1, args.batch}), repeats=args.repeats)
            if args.memory:
                result["memory"] = latency.compiled_memory(
                    cfg, batch_size=1, train_batch_size=args.train_batch or cfg.batch_size)
    except (config_lib.ConfigError, FileNotFoundError, ValueError) as e:
        print(f"vivit-profile: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    if args.json:
        print(json.dumps({"config": args.config, **result}))
    else:
        print(_text(args.config, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
