"""The trainer: one `train_and_evaluate(config, workdir)`, in the order a reader needs it.

`_train_and_evaluate` reads as a list: set-up (mesh → input → model & optimizer → update and
eval steps; nothing written yet) → restore or initialise → open the workdir → loop (log,
checkpoint, evaluate when due; the divergence guard checks a step before anything of it is
logged or saved) → finish (final and test-split evaluations, results.json). This module is
the loop only: the model, the train state, the update and eval steps and the losses come
from `vivit_jax.state` (which evaluation, conversion and the benchmarks import too); the
update step is jitted here with explicit shardings and a donated state.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any, NoReturn

import jax
import ml_collections

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import cluster, compile_cache, fileio, label_sets, metric_writers, mfu, sharding
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
    """Set-up → loop → finish; a failure from the restore on closes the checkpointer first."""
    run = _set_up(config, workdir, devices)
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=config.checkpoint_every_steps,
                                 keep=config.keep_checkpoints)
    preemption = cluster.PreemptionWatcher()
    writer = None
    try:
        state = _restore_or_init(run, ckpt)
        writer = _open_workdir(run)
        outcome = _loop(run, state, ckpt, writer, preemption, stop_at_step)
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
    return _finish(run, outcome, writer, ckpt.directory, preempted=preemption.stopped)


@dataclasses.dataclass
class _Run:
    """What set-up hands the loop: the config, the shardings, the jitted steps, the splits."""
    config: ml_collections.ConfigDict
    workdir: pathlib.Path | str
    batch_sh: Any
    setup: state_lib.StateSetup
    train_step: Any
    eval_step: Any
    utilisation: mfu.Utilisation
    test_split: str
    cache_ready: Callable[[], str]  # Enables a compilation cache inside the workdir.

    def evaluate(self, params, split: str) -> dict[str, float]:
        """One full pass of the eval step over `split`."""
        return state_lib.evaluate_split(self.eval_step, params, self.config, split,
                                        self.batch_sh)


@dataclasses.dataclass
class _Outcome:
    """What the loop hands `_finish`."""
    step: int
    state: dict
    final_eval: dict[str, float]
    last_log: dict[str, float]
    t_train: float  # perf_counter() when the loop started.


def _set_up(config, workdir, devices) -> _Run:
    """Mesh → input → model & optimizer → update and eval steps; nothing is written yet."""
    mesh = sharding.mesh_from_config(config, devices)
    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    _log(f"devices: {mesh.size} × {mesh.devices.flat[0].platform} "
         f"({jax.process_count()} process(es)); mesh {dict(mesh.shape)}")
    cache_ready = compile_cache.for_run(config.compile_cache_dir, str(workdir))
    _check_batch_sizes(config, mesh.shape["data"] * mesh.shape["fsdp"])
    test_split = _find_splits(config)

    setup = state_lib.setup_state(config, mesh)  # Abstract until init_state runs, sharded.
    _log(f"model: {config.model.family} {config.model.variant}, {setup.num_params:,} "
         f"parameters, input {state_lib.model_input_shape(config)}, compute {config.dtype}")
    utilisation = mfu.Utilisation(config, mesh.devices.flat)
    if utilisation.enabled or jax.default_backend() != "cpu":
        _log(utilisation.describe())
    if config.dtype == "bfloat16" and jax.default_backend() == "cpu":
        _log("note: XLA:CPU runs bfloat16 compute slower than float32 (its bf16 matmuls; "
             "BENCHMARKS.md, 'bf16 on CPU'): --config.dtype=float32 is the fast setting here")

    train_step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, config, mesh),
                         in_shardings=(setup.state_sh, batch_sh, repl),
                         out_shardings=(setup.state_sh, repl), donate_argnums=(0,))
    eval_step = jax.jit(state_lib.make_eval_step(setup.graphdef, config, mesh),
                        in_shardings=(setup.param_sh, batch_sh), out_shardings=repl)
    return _Run(config, workdir, batch_sh, setup, train_step, eval_step, utilisation,
                test_split, cache_ready)


def _check_batch_sizes(config, n_batch_shards: int) -> None:
    if config.batch_size % n_batch_shards:
        raise ValueError(f"config.batch_size={config.batch_size} is not divisible by the "
                         f"data×fsdp mesh size {n_batch_shards}")
    if config.eval_batch_size % n_batch_shards:
        _log(f"eval batch {config.eval_batch_size} rounded up to a multiple of the data×fsdp "
             f"mesh size {n_batch_shards} (padding is masked)")
    if config.batch_size % config.grad_accum_steps:
        raise ValueError(f"config.batch_size={config.batch_size} is not divisible by "
                         f"config.grad_accum_steps={config.grad_accum_steps}")


def _find_splits(config) -> str:
    """Every split the run reads is found now, not after hours of training: a missing eval
    split stops the run here; a missing test split (an extra, final evaluation) is skipped.
    Returns the test split ('' = none)."""
    from vivit_jax.data import pipeline

    data_dir = pipeline.resolve_data_dir(config.dataset)
    d = config.dataset
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
    return test_split


def _restore_or_init(run: _Run, ckpt: ckpt_lib.Checkpointer) -> dict:
    """The workdir's latest checkpoint, else a fresh state (and `init_from` when set)."""
    config, setup = run.config, run.setup
    latest = ckpt.latest_step()
    root_rng = jax.random.key(config.seed)
    if latest is not None:
        abstract = ckpt_lib.abstract_with_shardings(jax.eval_shape(setup.init_state, root_rng),
                                                    setup.state_sh)
        state = ckpt.restore(latest, abstract)
        _log(f"resumed from {ckpt.directory}/{latest}")
        return state
    state = setup.init_state(jax.random.fold_in(root_rng, 0))
    if config.init_from.checkpoint:  # Fine-tuning: see vivit_jax/convert/init_from.py.
        state["params"] = jax.device_put(load_init(state["params"], config, log=_log),
                                         setup.param_sh)
    return state


