"""The model and its train state from a config: what the trainer, evaluation, conversion
and benchmarks all build on.

- `create_model(config, rngs)`: the config's model (the family registry is
  `vivit_jax.models.build_model`), in `config.dtype` (`DTYPES`).
- `setup_state(config, mesh)`: the abstract model, its logical-axis shardings, the
  optimizer and a jitted initialiser that creates the train state already sharded.
- `make_train_step` / `make_eval_step`: the pure update and evaluation functions (the
  trainer jits them with explicit shardings); the losses and hit counts they use.
- `evaluate_split(...)`: one full, masked pass of the eval step over a split.

The train state is a plain pytree `{"params", "opt", "step"}`. Nothing here imports
TensorFlow at module level (tf.data is imported only where data is read, in
`evaluate_split`), so the model, state and step builders import on a bare accelerator image.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from vivit_jax import label_sets, optim, param_groups, sharding
from vivit_jax.data import device_augment, mix, prefetch
from vivit_jax.models import build_model

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def targets(labels: jax.Array, num_classes: int, multi_label: bool, sets=()) -> jax.Array:
    """Class indices [B] → one-hot [B, K]; multi-hot [B, K] labels pass through; with label
    `sets`, per-set class ids [B, L] → the sets' one-hots side by side [B, K]."""
    if sets:
        return label_sets.joint_targets(labels, sets)
    return labels.astype(jnp.float32) if multi_label else jax.nn.one_hot(labels, num_classes)


def classification_loss(logits: jax.Array, target: jax.Array, smoothing: float,
                        multi_label: bool, sets=()) -> jax.Array:
    """Per-example loss against soft targets [B, K] (one-hot, mixed, or multi-hot).

    Single-label: softmax cross-entropy with label smoothing. Multi-label (Charades-style):
    sigmoid cross-entropy summed over classes, as Scenic does. Label `sets`: the mean of each
    set's softmax cross-entropy over its slice (`label_sets.loss`).
    """
    logits = logits.astype(jnp.float32)
    if sets:
        return label_sets.loss(logits, target, smoothing, sets)
    if multi_label:
        return optax.sigmoid_binary_cross_entropy(logits, target).sum(-1)
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / target.shape[-1]
    return optax.softmax_cross_entropy(logits, target)


def hits(logits: jax.Array, target: jax.Array, k: int = 1) -> jax.Array:
    """1 where one of the top-k predictions is a positive class of `target` [B, K]."""
    top = jax.lax.top_k(logits, min(k, logits.shape[-1]))[1]
    return (jnp.take_along_axis(target, top, axis=-1) > 0).any(-1).astype(jnp.float32)


def model_input_shape(config) -> tuple[int, int, int]:
    d = config.dataset
    return (d.num_frames, d.image_size, d.image_size)


def model_input(video: jax.Array, config) -> jax.Array:
    """The model's input from a batch's `video`: uint8 pixels (what the pipelines send) are
    normalised as `dataset.normalization`; a float video is the model's input already."""
    if video.dtype != jnp.uint8:
        return video
    d = config.dataset
    return device_augment.normalize(video, d.normalization, tuple(d.mean), tuple(d.std))


def create_model(config, rngs: nnx.Rngs) -> nnx.Module:
    if config.dtype not in DTYPES:
        raise ValueError(f"config.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}")
    return build_model(config.model, num_classes=config.dataset.num_classes,
                       input_shape=model_input_shape(config), dtype=DTYPES[config.dtype],
                       rngs=rngs)


def activation_context(config, mesh):
    """While the model is traced: its activations laid out on `mesh` by
    `config.activation_rules` (`sharding.constrain`); nothing when `mesh` is None."""
    return sharding.activation_sharding(mesh, config.get("activation_rules", ()))


