"""ViViT-L end to end at the released size: convert, run, export a 2.4 GB Scenic checkpoint.

  python benchmarks/large_checkpoint.py [--workdir /tmp/vivit_large] [--stages all]
                                        [--frames 32] [--image 224]

A stand-in of Scenic's released ViViT-L/16x2 FE file (`vivit_large_16x2_fe`, K400: 24
spatial + 24 temporal layers, width 1024, 400 classes; 606.8 M parameters, 2.43 GB of
float32; random weights in Scenic's msgpack layout) is written, then each stage runs in its
own process (its peak memory is that process's maximum RSS):

- `convert`: `vivit-convert` into a workdir (`released.convert`);
- `forward`: the converted workdir loaded as `vivit-predict` loads it and run on one clip
  (`--frames` × `--image`², uint8; the position embeddings follow a smaller clip);
- `export`: `vivit-export --format saved_model,stablehlo --views none --platforms cpu`;
- `serve`: the exported StableHLO (`clips.jax_exported` + `params.npz`) called on the clip,
  and compared with `forward`'s logits;
- `tf`: the SavedModel loaded by plain TensorFlow and its `serving_default` called on the
  clip, compared the same way.

Printed: seconds, peak RSS and output sizes per stage. Memory: the stages hold 2-4 copies
of the weights (10 GB peak or so); run it alone.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STAGES = ("standin", "convert", "forward", "export", "serve", "tf")


def _block(rng, d: int, heads: int, mlp: int) -> dict:
    import numpy as np
    r = lambda *s: 0.02 * rng.standard_normal(s, dtype=np.float32)  # noqa: E731
    ln = lambda: {"scale": np.ones(d, np.float32), "bias": np.zeros(d, np.float32)}  # noqa
    attn = {p: {"kernel": r(d, heads, d // heads), "bias": np.zeros((heads, d // heads),
                                                                    np.float32)}
            for p in ("query", "key", "value")}
    attn["out"] = {"kernel": r(heads, d // heads, d), "bias": np.zeros(d, np.float32)}
    return {"LayerNorm_0": ln(), "MultiHeadDotProductAttention_0": attn, "LayerNorm_1": ln(),
            "MlpBlock_0": {"Dense_0": {"kernel": r(d, mlp), "bias": np.zeros(mlp, np.float32)},
                           "Dense_1": {"kernel": r(mlp, d), "bias": np.zeros(d, np.float32)}}}


def standin(path: pathlib.Path) -> dict:
    """Scenic's ViViT-L/16x2 FE K400 train state (`params` layout), random weights."""
    import numpy as np
    from flax import serialization
    rng = np.random.default_rng(0)
    d, heads, mlp = 1024, 16, 4096

    def encoder(depth, tokens):
        enc = {f"encoderblock_{i}": _block(rng, d, heads, mlp) for i in range(depth)}
        enc["posembed_input"] = {"pos_embedding": 0.02 * rng.standard_normal(
            (1, tokens, d), dtype=np.float32)}
        enc["encoder_norm"] = {"scale": np.ones(d, np.float32), "bias": np.zeros(d, np.float32)}
        return enc
    params = {"embedding": {"kernel": 0.02 * rng.standard_normal((2, 16, 16, 3, d),
                                                                 dtype=np.float32),
                            "bias": np.zeros(d, np.float32)},
              "SpatialTransformer": encoder(24, 1 + 14 * 14),
              "TemporalTransformer": encoder(24, 1 + 16),
              "cls_SpatialTransformer": np.zeros((1, 1, d), np.float32),
              "cls_TemporalTransformer": np.zeros((1, 1, d), np.float32),
              "output_projection": {"kernel": 0.02 * rng.standard_normal((d, 400),
                                                                         dtype=np.float32),
                                    "bias": np.zeros(400, np.float32)}}
    n = sum(a.size for a in _leaves(params))
    path.write_bytes(serialization.msgpack_serialize({"params": params, "global_step": 1}))
    return {"parameters": n, "file_bytes": path.stat().st_size}


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    else:
        yield tree


def _clip(frames: int, image: int):
    import numpy as np
    return np.random.default_rng(1).integers(0, 256, (1, frames, image, image, 3), np.uint8)