def _open_workdir(run: _Run) -> metric_writers.MetricWriter:
    """The run fits the workdir (data found, checkpoint or init_from loaded): write into it."""
    is_main = jax.process_index() == 0
    if is_main:
        fileio.write_text(fileio.join(run.workdir, "config.json"),
                          run.config.to_json_best_effort(indent=2))
    _log(f"compilation cache: {run.cache_ready() or 'off'}")
    return metric_writers.MetricWriter(run.workdir, enabled=is_main)


class DivergenceGuard:
    """Owns the last step's metrics, read one step late so that dispatch stays asynchronous;
    `check()` stops the run (`TrainingDiverged`) if that step's loss, gradient or parameters
    are not finite, before anything of it is logged or saved."""

    def __init__(self):
        self.pending: tuple[int, Any] | None = None

    def push(self, step: int, metrics) -> None:
        """Checks the previous step, then holds `step`'s metrics."""
        self.check()
        self.pending = (step, metrics)

    def check(self) -> None:
        if self.pending is None:
            return
        step, metrics = self.pending
        if not bool(jax.device_get(metrics["finite"])):
            raise TrainingDiverged(
                f"non-finite loss, gradient or parameters at step {step} (loss="
                f"{float(metrics['loss'])}, grad_norm={float(metrics['grad_norm'])}, "
                f"param_norm={float(metrics['param_norm'])}); "
                f"training stopped, nothing of step {step} was saved")


def _loop(run: _Run, state, ckpt, writer, preemption, stop_at_step) -> _Outcome:
    """Steps `start → min(total, stop_at_step)`: log, checkpoint, evaluate when due."""
    from vivit_jax.data import pipeline

    config = run.config
    total = config.num_train_steps
    start_step = int(jax.device_get(state["step"]))
    # uint8 clips, sent to the devices two batches ahead of the step that uses them.
    train_iter = prefetch.to_device(pipeline.train_iterator(
        config.dataset, global_batch_size=config.batch_size, seed=config.seed,
        start_step=start_step, process_index=jax.process_index(),
        process_count=jax.process_count()), run.batch_sh, depth=2)
    progress = metric_writers.Progress(total, start_step, config.batch_size,
                                       enabled=jax.process_index() == 0)
    dropout_rng = jax.random.fold_in(jax.random.key(config.seed), 1)
    _log(f"training steps {start_step}→{total}, global batch {config.batch_size}; "
         f"workdir {run.workdir}")
    guard = DivergenceGuard()
    out = _Outcome(start_step, state, {}, {}, time.perf_counter())
    saved_step = start_step
    last = total if stop_at_step is None else min(total, stop_at_step)
    for step in range(start_step + 1, last + 1):
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
            try:
                batch = next(train_iter)
            except pipeline.CorruptData as e:
                _stop_on_corrupt_data(e, step, guard, saved_step, ckpt, state)
            state, metrics = run.train_step(state, batch, dropout_rng)
        out.step, out.state = step, state
        ckpt.poll()  # A checkpoint that failed in the background stops the run here.
        guard.push(step, metrics)
        if step == start_step + 1:
            jax.block_until_ready(metrics)
            progress.mark_compiled(step)
        if step % config.log_every_steps == 0 or step == total:
            guard.check()
            out.last_log = _log_train(run, step, metrics, progress, writer)
        if step % config.checkpoint_every_steps == 0 and step != total:
            guard.check()
            ckpt.save(step, state)
            saved_step = step
        if preemption.should_stop():
            _log(f"SIGTERM received: checkpointing step {step} and stopping; start the same "
                 f"command again to resume")
            break
        if (config.eval_every_steps and step % config.eval_every_steps == 0) or step == total:
            out.final_eval = run.evaluate(state["params"], config.dataset.eval_split)
            writer.write(step, config.dataset.eval_split, out.final_eval)
            _log(f"step {step}: {config.dataset.eval_split} {_eval_figures(out.final_eval)}")
    guard.check()
    if out.step > start_step and saved_step != out.step:
        ckpt.save(out.step, state, force=True)
    ckpt.wait()
    return out


