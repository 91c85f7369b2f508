"""The trainer: one `train_and_evaluate(config, workdir)`, in the order a reader needs it.

logging → mesh → input → model & optimizer → shard & init → update step → checkpoint
→ evals → loop. This module is the loop only: the model, the train state, the update and
eval steps and the losses come from `vivit_jax.state` (which evaluation, conversion and the
benchmarks import too); the update step is jitted here with explicit shardings and a
donated state.
"""
from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any

import jax
import ml_collections

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import cluster, compile_cache, fileio, metric_writers, mfu, sharding
from vivit_jax import state as state_lib
from vivit_jax.convert.init_from import load_init
from vivit_jax.data import prefetch


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN/Inf; the message names the step."""


def _log(msg: str) -> None:
    if jax.process_index() == 0:
        print(msg, flush=True)


def as_path(path: str) -> pathlib.Path | str:
    """Local paths become absolute pathlib paths; `gs://…` and other URLs stay strings
    (pathlib would fold `gs://`; `fileio` and Orbax write them), so a pod's workers can
    share one workdir. Build paths in it with `fileio.join`, which takes both."""
    if fileio.is_remote(path):
        return str(path).rstrip("/")
    return pathlib.Path(path).absolute()


def check_workdir(workdir: pathlib.Path | str) -> bool:
    """Fails early, naming the directory, if it cannot be written; True if it was created."""
    try:
        created = not fileio.exists(workdir)
        fileio.makedirs(workdir)
        probe = fileio.join(workdir, f".write_probe_{jax.process_index()}")
        fileio.write_text(probe, "ok")
        fileio.remove(probe)
    except OSError as e:
        raise PermissionError(f"workdir {str(workdir)!r} is not writable: "
                              f"{e.strerror or e}") from None
    return created


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
    mesh = sharding.mesh_from_config(config, devices)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    _log(f"devices: {mesh.size} × {mesh.devices.flat[0].platform} "
         f"({jax.process_count()} process(es)); mesh {dict(mesh.shape)}")
    # The persistent compilation cache: one outside the workdir is used from the start; one
    # inside it (a gs:// workdir's default) only once the run is known to fit the workdir.
    cache_dir = compile_cache.resolve(config.compile_cache_dir, str(workdir))
    cache_in_workdir = bool(cache_dir) and cache_dir.startswith(str(workdir).rstrip("/") + "/")
    if not cache_in_workdir:
        compile_cache.enable(cache_dir, str(workdir))
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
    setup = state_lib.setup_state(config, mesh)
    graphdef, tx, schedule = setup.graphdef, setup.tx, setup.schedule
    param_sh, state_sh, init_state = setup.param_sh, setup.state_sh, setup.init_state
    _log(f"model: {config.model.family} {config.model.variant}, {setup.num_params:,} "
         f"parameters, input {state_lib.model_input_shape(config)}, compute {config.dtype}")
    utilisation = mfu.Utilisation(config, mesh.devices.flat)
    if utilisation.enabled or jax.default_backend() != "cpu":
        _log(utilisation.describe())
    if config.dtype == "bfloat16" and jax.default_backend() == "cpu":
        _log("note: XLA:CPU runs bfloat16 compute slower than float32 (its bf16 matmuls; "
             "BENCHMARKS.md, 'bf16 on CPU'): --config.dtype=float32 is the fast setting here")

    # ----------------------------------------------------------------------------------
    # Update and eval steps.
    # ----------------------------------------------------------------------------------
    train_step = jax.jit(state_lib.make_train_step(graphdef, tx, config, mesh),
                         in_shardings=(state_sh, batch_sh, repl),
                         out_shardings=(state_sh, repl), donate_argnums=(0,))
    eval_step = jax.jit(state_lib.make_eval_step(graphdef, config, mesh),
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
            fileio.write_text(fileio.join(workdir, "config.json"),
                              config.to_json_best_effort(indent=2))
        if cache_in_workdir:
            compile_cache.enable(cache_dir, str(workdir))
        _log(f"compilation cache: {cache_dir or 'off'}")
        writer = metric_writers.MetricWriter(workdir, enabled=is_main)

        # ------------------------------------------------------------------------------
        # Train loop.
        # ------------------------------------------------------------------------------
        total = config.num_train_steps
        # uint8 clips, sent to the devices two batches ahead of the step that uses them.
        train_iter = prefetch.to_device(pipeline.train_iterator(
            config.dataset, global_batch_size=config.batch_size, seed=config.seed,
            start_step=start_step, process_index=jax.process_index(),
            process_count=jax.process_count()), batch_sh, depth=2)
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
                    batch = next(train_iter)
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
                state, metrics = train_step(state, batch, dropout_rng)
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
                m.update(utilisation.metrics(rate))
                writer.write(step, "train", m)
                progress.report(step, rate, {k: m[k] for k in ("loss", "accuracy", "lr", "mfu")
                                             if k in m})
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
                final_eval = state_lib.evaluate(eval_step, state["params"], config,
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
    except BaseException as e:
        # A restore that does not fit, divergence, a failed save or an interrupt: let in-flight
        # checkpoint writes finish so every checkpoint saved before the failure stays intact
        # (and Orbax's threads print nothing at exit over the error), then re-raise.
        kept = ckpt.latest_step() if isinstance(e, TrainingDiverged) else None
        try:
            ckpt.close()
        finally:
            preemption.restore()
            if writer is not None:
                writer.close()
        if isinstance(e, TrainingDiverged):  # Say what a restart resumes from.
            raise TrainingDiverged(f"{e}; " + (f"the last checkpoint is step {kept}" if kept
                                               is not None else "no checkpoint was written")
                                   ) from None
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
        results[config.dataset.eval_split] = state_lib.evaluate(eval_step, state["params"], config,
                                                      config.dataset.eval_split, batch_sh)
    if test_split:
        test = state_lib.evaluate(eval_step, state["params"], config, test_split, batch_sh)
        writer.write(step, test_split, test)
        results[test_split] = test
    writer.close()
    if is_main:
        fileio.write_text(fileio.join(workdir, "results.json"), json.dumps(results, indent=2))
    _log(_summary(results, workdir, ckpt.directory))
    return results


def _check_finite(step: int, metrics) -> None:
    if not bool(jax.device_get(metrics["finite"])):
        raise TrainingDiverged(
            f"non-finite loss, gradient or parameters at step {step} (loss="
            f"{float(metrics['loss'])}, grad_norm={float(metrics['grad_norm'])}, param_norm="
            f"{float(metrics['param_norm'])}); "
            f"training stopped, nothing of step {step} was saved")


def _summary(results: dict[str, Any], workdir: pathlib.Path | str, ckpt_dir) -> str:
    lines = [f"done: step {results['step']} in {results['train_seconds']} s"]
    for split, m in results.items():
        if isinstance(m, dict) and "top1" in m:
            lines.append(f"  {split}: top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  "
                         f"loss {m['loss']:.4f}  ({int(m['num_examples'])} clips)")
    out = lambda name: fileio.join(workdir, name)
    lines += [f"  checkpoints: {ckpt_dir}", f"  metrics: {out('metrics.jsonl')} "
              f"(TensorBoard: {out('tensorboard')})", f"  results: {out('results.json')}"]
    return "\n".join(lines)
