"""The trainer: one `train_and_evaluate(config, workdir)`, in the order a reader needs it.

logging → mesh → input → model & optimizer → shard & init → update step → checkpoint
→ evals → loop. The train state is a plain pytree `{"params", "opt", "step"}`; the update
step is a pure function (`nnx.merge` of the graph with the params inside it), jitted with
explicit shardings and a donated state.

tf.data (`vivit_jax.data.pipeline`) is imported only where data is read, so the model, state
and step builders here import without TensorFlow (`benchmarks/mfu.py` on a bare accelerator
image, `vivit-profile`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import cluster, metric_writers, optim, sharding
from vivit_jax.convert.init_from import load_init
from vivit_jax.data import mix
from vivit_jax.models import build_model

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN/Inf; the message names the step."""


def _log(msg: str) -> None:
    if jax.process_index() == 0:
        print(msg, flush=True)


def targets(labels: jax.Array, num_classes: int, multi_label: bool) -> jax.Array:
    """Class indices [B] → one-hot [B, K]; multi-hot [B, K] labels pass through."""
    return labels.astype(jnp.float32) if multi_label else jax.nn.one_hot(labels, num_classes)


def classification_loss(logits: jax.Array, target: jax.Array, smoothing: float,
                        multi_label: bool) -> jax.Array:
    """Per-example loss against soft targets [B, K] (one-hot, mixed, or multi-hot).

    Single-label: softmax cross-entropy with label smoothing. Multi-label (Charades-style):
    sigmoid cross-entropy summed over classes, as Scenic does.
    """
    logits = logits.astype(jnp.float32)
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


def create_model(config, rngs: nnx.Rngs) -> nnx.Module:
    if config.dtype not in DTYPES:
        raise ValueError(f"config.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}")
    return build_model(config.model, num_classes=config.dataset.num_classes,
                       input_shape=model_input_shape(config), dtype=DTYPES[config.dtype],
                       rngs=rngs)


