"""A checkpoint's model for the evaluation commands, and the names of its classes.

Shared by `vivit-eval`, `vivit-predict`, `vivit-rollout` and `vivit-export`. Which checkpoint
and its parameters come from `vivit_jax.checkpoint` (`resolve`, `restore_params`): restored
into the shapes and shardings of the config's model on the current mesh, after a shape check
that names the first tensor that does not fit the config; the optimiser state is not read.
"""
from __future__ import annotations

import os

import ml_collections
import numpy as np

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import fileio


def load_workdir_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The resolved config a training run saved as `WORKDIR/config.json`, validated, locked."""
    from vivit_jax import config as config_lib

    path = fileio.join(fileio.expanduser(workdir), "config.json")
    if not fileio.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: pass --config FILE or a training workdir")
    cfg = config_lib.complete(config_lib.from_json(fileio.read_text(path), path))
    cfg.lock()
    return cfg


def load_model(cfg: ml_collections.ConfigDict, checkpoint: str | os.PathLike | ckpt_lib.Resolved,
               mesh=None):
    """`(graphdef, params, setup, mesh)`: the config's model with the params of `checkpoint`
    (anything `checkpoint.resolve` takes)."""
    from vivit_jax import sharding
    from vivit_jax import state as state_lib

    mesh = mesh if mesh is not None else sharding.mesh_from_config(cfg)
    setup = state_lib.setup_state(cfg, mesh)
    params = ckpt_lib.restore_params(checkpoint, setup.abstract_params, setup.param_sh)
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

