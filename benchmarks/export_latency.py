"""`vivit-export` of ViViT-B: export time, artifact sizes, per-clip latency SavedModel vs JAX.

  python benchmarks/export_latency.py [--config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py]
                                      [--repeats 3] [--workdir /tmp/vivit_export_bench]

A freshly initialised checkpoint of the config (random weights: latency does not depend on
them) is written to a workdir, exported with `export.run` (CPU platform only, the config's
views), then one uint8 clip (batch 1) is timed through the SavedModel's `serving_default`
signature (loaded with `tf.saved_model.load`) and through the jitted JAX function
(normalisation + model, the function both artifacts hold). First call (compile) and the
median of `--repeats` calls are printed for each.
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_workdir(path: pathlib.Path, config: str) -> None:
    """config.json + checkpoints/1 with freshly initialised weights (full size)."""
    import jax

    from vivit_jax import checkpoint as ckpt_lib
    from vivit_jax import config as config_lib
    from vivit_jax import sharding
    from vivit_jax import state as state_lib

    cfg = config_lib.load(str(REPO / config), [])
    path.mkdir(parents=True)
    (path / "config.json").write_text(cfg.to_json_best_effort(indent=2))
    state = state_lib.setup_state(cfg, sharding.make_mesh(cfg.mesh)).init_state(jax.random.key(0))
    ck = ckpt_lib.Checkpointer(path, every_steps=1, keep=1)
    ck.save(1, {"params": state["params"]}, force=True)
    ck.close()


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call s, median of `repeats` later calls s)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def size_mb(path: str) -> float:
    p = pathlib.Path(path)
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", default="/tmp/vivit_export_bench")
    args = p.parse_args()

    import jax
    import numpy as np

    from vivit_jax.data.tf_quiet import tf
    from vivit_jax.evaluate import export, predict

    root = pathlib.Path(args.workdir)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    make_workdir(root / "wd", args.config)
    print(f"checkpoint written: {time.perf_counter() - t0:.1f} s", flush=True)

    out = str(root / "export")
    t0 = time.perf_counter()
    meta = export.run(str(root / "wd"), out, platforms=("cpu",), log=None)
    export_s = time.perf_counter() - t0

    cfg, model, _, _ = predict.load(str(root / "wd"))
    params, clips_fn, _ = export.serving_functions(cfg, model)
    d = cfg.dataset
    clip = np.random.default_rng(0).integers(
        0, 256, (1, d.num_frames, d.image_size, d.image_size, 3), dtype=np.uint8)
    fwd = jax.jit(clips_fn)
    jax_first, jax_med = timed(lambda: fwd(params, clip)["logits"].block_until_ready(),
                               args.repeats)
    want = np.asarray(fwd(params, clip)["logits"])
    del model

    t0 = time.perf_counter()
    sm = tf.saved_model.load(f"{out}/saved_model")
    load_s = time.perf_counter() - t0
    serve = sm.signatures["serving_default"]
    video = tf.constant(clip)
    tf_first, tf_med = timed(lambda: serve(video=video)["logits"].numpy(), args.repeats)
    diff = float(np.abs(serve(video=video)["logits"].numpy() - want).max())

    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                         text=True).stdout.split(":")[-1].strip()
    print(f"machine: {cpu}, {os.cpu_count()} cores visible, "
          f"{datetime.date.today().isoformat()}, jax {jax.__version__}, tf {tf.__version__}")
    print(f"config: {args.config} (views {meta['views']['views']}), batch 1, float32")
    print(f"export (load checkpoint + lower 2 signatures + write): {export_s:.1f} s")
    for name in ("saved_model", "clips.jax_exported", "views.jax_exported", "params.npz"):
        print(f"  {name}: {size_mb(os.path.join(out, name)):.1f} MB")
    print(f"SavedModel load: {load_s:.1f} s")
    print(f"per clip  SavedModel: first {tf_first:.2f} s, median {tf_med:.2f} s "
          f"({args.repeats} calls)")
    print(f"per clip  JAX jit:    first {jax_first:.2f} s, median {jax_med:.2f} s "
          f"({args.repeats} calls)")
    print(f"max |logit difference| SavedModel vs JAX: {diff:.2e}")


if __name__ == "__main__":
    main()
