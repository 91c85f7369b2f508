"""Orbax checkpoints of the train state: save every N steps, keep the last k, resume.

The state is a plain pytree `{"params": …, "opt": …, "step": …}`. Restoring takes an
abstract target whose leaves carry the shardings of the *current* mesh, so a checkpoint
written on one mesh (or process count) restores on another.
"""
from __future__ import annotations

import logging
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointMismatch(ValueError):
    """The checkpoint's parameters do not fit the config's model; names the first tensor."""


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager` in `workdir/checkpoints`."""

    def __init__(self, workdir: str | pathlib.Path, *, every_steps: int, keep: int,
                 async_save: bool = True):
        if "://" in str(workdir):  # gs://… : Orbax writes it through tensorstore/epath.
            from etils import epath
            self.directory = epath.Path(workdir) / "checkpoints"
        else:
            self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=max(int(every_steps), 1), max_to_keep=keep, create=True,
            enable_async_checkpointing=async_save)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, *, force: bool = False) -> bool:
        """Saves if `step` is on the interval (or `force`); returns whether it saved."""
        return self.manager.save(step, args=ocp.args.StandardSave(state), force=force)

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
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_with_shardings(tree, shardings):
    """ShapeDtypeStructs carrying `shardings`, the restore target for another mesh."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings)


def saved_tree(step_dir) -> Any:
    """The array metadata tree (shapes, dtypes) of a train-state checkpoint step directory."""
    step_dir = pathlib.Path(step_dir) if isinstance(step_dir, str) else step_dir
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)  # Orbax warns that the item has no step metadata: fine.
    try:
        meta = ocp.StandardCheckpointer().metadata(step_dir / "default")
    finally:
        absl_log.setLevel(level)
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
