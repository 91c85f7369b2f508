"""`vivit-export`: a trained model as artifacts that run without this codebase.

  vivit-export --checkpoint CHECKPOINT --out DIR [--format saved_model,stablehlo]
               [--views TxS|none] [--platforms cpu,cuda,tpu]

CHECKPOINT is anything `vivit_jax.checkpoint.resolve` takes (a training workdir, a step
directory, a vivit-convert output). Writes into DIR (which must not exist yet, or be empty):

- `saved_model/`: a TensorFlow SavedModel. Signature `serving_default` takes `video`, uint8
  [batch, F, H, W, 3] decoded clips (any batch size; F, H, W fixed by the config) and returns
  `logits` and `probabilities` [batch, K]; the config's `dataset.normalization` runs inside.
  Signature `views` (unless `--views none`) takes the T·S views of one video, uint8
  [T·S, F, H, W, 3], and returns `view_logits` [T·S, K], `scores` [K] (the views aggregated
  with `dataset.test_aggregate`: mean logits or mean probabilities, as `vivit-eval`) and
  `probabilities` [K]. Class names are the asset `assets/labels.txt`, one a line.
- `clips.jax_exported` (and `views.jax_exported`): `jax.export`'s serialized StableHLO of the
  same functions, batch-polymorphic, taking `(params, video)`; `params.npz` holds the
  parameters in the order `params` expects (`list(np.load(...).values())`). The weights are
  an argument, not constants, because both formats stop at 2 GB of graph (protobuf for
  `saved_model.pb`, flatbuffers for `.jax_exported`) and Scenic's ViViT-L FE is 2.43 GB: it
  exports with a 2.5 MB `saved_model.pb` (benchmarks/large_checkpoint.py).
- `labels.txt` and `export.json` (input shape, normalisation, views, step, the config).

The SavedModel is built the way `jax2tf` (native serialization, the only mode left in
jax 0.10) builds it: the StableHLO above inside TensorFlow's `XlaCallModule` op, the weights
as `tf.Variable`s, for the platforms of `--platforms` (default: cpu, cuda and tpu).

Everything is checked before anything is written (checkpoint readable, `--out` writable and
empty); a refusal is one `vivit-export: error:` line. This module lives in `evaluate/` with
`vivit-predict`, whose checkpoint loading (`predict.load`) and multi-view protocol it reuses.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

FORMATS = ("saved_model", "stablehlo")
PLATFORMS = ("cpu", "cuda", "rocm", "tpu")


# ------------------------------------------------------------------ the exported functions

def serving_functions(cfg, model):
    """`(params [leaves], clips_fn, views_fn)`: pure functions of `(params, uint8 video)`."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from vivit_jax import state as state_lib
    from vivit_jax.data import device_augment

    graphdef, state = nnx.split(model)
    leaves, treedef = jax.tree.flatten(state)
    d = cfg.dataset
    dtype = state_lib.DTYPES[cfg.dtype]
    multi_label = bool(d.multi_label)

    def probs(logits):
        return jax.nn.sigmoid(logits) if multi_label else jax.nn.softmax(logits, axis=-1)

    def logits_of(params, video):
        m = nnx.merge(graphdef, jax.tree.unflatten(treedef, list(params)))
        x = device_augment.normalize(video, d.normalization, tuple(d.mean),
                                     tuple(d.std)).astype(dtype)
        logits, _ = m(x, train=False)
        return logits.astype(jnp.float32)

    def clips_fn(params, video):
        logits = logits_of(params, video)
        return {"logits": logits, "probabilities": probs(logits)}

    def views_fn(params, views):
        view_logits = logits_of(params, views)
        if d.test_aggregate == "logits":  # metrics.aggregate_views, in jnp.
            scores = view_logits.mean(axis=0)
            p = probs(scores)
        else:
            scores = p = probs(view_logits).mean(axis=0)
        return {"view_logits": view_logits, "scores": scores, "probabilities": p}

    return leaves, clips_fn, views_fn


