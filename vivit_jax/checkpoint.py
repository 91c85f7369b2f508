"""Orbax checkpoints: save every N steps, keep the last k, resume; which checkpoint a user
means (`resolve`); its parameters alone (`restore_params`). The only module that reads or
writes Orbax checkpoints.

The train state is a plain pytree `{"params": …, "opt": …, "step": …}`. Restoring takes an
abstract target whose leaves carry the shardings of the *current* mesh, so a checkpoint
written on one mesh (or process count) restores on another.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
import sys
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from vivit_jax import fileio

# URL schemes Orbax 0.12 can write: its metadata goes through etils.epath, its arrays through
# tensorstore, and only `gs://` has a remote tensorstore driver there (any other path gets
# the local 'file' driver). Other schemes tf.io.gfile knows hold everything but checkpoints.
ORBAX_SCHEMES = ("gs",)


def orbax_path(path):
    """The path object Orbax reads and writes for `path`: an absolute `pathlib.Path`, or an
    `etils.epath.Path` for a `gs://…` URL. Another scheme raises ValueError naming it
    (epath would silently fold it into a local relative path)."""
    path = str(path)
    if not fileio.is_remote(path):
        return pathlib.Path(path).expanduser().absolute()
    scheme = path.split("://", 1)[0]
    if scheme not in ORBAX_SCHEMES:
        raise ValueError(f"checkpoint directory {path!r}: Orbax checkpoints can be written to "
                         f"local paths and {', '.join(s + '://' for s in ORBAX_SCHEMES)} only, "
                         f"not {scheme}://")
    from etils import epath
    return epath.Path(path)


def _no_replica_parallel_on_cpu() -> None:
    """On the CPU backend, Orbax's replica-parallel saving (each replica of a replicated array
    writes a slice of it) has nothing to parallelise — every "device" is the same host
    memory — and costs one eager `slice` compilation per array shape and replica on the
    first save (~100 for a tiny model on 8 CPU devices: 13 s of a 2-core machine). Orbax
    already turns it off for GPUs; TPUs keep it."""
    global _REPLICA_PARALLEL_CHECKED
    if _REPLICA_PARALLEL_CHECKED:
        return
    _REPLICA_PARALLEL_CHECKED = True
    if jax.default_backend() == "cpu":
        with _absl_errors_only():
            ocp.type_handlers.register_type_handler(
                jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False),
                override=True)


_REPLICA_PARALLEL_CHECKED = False


class CheckpointMismatch(ValueError):
    """The checkpoint's parameters do not fit the config's model; names the first tensor."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, permissions); names the step and path."""


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager` in `workdir/checkpoints`.

    Nothing is written before the first `save` (a refused run leaves the workdir as it was).
    A save that fails, in the caller or in Orbax's background thread, raises one
    `CheckpointSaveError` naming the step and path (from `save`, `poll` or `close`); the
    checkpoints saved before it stay intact, and Orbax's own error logs of that failure are
    not printed over it.
    """

    def __init__(self, workdir: str | pathlib.Path, *, every_steps: int, keep: int,
                 async_save: bool = True):
        _no_replica_parallel_on_cpu()
        self.directory = orbax_path(fileio.join(workdir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=max(int(every_steps), 1), max_to_keep=keep, create=False,
            enable_async_checkpointing=async_save)
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._saving: int | None = None  # Step of a save that may still run in the background.
        self._quiet = _QuietOrbax()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, *, force: bool = False) -> bool:
        """Saves if `step` is on the interval (or `force`); returns whether it saved."""
        self.poll(wait=True)  # A failed previous save is reported as itself, not as this one.
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            saved = self.manager.save(step, args=ocp.args.StandardSave(state), force=force)
        except Exception as e:  # noqa: BLE001 — any write failure: one line naming the step.
            raise self._error(step, e) from None
        if saved:
            self._saving = step
        return saved

    def poll(self, wait: bool = False) -> None:
        """Raises `CheckpointSaveError` if the last save failed; without `wait` only once it
        has finished (cheap enough to call every step)."""
        if self._saving is None or (not wait and self.manager.is_saving_in_progress()):
            return
        step, self._saving = self._saving, None
        try:
            self.manager.wait_until_finished()
            self.manager.check_for_errors()
        except Exception as e:  # noqa: BLE001
            raise self._error(step, e) from None

    def _error(self, step: int, e: BaseException) -> CheckpointSaveError:
        self._quiet.failed = True  # Orbax's logs of this failure are fallout: dropped, and so
        # are the warnings about the aborted writes' coroutines that Python prints at exit.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        reason, root = e, e
        for _ in range(20):  # The OSError under Orbax's wrappers, if there is one.
            if isinstance(root, OSError):
                reason = root
                break
            root = root.__cause__ or root.__context__
            if root is None:
                break
        kept = [s for s in self.all_steps() if s != step]
        return CheckpointSaveError(
            f"saving checkpoint step {step} to {self.directory / str(step)} failed: "
            f"{reason}; " + (f"the checkpoints of steps {kept} are intact" if kept
                             else "there is no earlier checkpoint"))

    def restore(self, step: int, abstract_state):
        """Restores `step` into the shapes, dtypes and shardings of `abstract_state`."""
        where = self.directory / str(step)
        # The parameters are compared first, by name: a mismatch names its tensor, and Orbax
        # never starts the async reads that a failing restore leaves behind.
        saved = saved_tree(where)
        if "params" in saved and "params" in abstract_state:
            check_shapes(saved["params"], abstract_state["params"], str(where))
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
        except ValueError as e:
            raise ValueError(f"checkpoint {where} does not fit the current config (model or "
                             f"optimiser differs): {e}") from None

    def wait(self) -> None:
        """Waits for the last save; raises `CheckpointSaveError` if it failed."""
        self.poll(wait=True)

    def close(self) -> None:
        """Waits for the last save (raising `CheckpointSaveError` if it failed) and closes."""
        try:
            self.poll(wait=True)
        finally:
            try:
                self.manager.close()
            except Exception:  # noqa: BLE001 — already reported by poll.
                if not self._quiet.failed:
                    raise
            self._quiet.restore()


class _QuietOrbax(logging.Filter):
    """While a Checkpointer lives: holds back Orbax's ERROR logs and drops the asyncio
    "Event loop is closed" noise of its aborted writes. Held-back logs are dropped when the
    failure they describe is raised as a `CheckpointSaveError`, else replayed on `restore`."""

    def __init__(self):
        super().__init__()
        self.failed = False
        self.held: list[logging.LogRecord] = []
        self._logger = logging.getLogger("absl")
        self._logger.addFilter(self)
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "orbax" in record.pathname:
            self.held.append(record)
            return False
        return True

    def _unraisable(self, u) -> None:
        if isinstance(u.exc_value, RuntimeError) and "Event loop is closed" in str(u.exc_value):
            return
        self._hook(u)

    def restore(self) -> None:
        self._logger.removeFilter(self)
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self._hook
        held, self.held = self.held, []
        if not self.failed:
            for record in held:
                self._logger.handle(record)


def abstract_with_shardings(tree, shardings):
    """ShapeDtypeStructs carrying `shardings`, the restore target for another mesh."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings)


def saved_tree(step_dir) -> Any:
    """The array metadata tree (shapes, dtypes) of a train-state checkpoint step directory."""
    step_dir = orbax_path(step_dir) if isinstance(step_dir, str) else step_dir
    return _item_tree(step_dir / "default")


@contextlib.contextmanager
def _absl_errors_only():
    """Orbax's warnings held back: that an item has no step metadata (a step's `default/`
    keeps it a level up), that it overrides absl's default handler."""
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl_log.setLevel(level)


def _item_tree(item) -> Any:
    """The array metadata tree of one Orbax item directory."""
    with _absl_errors_only():
        meta = ocp.StandardCheckpointer().metadata(item)
    tree = getattr(meta, "item_metadata", meta)
    return getattr(tree, "tree", tree)


def _path_str(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def check_shapes(saved: Any, expected: Any, where: str) -> None:
    """Raises `CheckpointMismatch` naming the first parameter missing, extra or of another shape."""
    saved_l = {_path_str(p): tuple(m.shape) for p, m in jax.tree_util.tree_leaves_with_path(saved)}
    exp_l = {_path_str(p): tuple(a.shape) for p, a in jax.tree_util.tree_leaves_with_path(expected)}
    for name in sorted(exp_l):
        if name not in saved_l:
            raise CheckpointMismatch(f"checkpoint {where} does not fit the config: parameter "
                                     f"{name!r} {exp_l[name]} is not in the checkpoint")
        if saved_l[name] != exp_l[name]:
            raise CheckpointMismatch(f"checkpoint {where} does not fit the config: parameter "
                                     f"{name!r} has shape {saved_l[name]} in the checkpoint, "
                                     f"{exp_l[name]} in the model")
    extra = sorted(set(saved_l) - set(exp_l))
    if extra:
        raise CheckpointMismatch(f"checkpoint {where} does not fit the config: parameter "
                                 f"{extra[0]!r} {saved_l[extra[0]]} is not in the model")


# ---------------------------------------------------------------------------------------
# Which checkpoint a user means, and its parameters.
# ---------------------------------------------------------------------------------------
# Files only an Orbax item directory holds (a step's `default/`, vivit-convert's `params/`).
_ITEM_MARKERS = ("_CHECKPOINT_METADATA", "_METADATA", "_sharding")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A checkpoint `resolve` found.

    `item`: the Orbax directory of the arrays (`…/checkpoints/N/default`, or a vivit-convert
    output's `params/`), as Orbax reads it (`orbax_path`). `step`: the training step (None
    for a vivit-convert output). `workdir`: the directory of the run or conversion it belongs
    to, spelt as the user's path (local, or a URL: its config and label map live there even
    when `item` is elsewhere). `config`: that directory's `config.json`, or None.
    """
    item: Any
    step: int | None
    workdir: str
    config: str | None

    @property
    def step_dir(self) -> Any:
        """The step directory (`…/checkpoints/N`), or `item` when it is no step's."""
        return self.item.parent if self.item.name == "default" else self.item


def resolve(checkpoint: str | os.PathLike | Resolved | None = None,
            workdir: str | os.PathLike | None = None) -> Resolved:
    """The checkpoint `checkpoint` names; every command that reads one resolves it here.

    `checkpoint` is a step number of `workdir` (None: its latest step) or a path, local or
    `gs://…`: a workdir (its latest step), its `checkpoints/` directory, a step directory
    `…/checkpoints/N`, an Orbax item directory (`…/N/default`), a vivit-convert output (its
    `params/`), or the `config.json` of any of these directories. A path that holds none
    raises FileNotFoundError naming it; a step the run does not have, naming the steps it has.
    """
    if isinstance(checkpoint, Resolved):
        return checkpoint
    if checkpoint is None or str(checkpoint).isdigit():
        if workdir is None:
            raise FileNotFoundError("no checkpoint given: pass --checkpoint or --workdir")
        return _in_run(fileio.absolute(str(workdir)).rstrip("/"),
                       None if checkpoint is None else int(checkpoint))
    path = fileio.absolute(str(checkpoint)).rstrip("/")  # Orbax reads no relative paths.
    if fileio.basename(path) == "config.json":
        path = fileio.dirname(path)
    name, parent = fileio.basename(path), fileio.dirname(path)
    if name.isdigit() and fileio.basename(parent) == "checkpoints":
        return _in_run(fileio.dirname(parent), int(name))
    if name == "checkpoints":
        return _in_run(parent, None)
    if fileio.isdir(str(orbax_path(fileio.join(path, "checkpoints")))):
        return _in_run(path, None)
    candidates = [fileio.join(path, "default"), fileio.join(path, "params"), path]
    item = next((c for c in candidates if _is_item(orbax_path(c))), None)
    if item is None:
        raise FileNotFoundError(
            f"no checkpoint in {path}: " + ("it does not exist" if not fileio.exists(path) else
                                            "not a workdir (checkpoints/), a step directory, "
                                            "a vivit-convert output or an Orbax directory"))
    above = fileio.dirname(item)
    step = int(fileio.basename(above)) if (fileio.basename(item) == "default" and
                                           fileio.basename(above).isdigit()) else None
    run_dir = item
    for _ in range(4):  # The config.json of the run or conversion: up to the workdir.
        if fileio.isfile(fileio.join(run_dir, "config.json")):
            return Resolved(orbax_path(item), step, run_dir, fileio.join(run_dir, "config.json"))
        run_dir = fileio.dirname(run_dir)
    run_dir = fileio.dirname(fileio.dirname(above)) if step is not None else above
    return Resolved(orbax_path(item), step, run_dir, None)


def _is_item(directory) -> bool:
    return fileio.isdir(str(directory)) and any(
        fileio.exists(str(directory / n)) for n in _ITEM_MARKERS)


def _in_run(workdir: str, step: int | None) -> Resolved:
    """Step `step` (None: the latest) of the run in `workdir`."""
    ckpt_dir = orbax_path(fileio.join(workdir, "checkpoints"))  # Where Orbax wrote them.
    steps = sorted(int(n) for n in fileio.listdir(str(ckpt_dir))
                   if n.isdigit() and fileio.isdir(str(ckpt_dir / n / "default"))
                   ) if fileio.isdir(str(ckpt_dir)) else []
    if not steps:
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise FileNotFoundError(f"checkpoint step {step} not in {ckpt_dir} (has {steps})")
    config = fileio.join(workdir, "config.json")
    return Resolved(ckpt_dir / str(step) / "default", step, workdir,
                    config if fileio.isfile(config) else None)


def restore_params(checkpoint: str | os.PathLike | Resolved, abstract_params: Any = None,
                   shardings: Any = None) -> Any:
    """The parameters of a checkpoint (anything `resolve` takes); never its optimiser state.

    With `abstract_params`: checked against them first (`CheckpointMismatch` names the first
    tensor that differs), then restored into their shapes and dtypes, placed with `shardings`
    (a checkpoint written on any mesh or process count loads). Without: the saved tree as
    host numpy arrays.
    """
    found = resolve(checkpoint)
    tree = _item_tree(found.item)
    state = "params" in tree  # A train state holds `params`; vivit-convert writes them alone.
    saved = tree["params"] if state else tree
    if abstract_params is None:
        target = saved
        args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), saved)
    else:
        check_shapes(saved, abstract_params, str(found.step_dir))
        target = (abstract_params if shardings is None
                  else abstract_with_shardings(abstract_params, shardings))
        args = jax.tree.map(lambda s: ocp.ArrayRestoreArgs(sharding=s.sharding), target)
    if state:
        target, args = {"params": target}, {"params": args}
    with _absl_errors_only():
        out = ocp.PyTreeCheckpointer().restore(found.item, args=ocp.args.PyTreeRestore(
            item=target, restore_args=args, partial_restore=True))
    return out["params"] if state else out


def save_params(directory, params: Any) -> None:
    """Writes `params` alone as one Orbax item at `directory` (vivit-convert's `params/`)."""
    directory = orbax_path(directory) if isinstance(directory, str) else directory
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(directory, jax.tree.map(jax.numpy.asarray, params))
    ckptr.wait_until_finished()
