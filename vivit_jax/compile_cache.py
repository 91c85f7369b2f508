"""JAX's persistent compilation cache, so a restarted or preempted run does not recompile.

`config.compile_cache_dir`:
- `'auto'` (default): the directory JAX already uses if one is set (`JAX_COMPILATION_CACHE_DIR`
  or `jax.config`), else `WORKDIR/compile_cache` when the workdir is remote (`gs://…`: a
  recreated Spot TPU VM finds it again, every worker of a pod reads the same one) and
  `$XDG_CACHE_HOME/vivit_jax/jax` (`~/.cache/vivit_jax/jax`) for a local workdir;
- a path (local or `gs://…`): that directory;
- `''`: off.

JAX writes an executable only when compiling it took at least
`jax_persistent_cache_min_compile_time_secs` (1 s by default: the train and eval steps of any
real model; a tiny CPU model's sub-second compilations are not worth the disk). Only process 0
writes; every process reads. Time to the first step, cold vs warm: `benchmarks/compile_cache.py`.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import jax


def default_local_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vivit_jax", "jax")


def resolve(setting: str, workdir: str) -> str:
    """The cache directory `setting` means for a run in `workdir` ('' = off)."""
    setting = str(setting)
    if setting != "auto":
        return setting
    current = jax.config.jax_compilation_cache_dir
    if current:
        return str(current)
    workdir = str(workdir)
    if "://" in workdir:
        return workdir.rstrip("/") + "/compile_cache"
    return default_local_dir()


def enable(setting: str, workdir: str) -> str:
    """Points JAX's persistent cache at `resolve(setting, workdir)`; returns it ('' = off).

    JAX decides once per process whether the cache is used (at its first compilation), so a
    directory that changes after compilations (a second run in the same process) resets it.
    """
    from jax.experimental.compilation_cache import compilation_cache as cc

    path = resolve(setting, workdir)
    current = jax.config.jax_compilation_cache_dir or ""
    if path == current:
        return path
    if path and "://" not in path:
        os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path or None)
    cc.reset_cache()
    return path


def for_run(setting: str, workdir: str) -> Callable[[], str]:
    """The cache of a training run in `workdir`, enabled in the one order that keeps a refused
    run's workdir untouched: a directory outside the workdir at once (the set-up's
    compilations use it), one inside it (a `gs://` workdir's default) only when the returned
    `ready()` is called, once the run is known to fit the workdir. `ready()` returns the
    directory ('' = off)."""
    path = resolve(setting, workdir)
    inside = bool(path) and path.startswith(str(workdir).rstrip("/") + "/")
    if not inside:
        enable(path, workdir)

    def ready() -> str:
        if inside:
            enable(path, workdir)
        return path

    return ready