def export_fn(fn, params, shape: tuple, platforms: tuple[str, ...]):
    """`jax.export.Exported` of `fn(params, uint8 video)`; a leading 'b' in `shape` is
    symbolic (any batch size)."""
    import jax
    import numpy as np
    from jax import export

    dims = (export.symbolic_shape("b")[0],) + tuple(shape[1:]) if shape[0] == "b" else shape
    specs = ([jax.ShapeDtypeStruct(np.shape(p), p.dtype) for p in params],
             jax.ShapeDtypeStruct(dims, np.uint8))
    return export.export(jax.jit(fn), platforms=platforms)(*specs)


# ------------------------------------------------------------------ the SavedModel

def saved_model_module(fns: dict, params: list, shapes: dict, platforms, labels: str):
    """A `tf.Module` with the weights as `tf.Variable`s and one tf.function per entry of
    `fns` (`name → fn(params, video)`), each `jax2tf.convert`ed: XlaCallModule over the same
    StableHLO `export_fn` writes (jax2tf's native serialization is `jax.export`)."""
    import numpy as np
    from jax.experimental import jax2tf

    from vivit_jax.data.tf_quiet import tf

    module = tf.Module()
    module.params = [tf.Variable(np.asarray(p), trainable=False, name=f"p{i}")
                     for i, p in enumerate(params)]
    module.labels = tf.saved_model.Asset(labels)
    signatures = {}
    for name, fn in fns.items():
        shape = shapes[name]
        poly = "(b, ...)" if shape[0] == "b" else None
        call = jax2tf.convert(fn, polymorphic_shapes=[None, poly], with_gradient=False,
                              native_serialization_platforms=tuple(platforms))
        spec = tf.TensorSpec([None if d == "b" else d for d in shape], tf.uint8, name="video")
        f = tf.function(_bind(call, module.params, spec.shape), input_signature=[spec],
                        autograph=False)
        setattr(module, name, f)
        signatures["serving_default" if name == "clips" else name] = f.get_concrete_function()
    return module, signatures


def _bind(call, params, shape):
    """`video → call(params, video)` (a closure: tf.function signatures allow no defaults).

    A signature call does not check static dims itself: without `ensure_shape` a wrong frame
    count surfaces as XlaCallModule's "invalid refinement for argument 40"."""
    from vivit_jax.data.tf_quiet import tf

    def serve(video):
        return call(params, tf.ensure_shape(video, shape, name="check_video_shape"))
    return serve


# ------------------------------------------------------------------ checks, then writes

def check_out(out: str) -> None:
    """Refuse an `--out` that holds anything, or whose parent cannot be written."""
    from vivit_jax import fileio, outputs

    if fileio.exists(out):
        if not fileio.isdir(out):
            raise ValueError(f"--out {out} exists and is not a directory")
        if fileio.listdir(out):
            what = "an export" if fileio.exists(fileio.join(out, "export.json")) else "files"
            raise ValueError(f"--out {out} already holds {what}; pass a new directory")
    if fileio.is_remote(out):
        return  # Remote: the first write tells; local parents are checked below.
    parent = outputs.nearest_existing(out)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: {parent} is not a writable directory")


