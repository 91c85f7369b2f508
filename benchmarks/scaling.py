"""Forward GMACs per view of every family as T and as the resolution grow (issue 8): joint
attention grows quadratically in the token count, factorised / separable about linearly.

  python benchmarks/scaling.py                       # T = 8, 16, 32 at 224²; 112-320² at T = 8
  python benchmarks/scaling.py --families vivit_st,vivit_fe --frames 8,16 --sizes 112,224

Shapes only (`vivit_jax.evaluate.profile.forward_gmacs`: the model is never allocated nor
run; XLA's cost analysis of the lowered forward, flops / 2), so this takes about a minute.
Each family is `model_throughput.family_config` (its Kinetics-400 config) at the case; STAT
at the nearest multiple of 32 (its stem's constraint). For each step of the T and of the
resolution list the growth is printed per doubling of the token count (T doubles; the pixel
count doubles when the side grows √2×, as 112 → 160 → 224 → 320 nearly does): about 2× is
linear, towards 4× quadratic. `×/2×T` and `×/2×px` are the mean over the whole range.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402
from model_throughput import FAMILIES, family_config  # noqa: E402


def per_doubling(a: float, b: float, growth: float) -> float:
    """GMACs factor per doubling of the input, from `a` to `b` when it grew `growth`×."""
    return (b / a) ** (1 / math.log2(growth))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                epilog="families: " + ", ".join(FAMILIES) + "\nAny "
                                "--config.FIELD=VALUE is applied to every family's config.",
                                formatter_class=common.HelpFormatter)
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    p.add_argument("--frames", default="8,16,32", help="T values (at --t-size²)")
    p.add_argument("--t-size", type=int, default=224, help="frame size of the T sweep")
    p.add_argument("--sizes", default="112,160,224,320", help="frame sizes (at --r-frames)")
    p.add_argument("--r-frames", type=int, default=8, help="T of the resolution sweep")
    p.add_argument("--layers", type=int, default=0, help="encoder depth (0: the paper's)")
    return p


def main(argv=None) -> int:
    p = parser()
    args, overrides = common.parse(p, argv)
    families = common.names(p, args.families, FAMILIES, "families")
    from vivit_jax.evaluate import profile

    frames = [int(x) for x in args.frames.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]
    stat_side = lambda s: 32 * max(1, round(s / 32))  # noqa: E731
    rows = []
    for name in families:
        row = {"family": name}
        for t in frames:
            cfg = family_config(name, frames=t, size=args.t_size, batch=1, layers=args.layers,
                                stat_size=stat_side(args.t_size), overrides=overrides)
            row[f"T{t}"] = profile.forward_gmacs(cfg)
        for s in sizes:
            cfg = family_config(name, frames=args.r_frames, size=s, batch=1, layers=args.layers,
                                stat_size=stat_side(s), overrides=overrides)
            row[f"R{s}"] = profile.forward_gmacs(cfg)
        side = stat_side if name == "stat" else (lambda s: s)  # noqa: E731
        row["per_2x_T_steps"] = [per_doubling(row[f"T{a}"], row[f"T{b}"], b / a)
                                 for a, b in zip(frames, frames[1:])]
        row["per_2x_pixels_steps"] = [
            per_doubling(row[f"R{a}"], row[f"R{b}"], (side(b) / side(a)) ** 2)
            for a, b in zip(sizes, sizes[1:])]
        if len(frames) > 1:
            row["per_2x_T"] = per_doubling(row[f"T{frames[0]}"], row[f"T{frames[-1]}"],
                                           frames[-1] / frames[0])
        if len(sizes) > 1:
            row["per_2x_pixels"] = per_doubling(row[f"R{sizes[0]}"], row[f"R{sizes[-1]}"],
                                                (side(sizes[-1]) / side(sizes[0])) ** 2)
        row["T_steps"] = " ".join(f"{x:.2f}" for x in row["per_2x_T_steps"])
        row["px_steps"] = " ".join(f"{x:.2f}" for x in row["per_2x_pixels_steps"])
        rows.append(row)
        print(f"[{name}] done", file=sys.stderr, flush=True)
    cols = [("family", "family", "s")]
    cols += [(f"T{t}", f"T={t}", ".1f") for t in frames]
    cols += [(f"R{s}", f"{s}²", ".1f") for s in sizes]
    cols += [("T_steps", "×/2×T steps", "s"), ("per_2x_T", "×/2×T", ".2f"),
             ("px_steps", "×/2×px steps", "s"), ("per_2x_pixels", "×/2×px", ".2f")]
    print(f"forward GMACs per view (T at {args.t_size}²; sizes at T = {args.r_frames}; STAT at "
          "multiples of 32); growth per doubling of the tokens: 2× linear, 4× quadratic")
    common.print_table(rows, cols, common.machine(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
