"""Latency per view and XLA's compiled memory of a config's model (for `vivit-profile`).

- `latency_per_view(cfg, batch_sizes=(1, B), repeats)`: the jitted inference forward on
  random parameters and inputs; compilation and one warm-up call excluded; the median over
  `repeats` timed calls (each waited for with `block_until_ready`) divided by the batch size.
- `compiled_memory(cfg)`: `compiled.memory_analysis()` of the inference forward (one view)
  and of one train step (`state_lib.setup_state` + `state_lib.make_train_step`, donated state),
  both lowered on abstract inputs: nothing is allocated.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vivit_jax import sharding
from vivit_jax import state as state_lib


def _view_shape(cfg, batch: int) -> tuple[int, ...]:
    d = cfg.dataset
    return (batch, d.num_frames, d.image_size, d.image_size, 3)


def _forward(graphdef, cfg):
    dtype = state_lib.DTYPES[cfg.dtype]

    def fwd(params, video):
        logits, _ = nnx.merge(graphdef, params)(video.astype(dtype), train=False)
        return logits

    return fwd


def latency_per_view(cfg, batch_sizes: Sequence[int] = (1, 8), repeats: int = 10,
                     seed: int = 0) -> dict[int, dict[str, float]]:
    """`{batch: {ms_per_view, ms_per_batch, compile_s}}`: median of `repeats` timed calls."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    model = state_lib.create_model(cfg, nnx.Rngs(seed))
    graphdef, state = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(state)
    fwd = jax.jit(_forward(graphdef, cfg))
    out = {}
    for b in batch_sizes:
        video = jax.random.normal(jax.random.key(seed), _view_shape(cfg, int(b)), jnp.float32)
        t0 = time.perf_counter()
        compiled = fwd.lower(params, video).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(params, video))  # Warm-up (first-run allocations).
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(params, video))
            times.append(time.perf_counter() - t0)
        med = statistics.median(times) * 1e3
        out[int(b)] = {"ms_per_batch": med, "ms_per_view": med / b, "compile_s": compile_s}
    return out


def _memory(compiled) -> dict[str, int]:
    m = compiled.memory_analysis()
    if m is None:  # Some backends do not report it.
        return {}
    keys = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
            "alias_size_in_bytes", "generated_code_size_in_bytes", "peak_memory_in_bytes")
    res = {k.replace("_in_bytes", "_bytes"): int(getattr(m, k)) for k in keys if hasattr(m, k)}
    # What the executable holds at once: its arguments, its outputs not aliased to (donated)
    # arguments, and the one temporary buffer XLA's buffer assignment sized (already the
    # maximum over the program's live ranges). The CPU backend's own `peak_memory_in_bytes`
    # leaves the temporaries out, so the larger of the two is reported.
    footprint = (res.get("argument_size_bytes", 0) + res.get("output_size_bytes", 0)
                 + res.get("temp_size_bytes", 0) - res.get("alias_size_bytes", 0))
    res["peak_memory_bytes"] = max(res.get("peak_memory_bytes", 0), footprint)
    return res


def compiled_memory(cfg, batch_size: int | None = None, devices=None, *,
                    train_batch_size: int | None = None) -> dict[str, Any]:
    """XLA's memory analysis of the inference forward and of one train step (bytes).

    Forward: `batch_size` views (default 1) on one device. Train step: the global
    `train_batch_size` (default `batch_size`, else `cfg.batch_size`) on the config's mesh over
    `devices` (default: all); sizes are per device, as XLA reports them.
    """
    mesh = sharding.mesh_from_config(cfg, devices)
    setup = state_lib.setup_state(cfg, mesh)
    params = setup.abstract_params
    b_fwd = batch_size or 1
    video = jax.ShapeDtypeStruct(_view_shape(cfg, b_fwd), jnp.float32)
    fwd = jax.jit(_forward(setup.graphdef, cfg)).lower(params, video).compile()

    batch_sh, repl = sharding.batch_sharding(mesh), sharding.replicated(mesh)
    b = train_batch_size or batch_size or cfg.batch_size
    abstract_state = jax.eval_shape(setup.init_state, jax.random.key(0))
    label = (jax.ShapeDtypeStruct((b, cfg.dataset.num_classes), jnp.float32)
             if cfg.dataset.multi_label else jax.ShapeDtypeStruct((b,), jnp.int32))
    batch = {"video": jax.ShapeDtypeStruct(_view_shape(cfg, b), jnp.float32), "label": label}
    step = jax.jit(state_lib.make_train_step(setup.graphdef, setup.tx, cfg, mesh),
                   in_shardings=(setup.state_sh, batch_sh, repl),
                   out_shardings=(setup.state_sh, repl), donate_argnums=(0,))
    rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)
    train_c = step.lower(abstract_state, batch, rng).compile()
    n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    return {"forward": dict(_memory(fwd), batch=b_fwd),
            "train_step": dict(_memory(train_c), batch=b, devices=int(mesh.size)),
            "num_params": n_params}
