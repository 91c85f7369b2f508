"""Forward and train-step clips/s and achieved GFLOP/s of every family, against this
machine's measured dense-matmul GFLOP/s in the same run (issue 8).

  python benchmarks/model_throughput.py                      # CPU case: ViT-B, 8×112², batch 2
  python benchmarks/model_throughput.py --families vivit_st,timesformer_divided --remat
  python benchmarks/model_throughput.py --frames 32 --size 224 --batch 8 --dtype bfloat16 \
      --matmul-dtype bfloat16                                # paper-sized case on a GPU
  python benchmarks/model_throughput.py --layers 1 --size 32 --calls 1 --repeats 1  # smoke
  python benchmarks/model_throughput.py ... --config.FIELD=VALUE   # any override, every family

Each family is its Kinetics-400 paper config (`FAMILIES`) with `dataset.num_frames`,
`dataset.image_size`, `batch_size`, `dtype` (and `model.num_layers` with `--layers`)
overridden. STAT has no ViT backbone: its own widths, at `--stat-size` (its stem needs a
multiple of 32); `--layers N` gives it N/3 blocks per stage. ViViT's tubelets need an even
`--frames`.

Forward: `vivit_jax.evaluate.latency.latency_per_view` at the batch size (median of
`calls × repeats` timed calls); flops per clip from `vivit_jax.evaluate.profile` (the model
zoo's GMACs × 2). Train step: the trainer's own step (donated state), median of `repeats`
windows of `calls` steps; flops per clip from the compiled step's own XLA cost analysis.
Compilation and a warm-up call are excluded from both; everything runs on one device (the
default). Achieved GFLOP/s = flops per clip × clips/s; the ceiling is a jitted n×n matmul
measured first in the same run. Target printed beside the figures: forward >= 70 % of the
matmul GFLOP/s (issue 8), with by how much each family misses it.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

K400 = pathlib.Path(__file__).resolve().parents[1] / "configs" / "kinetics400"
# Family → (Kinetics-400 config, extra overrides).
FAMILIES = {
    "vivit_st": ("vivit_b16x2_st_32x2x1_k400.py", []),  # Model 1, spatio-temporal.
    "vivit_fe": ("vivit_b16x2_fe_32x2x1_k400.py", []),  # Model 2, factorised encoder.
    "vivit_fsa": ("vivit_b16x2_fsa_32x2x1_k400.py", []),  # Model 3, factorised self-attn.
    "vivit_fdp": ("vivit_b16x2_fdp_32x2x1_k400.py", []),  # Model 4, factorised dot-product.
    "timesformer_divided": ("timesformer_b16_divided_8x32x1_k400.py", []),
    "timesformer_joint": ("timesformer_b16_joint_8x32x1_k400.py", []),
    "vidtr": ("vidtr_s_8x8_k400.py", []),
    "vidtr_compact": ("vidtr_compact_s_8x8_k400.py", []),  # C-VidTr, topK_std pooling.
    "stat": ("stat_b_k400.py", []),
}
# Have `model.scan` (C-VidTr's pooling layers differ from the others: no scan).
SCAN_FAMILIES = ("vivit_st", "vivit_fe", "vivit_fsa", "vivit_fdp", "timesformer_divided",
                 "timesformer_joint", "vidtr")
FORWARD_TARGET = 0.70


def family_config(name: str, *, frames: int, size: int, batch: int, layers: int = 0,
                  dtype: str = "float32", stat_size: int = 128, remat: bool = False,
                  scan: bool = False, overrides: tuple[str, ...] = ()):
    """The family's K400 config at this case. `scan` applies to `SCAN_FAMILIES` only."""
    from vivit_jax import config as config_lib

    file, extra = FAMILIES[name]
    if name.startswith("vivit") and frames % 2:
        raise ValueError(f"{name}: ViViT's 2-frame tubelets need an even --frames, got {frames}")
    over = [f"--config.dataset.num_frames={frames}",
            f"--config.dataset.image_size={stat_size if name == 'stat' else size}",
            f"--config.batch_size={batch}", f"--config.dtype={dtype}",
            f"--config.model.remat={remat}", *extra]
    if scan and name in SCAN_FAMILIES:
        over.append("--config.model.scan=True")
    if layers and name == "stat":
        n = max(1, round(layers / 3))
        over.append(f"--config.model.depths={(n, n, n)}")
    elif layers:
        over.append(f"--config.model.num_layers={layers}")
    if name == "vidtr_compact" and layers and layers < 6:  # Pool at the first layers instead.
        over.append(f"--config.model.pool_layers={tuple(range(min(layers, 3)))}")
    return config_lib.load(str(K400 / file), [*over, *overrides])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__,
        epilog="families: " + ", ".join(FAMILIES) + "\nAny --config.FIELD=VALUE is applied "
               "to every family's config (e.g. --config.model.hidden_size=64 in a smoke test).",
        formatter_class=common.HelpFormatter)
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    common.add_case_arguments(p)
    p.add_argument("--stat-size", type=int, default=128, help="frame size for STAT (×32)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                   help="compute dtype (config.dtype)")
    p.add_argument("--remat", action="store_true", help="rematerialise every block")
    p.add_argument("--scan", action="store_true",
                   help="scan over layers (not C-VidTr or STAT; what makes remat save "
                        "memory on XLA:CPU)")
    p.add_argument("--matmul-n", type=int, default=2048, help="matmul ceiling: n×n×n")
    p.add_argument("--matmul-dtype", default="float32", choices=("float32", "bfloat16"))
    return p


def measure(name: str, args: argparse.Namespace, ceiling: float,
            overrides: tuple[str, ...] = ()) -> dict:
    """One family's row: clips/s, GFLOP/s and their ratio to the matmul `ceiling` (both on
    one device)."""
    import jax

    cfg = family_config(name, frames=args.frames, size=args.size, batch=args.batch,
                        layers=args.layers, dtype=args.dtype, stat_size=args.stat_size,
                        remat=args.remat, scan=args.scan, overrides=overrides)
    tags = [t for t, on in (("remat", args.remat),
                            ("scan", args.scan and name in SCAN_FAMILIES)) if on]
    r = {"family": "+".join([name, *tags]), "dtype": args.dtype,
         **common.throughput(cfg, calls=args.calls, repeats=args.repeats,
                             devices=jax.devices()[:1])}
    r["matmul_gflops"] = ceiling
    r["forward_of_matmul"] = r["forward_gflops"] / ceiling
    r["train_of_matmul"] = r["train_gflops"] / ceiling
    r["forward_target"] = FORWARD_TARGET
    r["forward_target_miss"] = max(0.0, FORWARD_TARGET - r["forward_of_matmul"])
    return r


def main(argv=None) -> int:
    p = parser()
    args, overrides = common.parse(p, argv)
    names = common.names(p, args.families, FAMILIES, "families")

    ceiling = common.matmul_gflops(args.matmul_n, dtype=args.matmul_dtype)
    print(f"[matmul] {ceiling:.1f} GFLOP/s", file=sys.stderr, flush=True)
    rows = []
    for name in names:
        rows.append(measure(name, args, ceiling, overrides))
        r = rows[-1]
        print(f"[{r['family']}] fwd {r['forward_clips_per_s']:.2f} clips/s, "
              f"train {r['train_clips_per_s']:.2f} clips/s", file=sys.stderr, flush=True)
    print(f"dense {args.matmul_dtype} matmul ({args.matmul_n}²): {ceiling:.1f} GFLOP/s; "
          f"target: forward >= {FORWARD_TARGET:.0%} of it")
    common.print_table(rows, [
        ("family", "family", "s"), ("input", "input", ""),
        ("forward_clips_per_s", "fwd clips/s", ".2f"),
        ("train_clips_per_s", "train clips/s", ".2f"),
        ("forward_gflop_per_clip", "fwd GFLOP/clip", ".1f"),
        ("train_gflop_per_clip", "train GFLOP/clip", ".1f"),
        ("forward_gflops", "fwd GFLOP/s", ".1f"), ("forward_of_matmul", "fwd/matmul", ".0%"),
        ("train_gflops", "train GFLOP/s", ".1f"), ("train_of_matmul", "train/matmul", ".0%"),
    ], common.machine(__file__, argv))
    for r in rows:
        print(f"{r['family']}: forward/matmul "
              + common.versus(r["forward_of_matmul"], FORWARD_TARGET, ".0%"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
