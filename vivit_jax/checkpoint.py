"""Orbax checkpoints of the train state: save every N steps, keep the last k, resume.

The state is a plain pytree `{"params": …, "opt": …, "step": …}`. Restoring takes an
abstract target whose leaves carry the shardings of the *current* mesh, so a checkpoint
written on one mesh (or process count) restores on another.
"""
from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp


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
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
        except ValueError as e:
            raise ValueError(f"checkpoint {self.directory / str(step)} does not fit the current "
                             f"config (model or optimiser differs): {e}") from None

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_with_shardings(tree, shardings):
    """ShapeDtypeStructs carrying `shardings`, the restore target for another mesh."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings)