def make_train_step(graphdef, tx, config, mesh=None):
    """The pure update: (state, batch, rng) → (state, metrics).

    `mesh`: the mesh the step is jitted for; its activations are then constrained by
    `config.activation_rules` (without it, XLA propagates the parameter/batch shardings).
    """
    num_classes = config.dataset.num_classes
    multi_label = config.dataset.multi_label
    sets = label_sets.of(config.dataset)
    acc_keys = ["accuracy"] + ([n for n, _ in sets] + [label_sets.ACTION] if sets else [])
    accum = int(config.grad_accum_steps)
    dtype = DTYPES[config.dtype]
    d = config.dataset
    mixing = d.mixup_alpha > 0 or d.cutmix_alpha > 0
    augment = device_augment.build(d)

    def loss_fn(params, frozen, video, target, hard, rng):
        # Gradients are taken of the trainable parameters only: frozen ones cost no backward
        # pass (nor one through what only they feed) and get no optimiser state.
        model = nnx.merge(graphdef, param_groups.merge(params, frozen))
        with activation_context(config, mesh):
            logits, _ = model(video.astype(dtype), train=True, rngs=nnx.Rngs(dropout=rng))
        loss = classification_loss(logits, target, config.label_smoothing, multi_label,
                                   sets).mean()
        if sets:  # 'accuracy' is the action's (every set right); each set's beside it.
            acc = {k: v.mean() for k, v in label_sets.hits(logits, hard, sets).items()}
            return loss, dict(acc, accuracy=acc[label_sets.ACTION])
        return loss, {"accuracy": hits(logits, hard).mean()}

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step_fn(state, batch, rng):
        rng = jax.random.fold_in(rng, state["step"])
        params, frozen = param_groups.split(state["params"], config.optim)
        hard = targets(batch["label"], num_classes, multi_label, sets)
        # The recipe's photometric ops and normalisation on the uint8 clips, keyed by (seed,
        # step) like everything else here: a resumed run draws what the uninterrupted one did.
        video = augment(batch["video"], jax.random.fold_in(rng, 2**31 - 2))
        target = hard
        if mixing:  # Mixup / CutMix on device; accuracy is still measured on the clean labels.
            video, target = mix.mixup_cutmix(
                jax.random.fold_in(rng, 2**31 - 1), video, target, mixup_alpha=d.mixup_alpha,
                cutmix_alpha=d.cutmix_alpha, switch_prob=d.mix_switch_prob)
        batch = {"video": video, "target": target, "hard": hard}
        if accum == 1:
            (loss, acc), grads = grad_fn(params, frozen, video, target, hard, rng)
        else:
            # Micro-batches of the global batch; gradients averaged (same as one big batch).
            micro = jax.tree.map(
                lambda x: x.reshape((accum, x.shape[0] // accum) + x.shape[1:]), batch)

            def body(carry, inp):
                i, mb = inp
                (ls, a), g = grad_fn(params, frozen, mb["video"], mb["target"], mb["hard"],
                                     jax.random.fold_in(rng, i))
                return jax.tree.map(jnp.add, carry, (ls, a, g)), None

            zeros = (0.0, {k: 0.0 for k in acc_keys}, jax.tree.map(jnp.zeros_like, params))
            (loss, acc, grads), _ = jax.lax.scan(body, zeros, (jnp.arange(accum), micro))
            loss, acc, grads = jax.tree.map(lambda x: x / accum, (loss, acc, grads))
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        # A non-finite loss or gradient leaves the state untouched; the host stops on the flag.
        (new_params, opt), param_norm = optim.guarded_update(tx, grads, params, state["opt"],
                                                             finite)
        if frozen:  # The norm of all parameters, frozen ones included.
            param_norm = jnp.hypot(param_norm, optax.tree.norm(frozen))
        new_state = {"params": param_groups.merge(new_params, frozen), "opt": opt,
                     "step": state["step"] + 1}
        acc = {k if k == "accuracy" else f"{k}_accuracy": v for k, v in acc.items()}
        return new_state, {"loss": loss, **acc, "grad_norm": grad_norm,
                           "param_norm": param_norm, "finite": finite & jnp.isfinite(param_norm)}

    return step_fn


def make_eval_step(graphdef, config, mesh=None):
    """(params, batch) → summed {loss, correct, top5, count} over real (unpadded) examples.

    `mesh`: as `make_train_step`'s (activation constraints)."""
    num_classes = config.dataset.num_classes
    multi_label = config.dataset.multi_label
    sets = label_sets.of(config.dataset)
    dtype = DTYPES[config.dtype]

    def eval_fn(params, batch):
        model = nnx.merge(graphdef, params)
        with activation_context(config, mesh):
            logits, _ = model(model_input(batch["video"], config).astype(dtype), train=False)
        mask = batch["mask"]
        target = targets(batch["label"], num_classes, multi_label, sets)
        loss = classification_loss(logits, target, 0.0, multi_label, sets)
        if sets:  # 'correct'/'top5' are the action's; each set's as '<set>_correct'/'_top5'.
            h1, h5 = (label_sets.hits(logits, target, sets, k) for k in (1, 5))
            out = {f"{n}_{m}": (h[n] * mask).sum() for n in h1 for m, h in
                   (("correct", h1), ("top5", h5))}
            correct, top5 = h1[label_sets.ACTION], h5[label_sets.ACTION]
        else:
            out, correct, top5 = {}, hits(logits, target, 1), hits(logits, target, 5)
        return {**out, "loss": (loss * mask).sum(), "correct": (correct * mask).sum(),
                "top5": (top5 * mask).sum(), "count": mask.sum()}

    return eval_fn


def evaluate_split(eval_step, params, config, split: str, batch_sh) -> dict[str, float]:
    """One full pass over `split`; every example counted once (padding masked)."""
    from vivit_jax.data import pipeline

    totals: dict[str, float] = {}
    # Eval batches are padded and masked, so the batch is rounded up to fill every shard.
    shards = batch_sh.mesh.shape["data"] * batch_sh.mesh.shape["fsdp"]
    global_batch = -(-config.eval_batch_size // shards) * shards
    it = pipeline.eval_iterator(config.dataset, split, global_batch_size=global_batch,
                                process_index=jax.process_index(),
                                process_count=jax.process_count())
    for batch in it:
        batch = to_global(batch, batch_sh)
        out = jax.device_get(eval_step(params, batch))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    n = max(totals.get("count", 0.0), 1.0)
    per_set = {k.replace("_correct", "_top1"): v / n for k, v in totals.items()
               if k.endswith(("_correct", "_top5"))}  # Label sets: noun_top1, action_top5…
    return {"loss": totals.get("loss", 0.0) / n, "top1": totals.get("correct", 0.0) / n,
            "top5": totals.get("top5", 0.0) / n, **per_set,
            "num_examples": totals.get("count", 0.0)}


to_global = prefetch.to_global  # This process's rows of a batch → global arrays.


@dataclasses.dataclass
class StateSetup:
    """What the trainer (and benchmarks, tests) need to build a sharded train state."""
    graphdef: Any
    abstract_params: dict
    param_sh: dict
    state_sh: dict
    tx: optax.GradientTransformation
    schedule: optax.Schedule
    init_state: Any  # jitted rng → state, created directly with `state_sh`.
    num_params: int


def setup_state(config: ml_collections.ConfigDict, mesh) -> StateSetup:
    """Abstract model → logical axes → shardings → a jitted, sharded initialiser.

    Parameters are created already sharded (`out_shardings`), never on one host first.
    """
    abstract_model = nnx.eval_shape(lambda: create_model(config, nnx.Rngs(0)))
    graphdef, abstract_state = nnx.split(abstract_model, nnx.Param)
    axes = sharding.logical_axes(abstract_state)
    abstract_params = nnx.to_pure_dict(abstract_state)
    num_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(abstract_params))
    sharding.check_rules(config.sharding_rules, "sharding_rules")
    sharding.check_rules(config.get("activation_rules", ()), "activation_rules",
                         sharding.ACTIVATION_AXES)
    tx, schedule = optim.make_optimizer(config.optim, abstract_params, config.num_train_steps)
    repl = sharding.replicated(mesh)
    param_sh = sharding.param_shardings(abstract_params, axes, mesh, config.sharding_rules)
    # The optimiser sees the trainable parameters only (`config.optim.frozen`, `train_only`).
    abstract_opt = jax.eval_shape(tx.init, param_groups.split(abstract_params, config.optim)[0])
    opt_sh = optax.tree_map_params(
        tx, lambda _, s: s, abstract_opt,
        param_groups.split(param_sh, config.optim, params=abstract_params)[0],
        transform_non_params=lambda _: repl)
    state_sh = {"params": param_sh, "opt": opt_sh, "step": repl}

    @functools.partial(jax.jit, out_shardings=state_sh)
    def init_state(rng):
        params = nnx.to_pure_dict(nnx.state(create_model(config, nnx.Rngs(rng)), nnx.Param))
        return {"params": params, "opt": tx.init(param_groups.split(params, config.optim)[0]),
                "step": jnp.zeros((), jnp.int32)}

    return StateSetup(graphdef, abstract_params, param_sh, state_sh, tx, schedule, init_state,
                      num_params)
