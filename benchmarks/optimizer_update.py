r"""The optimiser update of a train step alone, in the two forms of the trainer's guard
against non-finite steps (`optim.guarded_update`): a `cond` around the update (the default
on CPU) and a `where(finite, new, old)` per leaf (the default on GPU and TPU; on CPU too
until 2026-12-02), on a model's real parameter tree (issue 8).

  python benchmarks/optimizer_update.py        # ViViT-B (86.7 M params), SGD and AdamW
  python benchmarks/optimizer_update.py --family timesformer_divided --optimizers adamw

The update is memory-bound: each pass over the parameters moves ~350 MB at ViT-B. With a
`where` per leaf XLA:CPU materialises the new state beside the old one and selects between
them; under a `cond` the update runs as in-place loops. Both forms also reduce the new
parameters' norm (the trainer's overflow check). `unguarded` is the bare `tx.update` +
`apply_updates`, for reference.
SGD: Scenic's ViViT recipe (momentum 0.9, clipping at global norm 1, which adds a norm and a
scaling pass); AdamW: the peers benchmark's (weight decay 0.01, no clipping). Each figure:
the median of `--repeats` windows of `--calls` jitted updates (state donated).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402
import model_throughput  # noqa: E402

OPTIMIZERS = {  # name -> overrides: Scenic's ViViT recipe; the peers benchmark's AdamW.
    "sgd": ("--config.optim.name=sgd", "--config.optim.momentum=0.9",
            "--config.optim.nesterov=False", "--config.optim.weight_decay=0.0",
            "--config.optim.grad_clip_norm=1.0"),
    "adamw": ("--config.optim.name=adamw", "--config.optim.weight_decay=0.01",
              "--config.optim.grad_clip_norm=0"),
}
FORMS = ("where", "cond", "unguarded")


def forms(tx):
    """form -> (state, grads, finite) -> (state, scalar) for each form in `FORMS`."""
    import optax

    from vivit_jax import optim

    def guarded(form):
        return lambda state, grads, finite: optim.guarded_update(tx, grads, *state, finite,
                                                                 form=form)

    def unguarded(state, grads, finite):
        params, opt = state
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), finite

    return {"where": guarded("where"), "cond": guarded("cond"), "unguarded": unguarded}


def measure(family: str, optimizer: str, args, overrides) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from vivit_jax import sharding
    from vivit_jax import state as state_lib

    cfg = model_throughput.family_config(
        family, frames=args.frames, size=args.size, batch=2, layers=args.layers,
        overrides=(*OPTIMIZERS[optimizer], "--config.optim.warmup_steps=0", *overrides))
    mesh = sharding.make_mesh(cfg.mesh, jax.devices()[:1])
    setup = state_lib.setup_state(cfg, mesh)
    init = setup.init_state(jax.random.key(0))
    rng = np.random.default_rng(0)
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(0, 1e-3, p.shape), p.dtype),
                         init["params"])
    finite = jnp.asarray(True)
    nbytes = sum(x.nbytes for x in jax.tree.leaves(init["params"]))
    rows = []
    for form, fn in forms(setup.tx).items():
        step = jax.jit(fn, donate_argnums=0)
        state = jax.tree.map(jnp.copy, (init["params"], init["opt"]))

        def run(k, step=step):
            nonlocal state
            for _ in range(k):
                state, out = step(state, grads, finite)
            jax.block_until_ready(out)

        ms = 1e3 / common.median_rate(run, 1, args.calls, args.repeats)
        rows.append({"family": family, "optimizer": optimizer, "form": form,
                     "params": setup.num_params, "param_mib": nbytes / 2**20, "ms": ms})
        print(f"[{family} {optimizer}] {form}: {ms:.1f} ms", file=sys.stderr, flush=True)
        del state
    base = next(r["ms"] for r in rows if r["form"] == "where")
    for r in rows:
        r["where_over_this"] = base / r["ms"]
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=common.HelpFormatter)
    p.add_argument("--family", default="vivit_st",
                   help="a model_throughput family: its Kinetics config's parameter tree")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated")
    p.add_argument("--frames", type=int, default=8, help="frames (sets the position tables)")
    p.add_argument("--size", type=int, default=112, help="frame size")
    p.add_argument("--layers", type=int, default=0, help="encoder depth (0: the config's)")
    p.add_argument("--calls", type=int, default=5, help="updates per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows (median)")
    return p


def main(argv=None) -> int:
    p = parser()
    args, overrides = common.parse(p, argv)
    common.names(p, args.family, model_throughput.FAMILIES, "family")
    rows = []
    for opt in common.names(p, args.optimizers, OPTIMIZERS, "optimizers"):
        rows += measure(args.family, opt, args, tuple(overrides))
    common.print_table(rows, [("family", "family", "s"), ("optimizer", "optimizer", "s"),
                              ("form", "form", "s"), ("params", "params", ",d"),
                              ("ms", "ms/update", ".1f"),
                              ("where_over_this", "where / this", ".2f")],
                       common.machine(__file__, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
