"""Forward and train-step clips/s and achieved GFLOP/s of every family, against this
machine's measured dense-matmul GFLOP/s (issue 8).

  python benchmarks/model_throughput.py                      # CPU case: ViT-B, 8×112², batch 2
  python benchmarks/model_throughput.py --frames 32 --size 224 --batch 8 --dtype bfloat16  # GPU
  python benchmarks/model_throughput.py --families vivit_st,timesformer_divided --layers 2

Each family is its Kinetics-400 paper config with `dataset.num_frames`, `dataset.image_size`,
`batch_size` (and `model.num_layers` with `--layers`) overridden; STAT (no ViT backbone) runs
at `--stat-size` because its stem needs a multiple of 32. Flops per clip are XLA's cost
analysis of each compiled program; the ceiling is a jitted fp32 n×n matmul measured in the
same run. Target printed beside the figures: forward >= 70 % of the matmul GFLOP/s.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

K400 = pathlib.Path(__file__).resolve().parents[1] / "configs" / "kinetics400"
FAMILIES = {
    "vivit_st": ("vivit_b16x2_st_32x2x1_k400.py", []),
    "vivit_fe": ("vivit_b16x2_fe_32x2x1_k400.py", []),
    "vivit_fsa": ("vivit_b16x2_fsa_32x2x1_k400.py", []),
    "vivit_fdp": ("vivit_b16x2_fdp_32x2x1_k400.py", []),
    "timesformer_divided": ("timesformer_b16_divided_8x32x1_k400.py", []),
    "timesformer_joint": ("timesformer_b16_joint_8x32x1_k400.py", []),
    "vidtr": ("vidtr_s_8x8_k400.py", []),
    "vidtr_compact": ("vidtr_compact_s_8x8_k400.py", []),
    "stat": ("stat_b_k400.py", []),
}
FORWARD_TARGET = 0.70


def family_config(name: str, *, frames: int, size: int, batch: int, layers: int = 0,
                  dtype: str = "float32", stat_size: int = 128, remat: bool = False,
                  overrides: tuple[str, ...] = ()):
    from vivit_jax import config as config_lib

    file, extra = FAMILIES[name]
    over = [f"--config.dataset.num_frames={frames}",
            f"--config.dataset.image_size={stat_size if name == 'stat' else size}",
            f"--config.batch_size={batch}", f"--config.dtype={dtype}",
            f"--config.model.remat={remat}", *extra, *overrides]
    if layers and name != "stat":
        over.append(f"--config.model.num_layers={layers}")
    if name == "vidtr_compact" and layers and layers < 6:  # Pool at the first layers instead.
        over.append(f"--config.model.pool_layers={tuple(range(min(layers, 3)))}")
    return config_lib.load(str(K400 / file), over)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--stat-size", type=int, default=128)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--layers", type=int, default=0, help="0: the paper depth")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--remat", action="store_true", help="rematerialise every block")
    p.add_argument("--calls", type=int, default=3, help="calls per timed window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--matmul-n", type=int, default=2048)
    args = p.parse_args(argv)
    names = [n for n in args.families.split(",") if n]
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown:
        p.error(f"unknown families {unknown}; known: {sorted(FAMILIES)}")

    ceiling = common.matmul_gflops(args.matmul_n)
    rows = []
    for name in names:
        cfg = family_config(name, frames=args.frames, size=args.size, batch=args.batch,
                            layers=args.layers, dtype=args.dtype, stat_size=args.stat_size,
                            remat=args.remat)
        r = {"family": name + ("+remat" if args.remat else ""),
             **common.throughput(cfg, calls=args.calls, repeats=args.repeats)}
        r["matmul_gflops"] = ceiling
        r["forward_of_matmul"] = r["forward_gflops"] / ceiling
        r["train_of_matmul"] = r["train_gflops"] / ceiling
        r["forward_target_miss"] = max(0.0, FORWARD_TARGET - r["forward_of_matmul"])
        rows.append(r)
        print(f"[{name}] fwd {r['forward_clips_per_s']:.2f} clips/s, "
              f"train {r['train_clips_per_s']:.2f} clips/s", file=sys.stderr, flush=True)
    print(f"dense fp32 matmul ({args.matmul_n}²): {ceiling:.1f} GFLOP/s; target: forward >= "
          f"{FORWARD_TARGET:.0%} of it")
    common.print_table(rows, [
        ("family", "family", "s"), ("input", "input", ""),
        ("forward_clips_per_s", "fwd clips/s", ".2f"),
        ("train_clips_per_s", "train clips/s", ".2f"),
        ("forward_gflop_per_clip", "fwd GFLOP/clip", ".1f"),
        ("forward_gflops", "fwd GFLOP/s", ".1f"), ("forward_of_matmul", "fwd/matmul", ".0%"),
        ("train_gflops", "train GFLOP/s", ".1f"), ("train_of_matmul", "train/matmul", ".0%"),
    ], common.machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