def run(checkpoint: str, out: str, formats=FORMATS, views: str | None = None,
        platforms=("cpu", "cuda", "tpu"), log=print) -> dict[str, Any]:
    """Exports `checkpoint` into `out`; returns what `export.json` holds plus timings."""
    from vivit_jax import checkpoint as ckpt_lib
    from vivit_jax import cli
    from vivit_jax.evaluate import predict, restore

    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS] or ([] if formats else ["(none)"])
    if bad:
        raise ValueError(f"--format {','.join(bad)}: expected a comma-separated subset of "
                         f"{','.join(FORMATS)}")
    platforms = tuple(platforms)
    if not platforms or any(p not in PLATFORMS for p in platforms):
        raise ValueError(f"--platforms {','.join(platforms)}: expected a subset of "
                         f"{','.join(PLATFORMS)}")
    found = ckpt_lib.resolve(checkpoint)
    restore.load_workdir_config(found.workdir)  # Readable config, before writing.
    if views is not None and views.lower() != "none":
        cli.parse_views(views)
    check_out(out)

    t0 = time.perf_counter()
    cfg, model, step, workdir = predict.load(found)
    d = cfg.dataset
    if views is None:
        views = f"{d.test_clips}x{d.test_crops}"
    clip_shape = ("b", d.num_frames, d.image_size, d.image_size, 3)
    params, clips_fn, views_fn = serving_functions(cfg, model)
    fns, shapes = {"clips": clips_fn}, {"clips": clip_shape}
    if views.lower() != "none":
        c, s = cli.parse_views(views)
        fns["views"], shapes["views"] = views_fn, (c * s,) + clip_shape[1:]
    labels = restore.label_names(cfg, workdir)
    meta = {"checkpoint": str(checkpoint), "step": step, "model": cfg.model.family,
            "input": {"dtype": "uint8", "shape": ["batch", *clip_shape[1:]],
                      "normalization": d.normalization, "mean": list(d.mean),
                      "std": list(d.std)},
            "num_classes": len(labels), "multi_label": bool(d.multi_label),
            "views": {"views": views, "shape": list(shapes["views"]),
                      "aggregate": d.test_aggregate} if "views" in shapes else None,
            "formats": list(formats), "platforms": list(platforms),
            "config": json.loads(cfg.to_json_best_effort())}
    exported = ({n: export_fn(fns[n], params, shapes[n], platforms) for n in fns}
                if "stablehlo" in formats else {})
    write(out, formats, exported, fns, shapes, params, labels, meta, platforms)
    meta["export_seconds"] = time.perf_counter() - t0
    if log:
        log(f"vivit-export: step {step} of {workdir} → {out} ({', '.join(formats)}; "
            f"{meta['export_seconds']:.1f} s)")
    return meta


def write(out, formats, exported, fns, shapes, params, labels, meta, platforms) -> None:
    """Writes the artifacts; on failure removes `out` again if this call created it."""
    import io

    import numpy as np

    from vivit_jax import fileio
    from vivit_jax.data.tf_quiet import tf

    created = not fileio.exists(out)
    try:
        fileio.makedirs(out)
        labels_path = fileio.join(out, "labels.txt")
        fileio.write_text(labels_path, "".join(f"{n}\n" for n in labels))
        if "stablehlo" in formats:
            for name, exp in exported.items():
                fileio.write_bytes(fileio.join(out, f"{name}.jax_exported"), exp.serialize())
            buf = io.BytesIO()
            np.savez(buf, **{f"p{i:04d}": np.asarray(p) for i, p in enumerate(params)})
            fileio.write_bytes(fileio.join(out, "params.npz"), buf.getvalue())
        if "saved_model" in formats:
            module, signatures = saved_model_module(fns, params, shapes, platforms, labels_path)
            tf.saved_model.save(module, fileio.join(out, "saved_model"), signatures=signatures)
        fileio.write_text(fileio.join(out, "export.json"), json.dumps(meta, indent=2))
    except BaseException:
        if created and fileio.exists(out):
            fileio.rmtree(out)
        raise


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-export`."""
    from vivit_jax.cli import exit_code

    p = argparse.ArgumentParser(prog="vivit-export", description=(
        "Export a checkpoint as a TensorFlow SavedModel and jax.export StableHLO."))
    p.add_argument("--checkpoint", required=True,
                   help="training workdir (its latest step), step directory, vivit-convert "
                        "output, or the config.json of one")
    p.add_argument("--out", required=True, help="new (or empty) output directory; gs:// ok")
    p.add_argument("--format", default=",".join(FORMATS),
                   help="comma-separated: saved_model, stablehlo (default both)")
    p.add_argument("--views", default=None,
                   help="CLIPSxCROPS of the multi-view signature (default: the config's "
                        "test views); 'none' for no such signature")
    p.add_argument("--platforms", default="cpu,cuda,tpu",
                   help="platforms the StableHLO is lowered for (default cpu,cuda,tpu)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        run(args.checkpoint, args.out, formats=[f.strip() for f in args.format.split(",")],
            views=args.views, platforms=[s.strip() for s in args.platforms.split(",")])
    except (ValueError, OSError) as e:
        print(f"vivit-export: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