def _stop_on_corrupt_data(e: Exception, step: int, guard: DivergenceGuard, saved_step: int,
                          ckpt, state) -> NoReturn:
    """A damaged shard: keep the last completed step, then stop naming it."""
    from vivit_jax.data import pipeline

    if guard.pending is not None and saved_step != step - 1:
        guard.check()
        ckpt.save(step - 1, state, force=True)
        ckpt.wait()
    last_ckpt = ckpt.latest_step()
    raise pipeline.CorruptData(
        f"{e}; training stopped before step {step}, " + (
            f"the last checkpoint is step {last_ckpt}" if last_ckpt is not None
            else "no checkpoint was written")) from None


def _log_train(run: _Run, step: int, metrics, progress, writer) -> dict[str, float]:
    """Writes step `step`'s train metrics (and rate, lr, utilisation); returns them."""
    m = {k: float(v) for k, v in jax.device_get(metrics).items() if k != "finite"}
    m["lr"] = float(run.setup.schedule(step - 1))
    rate = progress.rate(step)
    m["clips_per_s"] = rate
    m.update(run.utilisation.metrics(rate))
    writer.write(step, "train", m)
    progress.report(step, rate, {k: m[k] for k in ("loss", "accuracy", "lr", "mfu") if k in m})
    return m


def _finish(run: _Run, out: _Outcome, writer, ckpt_dir, *, preempted: bool) -> dict[str, Any]:
    """Results: the last train and eval figures, a final test-split evaluation."""
    config, step = run.config, out.step
    if preempted:
        writer.close()
        return {"step": step, "preempted": True, "train": out.last_log}
    train_seconds = time.perf_counter() - out.t_train
    eval_split = config.dataset.eval_split
    results: dict[str, Any] = {"step": step, "train_seconds": round(train_seconds, 1),
                               "train": out.last_log, eval_split: out.final_eval}
    if not out.final_eval and step == config.num_train_steps:
        # Resumed a finished run: evaluate once more.
        results[eval_split] = run.evaluate(out.state["params"], eval_split)
    if run.test_split:
        test = run.evaluate(out.state["params"], run.test_split)
        writer.write(step, run.test_split, test)
        results[run.test_split] = test
    writer.close()
    if jax.process_index() == 0:
        fileio.write_text(fileio.join(run.workdir, "results.json"),
                          json.dumps(results, indent=2))
    _log(_summary(results, run.workdir, ckpt_dir))
    return results


def _label_set_figures(m: dict[str, float]) -> str:
    """'; top1 noun 0.7700 verb 0.8100 action 0.6600' with label sets ('top1' is the
    action's), else ''."""
    sets = [k[:-len("_top1")] for k in m if k.endswith("_top1")]
    sets.sort(key=lambda name: name == label_sets.ACTION)  # The sets in order, then action.
    return ("; top1 " + " ".join(f"{n} {m[n + '_top1']:.4f}" for n in sets)) if sets else ""


def _eval_figures(m: dict[str, float], sep: str = " ") -> str:
    return (f"top1 {m['top1']:.4f}{sep}top5 {m['top5']:.4f}{sep}loss {m['loss']:.4f}{sep}"
            f"({int(m['num_examples'])} clips)" + _label_set_figures(m))


def _summary(results: dict[str, Any], workdir: pathlib.Path | str, ckpt_dir) -> str:
    lines = [f"done: step {results['step']} in {results['train_seconds']} s"]
    for split, m in results.items():
        if isinstance(m, dict) and "top1" in m:
            lines.append(f"  {split}: {_eval_figures(m, sep='  ')}")
    out = lambda name: fileio.join(workdir, name)
    lines += [f"  checkpoints: {ckpt_dir}", f"  metrics: {out('metrics.jsonl')} "
              f"(TensorBoard: {out('tensorboard')})", f"  results: {out('results.json')}"]
    return "\n".join(lines)
