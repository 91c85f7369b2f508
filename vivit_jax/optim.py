"""Optimiser from the config: AdamW or SGD+momentum, warmup + schedule, clipping, masked decay;
the guarded update the train step applies it with."""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vivit_jax import param_groups

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "linear", "step", "constant")


def make_schedule(optim: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """Linear warmup from 0 to `optim.lr`, then the named decay until `num_steps`."""
    if optim.schedule not in SCHEDULES:
        raise ValueError(f"optim.schedule={optim.schedule!r}: expected one of {SCHEDULES}")
    warmup = int(optim.warmup_steps)
    if warmup >= num_steps and num_steps > 0 and optim.schedule != "constant":
        raise ValueError(f"optim.warmup_steps={warmup} must be < num_train_steps={num_steps}: "
                         f"a shorter run needs a shorter warm-up too, e.g. "
                         f"--config.optim.warmup_steps={num_steps // 10}")
    peak, end = optim.lr, optim.lr * optim.end_lr_factor
    decay_steps = max(num_steps - warmup, 1)
    if optim.schedule == "cosine":
        main = optax.cosine_decay_schedule(peak, decay_steps, alpha=optim.end_lr_factor)
    elif optim.schedule == "linear":
        main = optax.linear_schedule(peak, end, decay_steps)
    elif optim.schedule == "step":
        bounds = {int(round(f * num_steps)) - warmup: optim.step_decay
                  for f in optim.step_boundaries}
        main = optax.piecewise_constant_schedule(peak, {k: v for k, v in bounds.items() if k > 0})
    else:
        main = optax.constant_schedule(peak)
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), main], [warmup])


def decay_mask(params, patterns) -> dict:
    """True for parameters that get weight decay: those whose path matches no pattern."""
    regexes = [re.compile(p) for p in patterns]

    def keep(path, _):
        name = param_groups.path_name(path)
        return not any(r.search(name) for r in regexes)
    return jax.tree_util.tree_map_with_path(keep, params)


def make_optimizer(optim: ml_collections.ConfigDict, params, num_steps: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax chain for the trainable part of `params` (a pure-dict tree, real or
    abstract: `param_groups.split(params, optim)[0]`, all of it without frozen groups) and its
    schedule; per-group learning-rate factors scale its final update."""
    if optim.name not in OPTIMIZERS:
        raise ValueError(f"optim.name={optim.name!r}: expected one of {OPTIMIZERS}")
    schedule = make_schedule(optim, num_steps)
    # Layer ids count every layer, frozen ones too: the factors are taken on the whole tree.
    full = params
    multipliers = param_groups.lr_multipliers(full, optim)
    params = param_groups.split(full, optim)[0]
    mask = decay_mask(params, optim.no_decay)
    parts = []
    if optim.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(optim.grad_clip_norm))
    if optim.name == "adamw":
        parts.append(optax.adamw(schedule, b1=optim.b1, b2=optim.b2, eps=optim.eps,
                                 weight_decay=optim.weight_decay, mask=mask))
    else:
        if optim.weight_decay:
            parts.append(optax.add_decayed_weights(optim.weight_decay, mask))
        parts.append(optax.sgd(schedule, momentum=optim.momentum, nesterov=optim.nesterov))
    if multipliers is not None:
        parts.append(param_groups.scale_updates(param_groups.split(multipliers, optim,
                                                                   params=full)[0]))
    return optax.chain(*parts), schedule


GUARD_FORMS = ("cond", "where")


def guarded_update(tx: optax.GradientTransformation, grads, params, opt, finite: jax.Array,
                   *, form: str | None = None):
    """`tx`'s update of `(params, opt)` when `finite`, else both unchanged; and the parameters'
    global norm after it.

    A non-finite norm flags an update that overflowed the parameters (e.g. a runaway learning
    rate); the trainer stops on it before anything of that step is saved. `form`:
    - 'cond' (the default on CPU): the update under a `lax.cond`. XLA:CPU then runs it as
      in-place loops; with a `where` it materialises the new state beside the old and selects
      (ViViT-B's update alone: 1.2-4.9× slower by optimiser, and the copy raises the step's
      peak memory; `benchmarks/optimizer_update.py`).
    - 'where' (the default elsewhere): `where(finite, new, old)` per leaf, which GPU and TPU
      compilers fuse into the update's own loops, and which keeps a conditional (on GPU a
      device-to-host read of the predicate) out of the step.
    """
    form = form or ("cond" if jax.default_backend() == "cpu" else "where")
    if form not in GUARD_FORMS:
        raise ValueError(f"guarded_update form={form!r}: expected one of {GUARD_FORMS}")

    def update(params_opt):
        params, opt = params_opt
        updates, opt = tx.update(grads, opt, params)
        params = optax.apply_updates(params, updates)
        return (params, opt), optax.tree.norm(params)

    if form == "cond":
        return jax.lax.cond(finite, update, lambda po: (po, optax.tree.norm(po[0])),
                            (params, opt))
    new, _ = update((params, opt))  # Its norm is dead code: the kept tree's is taken once.
    keep = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, (params, opt))
    return keep, optax.tree.norm(keep[0])
