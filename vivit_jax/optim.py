"""Optimiser from the config: AdamW or SGD+momentum, warmup + schedule, clipping, masked decay."""
from __future__ import annotations

import re

import jax
import ml_collections
import optax

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "linear", "step", "constant")


def make_schedule(optim: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """Linear warmup from 0 to `optim.lr`, then the named decay until `num_steps`."""
    if optim.schedule not in SCHEDULES:
        raise ValueError(f"optim.schedule={optim.schedule!r}: expected one of {SCHEDULES}")
    warmup = int(optim.warmup_steps)
    if warmup >= num_steps and num_steps > 0 and optim.schedule != "constant":
        raise ValueError(f"optim.warmup_steps={warmup} must be < num_train_steps={num_steps}")
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
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        return not any(r.search(name) for r in regexes)
    return jax.tree_util.tree_map_with_path(keep, params)


def make_optimizer(optim: ml_collections.ConfigDict, params, num_steps: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax chain for `params` (a pure-dict tree, real or abstract) and its schedule."""
    if optim.name not in OPTIMIZERS:
        raise ValueError(f"optim.name={optim.name!r}: expected one of {OPTIMIZERS}")
    schedule = make_schedule(optim, num_steps)
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
    return optax.chain(*parts), schedule