def forward(workdir: pathlib.Path, frames: int, image: int) -> dict:
    import jax
    import numpy as np

    from vivit_jax.evaluate import export, predict
    cfg, model, _, _ = predict.load(str(workdir))
    params, clips_fn, _ = export.serving_functions(cfg, model)
    t0 = time.perf_counter()
    out = jax.jit(clips_fn)(params, _clip(cfg.dataset.num_frames, cfg.dataset.image_size))
    logits = np.asarray(out["logits"])
    np.save(workdir.parent / "forward_logits.npy", logits)
    return {"input": [cfg.dataset.num_frames, cfg.dataset.image_size],
            "run_seconds": round(time.perf_counter() - t0, 1)}


def serve(export_dir: pathlib.Path) -> dict:
    import numpy as np
    from jax import export as jax_export
    exp = jax_export.deserialize((export_dir / "clips.jax_exported").read_bytes())
    meta = json.loads((export_dir / "export.json").read_text())
    _, frames, image, _, _ = meta["input"]["shape"]
    params = list(np.load(export_dir / "params.npz").values())
    logits = np.asarray(exp.call(params, _clip(frames, image))["logits"])
    want = np.load(export_dir.parent / "forward_logits.npy")
    return {"max_abs_diff_vs_forward": float(np.abs(logits - want).max())}


def serve_tf(export_dir: pathlib.Path) -> dict:
    import numpy as np

    from vivit_jax.data.tf_quiet import tf
    meta = json.loads((export_dir / "export.json").read_text())
    _, frames, image, _, _ = meta["input"]["shape"]
    t0 = time.perf_counter()
    model = tf.saved_model.load(str(export_dir / "saved_model"))
    loaded = time.perf_counter() - t0
    out = model.signatures["serving_default"](video=tf.constant(_clip(frames, image)))
    want = np.load(export_dir.parent / "forward_logits.npy")
    return {"load_seconds": round(loaded, 1),
            "saved_model_pb_bytes": (export_dir / "saved_model" / "saved_model.pb").stat().st_size,
            "max_abs_diff_vs_forward": float(np.abs(out["logits"].numpy() - want).max())}


def _du(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def stage(name: str, root: pathlib.Path, frames: int, image: int) -> dict:
    """Runs one stage in this process; returns its figures."""
    ckpt, wd, out = root / "checkpoint", root / "converted", root / "export"
    if name == "standin":
        return standin(ckpt)
    if name == "convert":
        from vivit_jax.convert import released
        overrides = [f"dataset.num_frames={frames}", f"dataset.image_size={image}"]
        released.convert(str(ckpt), str(wd), overrides=overrides, log=lambda s: None)
        return {"workdir_bytes": _du(wd)}
    if name == "forward":
        return forward(wd, frames, image)
    if name == "export":
        from vivit_jax.evaluate import export
        export.run(str(wd), str(out), views="none", platforms=("cpu",), log=None)
        return {name: _du(out / name) for name in ("saved_model", "params.npz",
                                                    "clips.jax_exported")}
    return serve(out) if name == "serve" else serve_tf(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="/tmp/vivit_large")
    p.add_argument("--stages", default="all", help=f"comma-separated of {STAGES}, or all")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--stage", help=argparse.SUPPRESS)  # One stage, in a child process.
    args = p.parse_args()
    root = pathlib.Path(args.workdir)
    if args.stage:
        result = stage(args.stage, root, args.frames, args.image)
        result["peak_rss_gib"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        print(json.dumps(result))
        return
    root.mkdir(parents=True, exist_ok=True)
    for name in STAGES if args.stages == "all" else args.stages.split(","):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--stage", name, "--workdir",
                               str(root), "--frames", str(args.frames), "--image",
                               str(args.image)], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode:
            print(f"{name}: FAILED after {seconds:.1f} s (rc {proc.returncode}): "
                  f"{proc.stderr.strip().splitlines()[-1:]}")
            break
        print(f"{name}: {seconds:.1f} s (with the process start), "
              f"{proc.stdout.strip().splitlines()[-1]}", flush=True)


if __name__ == "__main__":
    main()