def make_train_step(graphdef, tx, config):
    """The pure update: (state, batch, rng) → (state, metrics)."""
    num_classes = config.dataset.num_classes
    multi_label = config.dataset.multi_label
    accum = int(config.grad_accum_steps)
    dtype = DTYPES[config.dtype]
    d = config.dataset
    mixing = d.mixup_alpha > 0 or d.cutmix_alpha > 0

    def loss_fn(params, video, target, hard, rng):
        model = nnx.merge(graphdef, params)
        logits, _ = model(video.astype(dtype), train=True, rngs=nnx.Rngs(dropout=rng))
        loss = classification_loss(logits, target, config.label_smoothing, multi_label).mean()
        return loss, hits(logits, hard).mean()

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step_fn(state, batch, rng):
        rng = jax.random.fold_in(rng, state["step"])
        params = state["params"]
        hard = targets(batch["label"], num_classes, multi_label)
        video, target = batch["video"], hard
        if mixing:  # Mixup / CutMix on device; accuracy is still measured on the clean labels.
            video, target = mix.mixup_cutmix(
                jax.random.fold_in(rng, 2**31 - 1), video, target, mixup_alpha=d.mixup_alpha,
                cutmix_alpha=d.cutmix_alpha, switch_prob=d.mix_switch_prob)
        batch = {"video": video, "target": target, "hard": hard}
        if accum == 1:
            (loss, acc), grads = grad_fn(params, video, target, hard, rng)
        else:
            # Micro-batches of the global batch; gradients averaged (same as one big batch).
            micro = jax.tree.map(
                lambda x: x.reshape((accum, x.shape[0] // accum) + x.shape[1:]), batch)

            def body(carry, inp):
                i, mb = inp
                (ls, a), g = grad_fn(params, mb["video"], mb["target"], mb["hard"],
                                     jax.random.fold_in(rng, i))
                return jax.tree.map(jnp.add, carry, (ls, a, g)), None

            zeros = (0.0, 0.0, jax.tree.map(jnp.zeros_like, params))
            (loss, acc, grads), _ = jax.lax.scan(body, zeros, (jnp.arange(accum), micro))
            loss, acc, grads = jax.tree.map(lambda x: x / accum, (loss, acc, grads))
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        # A non-finite loss or gradient leaves the state untouched; the host stops on the flag.
        (new_params, opt), param_norm = optim.guarded_update(tx, grads, params, state["opt"],
                                                             finite)
        new_state = {"params": new_params, "opt": opt, "step": state["step"] + 1}
        return new_state, {"loss": loss, "accuracy": acc, "grad_norm": grad_norm,
                           "param_norm": param_norm, "finite": finite & jnp.isfinite(param_norm)}

    return step_fn


def make_eval_step(graphdef, config):
    """(params, batch) → summed {loss, correct, top5, count} over real (unpadded) examples."""
    num_classes = config.dataset.num_classes
    multi_label = config.dataset.multi_label
    dtype = DTYPES[config.dtype]

    def eval_fn(params, batch):
        model = nnx.merge(graphdef, params)
        logits, _ = model(batch["video"].astype(dtype), train=False)
        mask = batch["mask"]
        target = targets(batch["label"], num_classes, multi_label)
        loss = classification_loss(logits, target, 0.0, multi_label)
        correct, top5 = hits(logits, target, 1), hits(logits, target, 5)
        return {"loss": (loss * mask).sum(), "correct": (correct * mask).sum(),
                "top5": (top5 * mask).sum(), "count": mask.sum()}

    return eval_fn


def evaluate(eval_step, params, config, split: str, batch_sh) -> dict[str, float]:
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
        batch = _to_global(batch, batch_sh)
        out = jax.device_get(eval_step(params, batch))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    n = max(totals.get("count", 0.0), 1.0)
    return {"loss": totals.get("loss", 0.0) / n, "top1": totals.get("correct", 0.0) / n,
            "top5": totals.get("top5", 0.0) / n, "num_examples": totals.get("count", 0.0)}


def _to_global(local_batch: dict[str, np.ndarray], batch_sh) -> dict[str, jax.Array]:
    return {k: jax.make_array_from_process_local_data(batch_sh, np.asarray(v))
            for k, v in local_batch.items()}


def as_path(path: str):
    """Local paths become absolute pathlib paths; `gs://…` and other URLs stay epath paths
    (Orbax and tf.io.gfile write them), so a pod's workers can share one workdir."""
    if "://" in str(path):
        from etils import epath
        return epath.Path(path)
    return pathlib.Path(path).absolute()


def check_workdir(workdir: pathlib.Path) -> bool:
    """Fails early, naming the directory, if it cannot be written; True if it was created."""
    try:
        created = not workdir.exists()
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_probe_{jax.process_index()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"workdir {str(workdir)!r} is not writable: {e.strerror}") from None
    return created


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
    tx, schedule = optim.make_optimizer(config.optim, abstract_params, config.num_train_steps)
    repl = sharding.replicated(mesh)
    param_sh = sharding.param_shardings(abstract_params, axes, mesh, config.sharding_rules)
    abstract_opt = jax.eval_shape(tx.init, abstract_params)
    opt_sh = optax.tree_map_params(tx, lambda _, s: s, abstract_opt, param_sh,
                                   transform_non_params=lambda _: repl)
    state_sh = {"params": param_sh, "opt": opt_sh, "step": repl}

    @functools.partial(jax.jit, out_shardings=state_sh)
    def init_state(rng):
        params = nnx.to_pure_dict(nnx.state(create_model(config, nnx.Rngs(rng)), nnx.Param))
        return {"params": params, "opt": tx.init(params), "step": jnp.zeros((), jnp.int32)}

    return StateSetup(graphdef, abstract_params, param_sh, state_sh, tx, schedule, init_state,
                      num_params)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       devices=None, stop_at_step: int | None = None) -> dict[str, Any]:
    """Trains (resuming from `workdir` if it has checkpoints) and returns final metrics.

    `devices` restricts the mesh to a subset of `jax.devices()` (default: all).
    `stop_at_step` ends this run early at that step with a checkpoint, as a preemption
    would; the next call resumes from it and continues the same curve.

    Nothing is written into the workdir until the run is known to fit it: its data splits
    are found, its checkpoint (if any) matches the model, `init_from` is loaded. A refused
    run leaves the workdir byte-identical (and removes it again if it created it empty).
    """
    workdir = as_path(workdir)
    created = check_workdir(workdir)
    try:
        return _train_and_evaluate(config, workdir, devices, stop_at_step)
    except BaseException:
        if created and "://" not in str(workdir):
            try:
                os.rmdir(workdir)  # Only if still empty: a refused run leaves nothing behind.
            except OSError:
                pass
        raise


def _train_and_evaluate(config, workdir, devices, stop_at_step) -> dict[str, Any]:
    # ----------------------------------------------------------------------------------
    # Logging and workdir (written once the run is known to fit it, below).
    # ----------------------------------------------------------------------------------
    is_main = jax.process_index() == 0
    writer = None

    # ----------------------------------------------------------------------------------
    # Mesh.
    # ----------------------------------------------------------------------------------
    mesh = sharding.make_mesh(config.mesh, devices)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    _log(f"devices: {mesh.size} × {mesh.devices.flat[0].platform} "
         f"({jax.process_count()} process(es)); mesh {dict(mesh.shape)}")
    n_batch_shards = mesh.shape["data"] * mesh.shape["fsdp"]
    if config.batch_size % n_batch_shards:
        raise ValueError(f"config.batch_size={config.batch_size} is not divisible by the "
                         f"data×fsdp mesh size {n_batch_shards}")
    if config.eval_batch_size % n_batch_shards:
        _log(f"eval batch {config.eval_batch_size} rounded up to a multiple of the data×fsdp "
             f"mesh size {n_batch_shards} (padding is masked)")
    if config.batch_size % config.grad_accum_steps:
        raise ValueError(f"config.batch_size={config.batch_size} is not divisible by "
                         f"config.grad_accum_steps={config.grad_accum_steps}")

    # ----------------------------------------------------------------------------------
    # Input.
    # ----------------------------------------------------------------------------------
    from vivit_jax.data import pipeline

    data_dir = pipeline.resolve_data_dir(config.dataset)
    d = config.dataset
    # Every split the run reads is found now, not after hours of training: a missing eval
    # split stops the run here; a missing test split (an extra, final evaluation) is skipped.
    counts = {s: pipeline.num_examples(d, s) for s in (d.train_split, d.eval_split)}
    test_split = d.test_split if config.eval_test_split else ""
    if test_split:
        try:
            counts[test_split] = pipeline.num_examples(d, test_split)
        except FileNotFoundError as e:
            _log(f"note: {e}: the final '{test_split}' evaluation is skipped "
                 f"(--config.eval_test_split=False silences this)")
            test_split = ""
    _log(f"data: {d.name} from {data_dir}; "
         + ", ".join(f"{n} {s} clips" for s, n in counts.items()))

    # ----------------------------------------------------------------------------------
    # Model, optimizer, shardings (abstract until init_state runs, already sharded).
    # ----------------------------------------------------------------------------------
    setup = setup_state(config, mesh)
    graphdef, tx, schedule = setup.graphdef, setup.tx, setup.schedule
    param_sh, state_sh, init_state = setup.param_sh, setup.state_sh, setup.init_state
    _log(f"model: {config.model.family} {config.model.variant}, {setup.num_params:,} "
         f"parameters, input {model_input_shape(config)}, compute {config.dtype}")
    if config.dtype == "bfloat16" and jax.default_backend() == "cpu":
        _log("note: XLA:CPU runs bfloat16 compute slower than float32 (its bf16 matmuls; "
             "BENCHMARKS.md, 'bf16 on CPU'): --config.dtype=float32 is the fast setting here")

    # ----------------------------------------------------------------------------------
    # Update and eval steps.
    # ----------------------------------------------------------------------------------
    train_step = jax.jit(make_train_step(graphdef, tx, config),
                         in_shardings=(state_sh, batch_sh, repl),
                         out_shardings=(state_sh, repl), donate_argnums=(0,))
    eval_step = jax.jit(make_eval_step(graphdef, config),
                        in_shardings=(param_sh, batch_sh), out_shardings=repl)

    # ----------------------------------------------------------------------------------
    # Checkpoint: resume if the workdir has one.
    # ----------------------------------------------------------------------------------
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=config.checkpoint_every_steps,
                                 keep=config.keep_checkpoints)
    latest = ckpt.latest_step()
    root_rng = jax.random.key(config.seed)
    preemption = cluster.PreemptionWatcher()
    try:  # From the restore on, a failure closes the checkpointer first (below).
        if latest is not None:
            abstract = ckpt_lib.abstract_with_shardings(jax.eval_shape(init_state, root_rng),
                                                        state_sh)
            state = ckpt.restore(latest, abstract)
            _log(f"resumed from {ckpt.directory}/{latest}")
        else:
            state = init_state(jax.random.fold_in(root_rng, 0))
            if config.init_from.checkpoint:  # Fine-tuning: see vivit_jax/convert/init_from.py.
                state["params"] = jax.device_put(load_init(state["params"], config, log=_log),
                                                 param_sh)
        start_step = int(jax.device_get(state["step"]))
        # The run fits the workdir (data found, checkpoint or init_from loaded): write.
        if is_main:
            (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
        writer = metric_writers.MetricWriter(workdir, enabled=is_main)

        # ------------------------------------------------------------------------------
        # Train loop.
        # ------------------------------------------------------------------------------
        total = config.num_train_steps
        train_iter = pipeline.train_iterator(
            config.dataset, global_batch_size=config.batch_size, seed=config.seed,
            start_step=start_step, process_index=jax.process_index(),
            process_count=jax.process_count())
        progress = metric_writers.Progress(total, start_step, config.batch_size, enabled=is_main)
        dropout_rng = jax.random.fold_in(root_rng, 1)
        _log(f"training steps {start_step}→{total}, global batch {config.batch_size}; "
             f"workdir {workdir}")
        pending = None  # Metrics of the previous step, read one step late (keeps dispatch async).
        final_eval: dict[str, float] = {}
        last_log: dict[str, float] = {}
        t_train = time.perf_counter()
        step = saved_step = start_step
        last = total if stop_at_step is None else min(total, stop_at_step)
        for step in range(start_step + 1, last + 1):
            with jax.profiler.StepTraceAnnotation("train", step_num=step):
                try:
                    local_batch = next(train_iter)
                except pipeline.CorruptData as e:
                    # A damaged shard: keep the last completed step, then stop naming it.
                    if pending is not None and saved_step != step - 1:
                        _check_finite(*pending)
                        ckpt.save(step - 1, state, force=True)
                        ckpt.wait()
                    last_ckpt = ckpt.latest_step()
                    raise pipeline.CorruptData(
                        f"{e}; training stopped before step {step}, " + (
                            f"the last checkpoint is step {last_ckpt}" if last_ckpt is not None
                            else "no checkpoint was written")) from None
                state, metrics = train_step(state, _to_global(local_batch, batch_sh),
                                            dropout_rng)
            ckpt.poll()  # A checkpoint that failed in the background stops the run here.
            if pending is not None:
                _check_finite(*pending)
            pending = (step, metrics)
            if step == start_step + 1:
                jax.block_until_ready(metrics)
                progress.mark_compiled(step)
            if step % config.log_every_steps == 0 or step == total:
                _check_finite(*pending)
                m = {k: float(v) for k, v in jax.device_get(metrics).items() if k != "finite"}
                m["lr"] = float(schedule(step - 1))
                rate = progress.rate(step)
                m["clips_per_s"] = rate
                writer.write(step, "train", m)
                progress.report(step, rate, {k: m[k] for k in ("loss", "accuracy", "lr")})
                last_log = m
            if step % config.checkpoint_every_steps == 0 and step != total:
                _check_finite(*pending)
                ckpt.save(step, state)
                saved_step = step
            if preemption.should_stop():
                _log(f"SIGTERM received: checkpointing step {step} and stopping; start the same "
                     f"command again to resume")
                break
            if (config.eval_every_steps and step % config.eval_every_steps == 0) or step == total:
                final_eval = evaluate(eval_step, state["params"], config,
                                      config.dataset.eval_split, batch_sh)
                writer.write(step, config.dataset.eval_split, final_eval)
                _log(f"step {step}: {config.dataset.eval_split} top1 {final_eval['top1']:.4f} "
                     f"top5 {final_eval['top5']:.4f} loss {final_eval['loss']:.4f} "
                     f"({int(final_eval['num_examples'])} clips)")
        if pending is not None:
            _check_finite(*pending)
        if step > start_step and saved_step != step:
            ckpt.save(step, state, force=True)
        ckpt.wait()
    except BaseException:
        # A restore that does not fit, divergence, a failed save or an interrupt: let in-flight
        # checkpoint writes finish so every checkpoint saved before the failure stays intact
        # (and Orbax's threads print nothing at exit over the error), then re-raise.
        try:
            ckpt.close()
        finally:
            preemption.restore()
            if writer is not None:
                writer.close()
        raise
    ckpt.close()
    preemption.restore()
    if preemption.stopped:
        writer.close()
        return {"step": step, "preempted": True, "train": last_log}
    train_seconds = time.perf_counter() - t_train

    results: dict[str, Any] = {"step": step, "train_seconds": round(train_seconds, 1),
                               "train": last_log, config.dataset.eval_split: final_eval}
    if not final_eval and step == total:  # Resumed a finished run: evaluate once more.
        results[config.dataset.eval_split] = evaluate(eval_step, state["params"], config,
                                                      config.dataset.eval_split, batch_sh)
    if test_split:
        test = evaluate(eval_step, state["params"], config, test_split, batch_sh)
        writer.write(step, test_split, test)
        results[test_split] = test
    writer.close()
    if is_main:
        (workdir / "results.json").write_text(json.dumps(results, indent=2))
    _log(_summary(results, workdir, ckpt.directory))
    return results


def _check_finite(step: int, metrics) -> None:
    if not bool(jax.device_get(metrics["finite"])):
        raise TrainingDiverged(
            f"non-finite loss, gradient or parameters at step {step} (loss="
            f"{float(metrics['loss'])}, grad_norm={float(metrics['grad_norm'])}, param_norm="
            f"{float(metrics['param_norm'])}); "
            f"training stopped, the parameters of step {step - 1} were kept and no checkpoint "
            f"was written after it")


def _summary(results: dict[str, Any], workdir: pathlib.Path, ckpt_dir: pathlib.Path) -> str:
    lines = [f"done: step {results['step']} in {results['train_seconds']} s"]
    for split, m in results.items():
        if isinstance(m, dict) and "top1" in m:
            lines.append(f"  {split}: top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  "
                         f"loss {m['loss']:.4f}  ({int(m['num_examples'])} clips)")
    lines += [f"  checkpoints: {ckpt_dir}", f"  metrics: {workdir / 'metrics.jsonl'} "
              f"(TensorBoard: {workdir / 'tensorboard'})", f"  results: {workdir / 'results.json'}"]
    return "\n".join(lines)
