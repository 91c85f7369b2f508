"""The convolutions of the models, forward alone and train-step style (forward +
gradients), as XLA's convolution and as `vivit_jax.models.cpu_kernels.conv` computes them on this
backend (on CPU: a reshape + matmul for patch embeddings, a multiply-add per offset for
depthwise kernels, im2col + matmul for other overlapping kernels -- except that with >= 32
input channels an undifferentiated forward runs XLA's convolution; gradients stay im2col's).

  python benchmarks/conv.py                  # every case below
  python benchmarks/conv.py --cases stat_stem_0,vivit_tubelet --calls 5

Cases: STAT's 3-conv stem and its depthwise K/V pooling at the CPU throughput case
(`model_throughput.py`: 8 frames, STAT at 128², batch 2) and at the tiny synthetic config
(8 frames of 32², batch 32); ViViT's 2×16×16 tubelet embedding at 112², batch 2.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

P1 = ((1, 1),) * 3
# name: (input shape, kernel, strides, padding, groups, output channels, input needs a grad)
CASES = {
    "stat_stem_0": ((2, 8, 128, 128, 3), (3, 3, 3), (2, 2, 2), P1, 1, 64, False),
    "stat_stem_1": ((2, 4, 64, 64, 64), (3, 3, 3), (1, 2, 2), P1, 1, 128, True),
    "stat_stem_2": ((2, 4, 32, 32, 128), (3, 3, 3), (1, 2, 2), P1, 1, 192, True),
    "stat_kv_pool": ((8, 16, 16, 192), (3, 3), (4, 4), ((1, 1),) * 2, 192, 192, True),
    "stat_tiny_stem_0": ((32, 8, 32, 32, 3), (3, 3, 3), (2, 2, 2), P1, 1, 8, False),
    "stat_tiny_stem_2": ((32, 4, 8, 8, 16), (3, 3, 3), (1, 2, 2), P1, 1, 48, True),
    "vivit_tubelet": ((2, 8, 112, 112, 3), (2, 16, 16), (2, 16, 16), ((0, 0),) * 3, 1, 768,
                      False),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=common.HelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated")
    p.add_argument("--calls", type=int, default=5, help="calls per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows (median)")
    return p


def main(argv=None) -> int:
    p = parser()
    args, _ = common.parse(p, argv)
    cases = common.names(p, args.cases, CASES, "cases")
    import jax
    import jax.numpy as jnp

    from vivit_jax.models import cpu_kernels

    rows = []
    for name in cases:
        shape, kernel, strides, padding, groups, cout, x_grad = CASES[name]
        x = jax.random.normal(jax.random.key(0), shape)
        w = jax.random.normal(jax.random.key(1), kernel + (shape[-1] // groups, cout)) * 0.05
        row = {"case": name, "input": "×".join(map(str, shape)),
               "kernel": "×".join(map(str, kernel)), "groups": groups}
        for impl, fn in (("xla", cpu_kernels.lax_conv), ("ours", cpu_kernels.conv)):
            fwd = jax.jit(lambda x, w, fn=fn: fn(x, w, strides, padding, groups))
            step = jax.jit(jax.grad(lambda x, w, fn=fn: jnp.sum(
                fn(x, w, strides, padding, groups) ** 2), argnums=(0, 1) if x_grad else 1))
            for key, f in ((f"{impl}_fwd_ms", fwd), (f"{impl}_ms", step)):
                def run(k, f=f):
                    for _ in range(k):
                        out = f(x, w)
                    jax.block_until_ready(out)

                row[key] = 1e3 / common.median_rate(run, 1, args.calls, args.repeats)
        row["fwd_speedup"] = row["xla_fwd_ms"] / row["ours_fwd_ms"]
        row["speedup"] = row["xla_ms"] / row["ours_ms"]
        rows.append(row)
        print(f"[{name}] done", file=sys.stderr, flush=True)
    print(f"forward, and forward + gradients, ms per call ({jax.default_backend()}; 'ours' = "
          "cpu_kernels.conv, which is XLA's convolution off CPU)")
    common.print_table(rows, [("case", "case", "s"), ("input", "input", "s"),
                              ("kernel", "kernel", "s"), ("groups", "groups", "d"),
                              ("xla_fwd_ms", "XLA fwd ms", ".1f"),
                              ("ours_fwd_ms", "ours fwd ms", ".1f"),
                              ("fwd_speedup", "fwd speedup", ".1f"),
                              ("xla_ms", "XLA fwd+grad ms", ".1f"),
                              ("ours_ms", "ours fwd+grad ms", ".1f"),
                              ("speedup", "speedup", ".1f")],
                       common.machine(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
