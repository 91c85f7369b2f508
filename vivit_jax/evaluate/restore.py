"""Find a checkpoint and restore only its parameters, sharded for the current machine's mesh.

Shared by `vivit-eval`, `vivit-predict` and `vivit-rollout`. The parameters are restored
into the shapes and shardings of the config's model on the current mesh (a checkpoint
written on another mesh or process count loads), after a shape check that names the first
tensor that does not fit the config. The optimiser state is not read (partial restore).
"""
from __future__ import annotations

import pathlib
from typing import Any

import jax
import ml_collections
import numpy as np

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import fileio
from vivit_jax.checkpoint import CheckpointMismatch, check_shapes


def resolve_checkpoint(workdir: str | pathlib.Path | None,
                       checkpoint: str | None = None) -> tuple[pathlib.Path, int]:
    """`(step directory, step)` from a workdir and `--checkpoint STEP|PATH` (default: latest).

    PATH may be a step directory (`…/checkpoints/30`), a `checkpoints/` directory or a
    workdir (latest step of either).
    """
    if checkpoint and not str(checkpoint).isdigit():
        path = fileio.absolute(checkpoint).rstrip("/")
        name = fileio.basename(path)
        if name.isdigit() and fileio.isdir(fileio.join(path, "default")):
            return ckpt_lib.orbax_path(path), int(name)
        parent = fileio.dirname(path)
        if name.isdigit() and fileio.basename(parent) == "checkpoints":
            # A step the run does not have (any more): named below with the steps it has.
            workdir, checkpoint = fileio.dirname(parent), name
        else:
            workdir = parent if name == "checkpoints" else path
            checkpoint = None
    if workdir is None:
        raise FileNotFoundError("no checkpoint given: pass --checkpoint or --workdir")
    # Local: an absolute pathlib.Path; gs://…: an epath.Path (what Orbax reads).
    ckpt_dir = ckpt_lib.orbax_path(fileio.join(fileio.absolute(workdir), "checkpoints"))
    steps = sorted(int(n) for n in fileio.listdir(ckpt_dir)
                   if n.isdigit() and fileio.isdir(fileio.join(ckpt_dir, n, "default"))
                   ) if fileio.isdir(ckpt_dir) else []
    if not steps:
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
    if checkpoint is None:
        return ckpt_dir / str(steps[-1]), steps[-1]
    step = int(checkpoint)
    if step not in steps:
        raise FileNotFoundError(f"checkpoint step {step} not in {ckpt_dir} (has {steps})")
    return ckpt_dir / str(step), step


def load_workdir_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
    """The resolved config a training run saved as `WORKDIR/config.json`, validated, locked."""
    from vivit_jax import config as config_lib

    path = fileio.join(fileio.expanduser(workdir), "config.json")
    if not fileio.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: pass --config FILE or a training workdir")
    cfg = config_lib.complete(config_lib.from_json(fileio.read_text(path), path))
    cfg.lock()
    return cfg


def restore_params(step_dir: pathlib.Path, abstract_params: Any, param_sh: Any) -> Any:
    """The `params` of a train-state checkpoint, placed with `param_sh` (any saving mesh)."""
    import orbax.checkpoint as ocp

    item = (ckpt_lib.orbax_path(step_dir) if isinstance(step_dir, str) else step_dir) / "default"
    tree = ckpt_lib.saved_tree(step_dir)
    if "params" not in tree:
        raise CheckpointMismatch(f"checkpoint {step_dir} has no 'params' (keys {list(tree)})")
    check_shapes(tree["params"], abstract_params, str(step_dir))
    target = {"params": jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract_params,
        param_sh)}
    restore_args = jax.tree.map(lambda s: ocp.ArrayRestoreArgs(sharding=s.sharding), target)
    out = ocp.PyTreeCheckpointer().restore(item, args=ocp.args.PyTreeRestore(
        item=target, restore_args=restore_args, partial_restore=True))
    return out["params"]


def load_model(cfg: ml_collections.ConfigDict, step_dir: pathlib.Path, mesh=None):
    """`(graphdef, params, setup, mesh)`: the config's model with the checkpoint's params."""
    from vivit_jax import sharding
    from vivit_jax import state as state_lib

    mesh = mesh if mesh is not None else sharding.mesh_from_config(cfg)
    setup = state_lib.setup_state(cfg, mesh)
    params = restore_params(step_dir, setup.abstract_params, setup.param_sh)
    return setup.graphdef, params, setup, mesh


def label_names(cfg: ml_collections.ConfigDict, workdir=None) -> list[str]:
    """Class names: the workdir's own `label_map.json` (a converted released checkpoint
    carries its classes), else the dataset's, else '0', '1', …"""
    k = int(cfg.dataset.num_classes)
    return (checkpoint_label_names(workdir, k) or dataset_label_names(cfg)
            or [str(i) for i in range(k)])


def checkpoint_label_names(workdir, num_classes: int) -> list[str] | None:
    """The classes a workdir's model was trained on (its `label_map.json`), if it has them."""
    from vivit_jax.data import dmvr_format
    if workdir is None:
        return None
    try:
        names = dmvr_format.read_label_map(workdir)
    except (OSError, ValueError):
        return None
    return list(names) if len(names) == num_classes else None


def dataset_label_names(cfg: ml_collections.ConfigDict) -> list[str] | None:
    """The dataset's class names (synthetic_motion's, or the shards' `label_map.json`)."""
    from vivit_jax.data import sources

    return sources.label_names(cfg.dataset)


def align_classes(model_names: list[str] | None, data_names: list[str] | None,
                  where: str) -> np.ndarray | None:
    """Column order that puts the model's classes in the data's order, or None when they
    agree (or either is unknown). Names match up to case and '_' vs ' ' (vivit-prepare writes
    Kinetics' 'air drumming' as 'air_drumming'); another set of classes is refused."""
    if not model_names or not data_names:
        return None
    norm = lambda n: n.replace("_", " ").strip().lower()
    model_n, data_n = [norm(n) for n in model_names], [norm(n) for n in data_names]
    if model_n == data_n:
        return None
    index = {n: i for i, n in enumerate(model_n)}
    if set(model_n) != set(data_n) or len(model_n) != len(data_n):
        only_data = [n for n in data_names if norm(n) not in index]
        only_model = [n for n in model_names if norm(n) not in set(data_n)]
        raise ValueError(
            f"the checkpoint's classes ({where}/label_map.json) are not the data's: "
            f"{only_data[:3]} only in the data, {only_model[:3]} only in the checkpoint")
    return np.asarray([index[n] for n in data_n])

