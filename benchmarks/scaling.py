"""Forward GMACs per view of every family as T and as the resolution grow (issue 8): joint
attention grows quadratically in the token count, factorised / separable about linearly.

  python benchmarks/scaling.py [--frames 8,16,32] [--sizes 112,160,224,320]

Shapes only (the models are never allocated: `vivit_jax.evaluate.profile`), so this runs in
a minute on any machine. For each family, the growth factor per doubling of T (at 224²) and
per doubling of the pixel count (at T = 8) is printed: 4× is quadratic, 2× linear.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402
from model_throughput import FAMILIES, family_config  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--frames", default="8,16,32")
    p.add_argument("--sizes", default="112,160,224,320")
    p.add_argument("--layers", type=int, default=0)
    args = p.parse_args(argv)

    from vivit_jax.evaluate import profile

    frames = [int(x) for x in args.frames.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    for name in args.families.split(","):
        row = {"family": name}
        for t in frames:
            cfg = family_config(name, frames=t, size=224, batch=1, layers=args.layers,
                                stat_size=224)
            row[f"T{t}"] = profile.forward_gmacs(cfg)
        for s in sizes:
            size = s if name != "stat" else 32 * round(s / 32)
            cfg = family_config(name, frames=8, size=size, batch=1, layers=args.layers,
                                stat_size=size)
            row[f"R{s}"] = profile.forward_gmacs(cfg)
        # Growth per doubling of T and of the pixel count (log-log slope).
        row["per_2x_T"] = (row[f"T{frames[-1]}"] / row[f"T{frames[0]}"]) ** (
            1 / math.log2(frames[-1] / frames[0]))
        pix = (sizes[-1] / sizes[0]) ** 2
        row["per_2x_pixels"] = (row[f"R{sizes[-1]}"] / row[f"R{sizes[0]}"]) ** (1 / math.log2(pix))
        rows.append(row)
        print(f"[{name}] done", file=sys.stderr, flush=True)
    cols = [("family", "family", "s")]
    cols += [(f"T{t}", f"T={t}", ".1f") for t in frames]
    cols += [(f"R{s}", f"{s}²", ".1f") for s in sizes]
    cols += [("per_2x_T", "×/2×T", ".2f"), ("per_2x_pixels", "×/2×pixels", ".2f")]
    print("forward GMACs per view (T at 224²; resolutions at T = 8; STAT at multiples of 32)")
    common.print_table(rows, cols, common.machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
