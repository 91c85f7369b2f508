"""`vivit-predict`: top-k labels of video files with a trained checkpoint.

  vivit-predict --checkpoint WORKDIR VIDEO… [--config FILE] [--views TxS] [--aggregate A]
                [--top 5]

WORKDIR is a training workdir (its `config.json` holds the resolved config, `checkpoints/`
the weights) or one of its step directories. Each video is decoded with PyAV as
`vivit-prepare` does (resampled to `--fps`, short side resized to `dataset.min_resize`),
then its views are sampled exactly like `vivit-eval` samples a test video (evenly spaced
clips × centre or three crops, `dataset.normalization`): by default the config's test views
(`dataset.test_clips` × `dataset.test_crops`), aggregated as `dataset.test_aggregate` says, so
its answer is `vivit-eval`'s and the exported `views` signature's. Class names come from
the dataset's label map when it can be found, else class indices. A file that cannot be
decoded is reported on one line; the other videos are still predicted and the exit code is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Any

import numpy as np

from vivit_jax.evaluate import metrics as metrics_lib


def decode(path: str, min_resize: int, fps: float = 10.0) -> np.ndarray:
    """uint8 [N, H, W, 3] frames of a video file (ValueError with the reason if it fails)."""
    from vivit_jax.data import prepare

    if not pathlib.Path(path).is_file():
        raise ValueError("no such file")
    import av

    try:
        frames, _, _ = prepare.decode_video(path, fps=fps, min_resize=min_resize)
    except av.FFmpegError as e:  # FFmpeg's reason without its errno and the path again.
        raise ValueError(f"cannot decode ({type(e).__name__}: "
                         f"{getattr(e, 'strerror', None) or e})") from None
    except ValueError as e:  # decode_video's own: no video stream, no frames.
        raise ValueError(f"cannot decode ({e})") from None
    except Exception as e:  # Anything else PyAV raises for a damaged file.
        raise ValueError(f"cannot decode ({type(e).__name__}: {e})") from None
    return np.stack(frames)


def make_views(frames: np.ndarray, cfg_data, num_clips: int, num_crops: int,
               normalize: bool = True) -> np.ndarray:
    """float32 [C·S, F, s, s, 3] test views of uint8 frames, the pixels `pipeline`'s eval
    views have (view v = clip v // S, crop v % S), normalised as the eval step does;
    `normalize=False` keeps [0, 255] for display."""
    from vivit_jax.data import device_augment, host_ops, video_ops
    from vivit_jax.data.tf_quiet import tf

    idx = video_ops.multi_clip_indices(len(frames), cfg_data.sampling, num_clips,
                                       cfg_data.num_frames, cfg_data.stride)
    views = host_ops.eval_views(tf.convert_to_tensor(frames, tf.uint8), idx,
                                cfg_data.min_resize, cfg_data.image_size, num_crops).numpy()
    if not normalize:
        return views.astype(np.float32)
    return np.asarray(device_augment.normalize(views, cfg_data.normalization,
                                               tuple(cfg_data.mean), tuple(cfg_data.std)))


def load(checkpoint: str, config: str | None = None, overrides: list[str] = ()):
    """`(cfg, model, step, workdir)`: the workdir's (or `config`'s) model with the
    checkpoint's params, on one device."""
    import jax
    from flax import nnx

    from vivit_jax import checkpoint as ckpt_lib
    from vivit_jax import sharding
    from vivit_jax.cli import load_config
    from vivit_jax.evaluate import restore

    found = ckpt_lib.resolve(checkpoint)
    cfg = load_config(config, found.workdir, list(overrides))
    mesh = sharding.make_mesh((("data", 1), ("fsdp", 1), ("model", 1)), jax.devices()[:1])
    graphdef, params, _, _ = restore.load_model(cfg, found, mesh)
    return cfg, nnx.merge(graphdef, params), found.step, found.workdir


def forward(model, cfg, video: np.ndarray, **kwargs):
    """`model(video, train=False, **kwargs)` compiled as one program: run eagerly, every op
    of the forward is compiled on its own (ViViT-Ti: ~100 compilations, 10-30 s on 2 cores)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from vivit_jax import state as state_lib

    graphdef, state = nnx.split(model)
    run = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x, train=False, **kwargs))
    return run(state, jnp.asarray(video, state_lib.DTYPES[cfg.dtype]))


def predict_views(model, cfg, views: np.ndarray, aggregate: str | None = None) -> np.ndarray:
    """Class probabilities [K] of one video's views [V, F, s, s, 3], aggregated over the views
    as `aggregate` (default: the config's `dataset.test_aggregate`) says."""
    aggregate = aggregate or cfg.dataset.test_aggregate
    logits, _ = forward(model, cfg, views)
    scores = metrics_lib.aggregate_views(np.asarray(logits, np.float32)[None], aggregate,
                                         cfg.dataset.multi_label)[0]
    if aggregate == "logits":
        scores = metrics_lib.probabilities(scores, cfg.dataset.multi_label)
    return scores


def run(videos: list[str], *, checkpoint: str, config: str | None = None, overrides=(),
        views: str | None = None, top: int = 5, aggregate: str | None = None,
        fps: float = 10.0,
        out=print, err=None) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Predicts each video; returns (results, failures [(video, reason)])."""
    from vivit_jax import cli
    from vivit_jax.evaluate import restore

    err = err or (lambda m: print(m, file=sys.stderr, flush=True))
    if views:  # Both checked before the model is loaded.
        cli.parse_views(views)
    if aggregate and aggregate not in metrics_lib.AGGREGATES:
        raise ValueError(f"--aggregate {aggregate!r}: expected one of {metrics_lib.AGGREGATES}")
    cfg, model, step, workdir = load(checkpoint, config, list(overrides))
    # The config's test protocol by default, as vivit-eval and the exported `views` use.
    d = cfg.dataset
    clips, crops = cli.parse_views(views or f"{d.test_clips}x{d.test_crops}")
    aggregate = aggregate or d.test_aggregate
    names = restore.label_names(cfg, workdir)
    results, failures = [], []
    for path in videos:
        try:
            frames = decode(path, cfg.dataset.min_resize, fps)
        except ValueError as e:
            failures.append((path, str(e)))
            err(f"vivit-predict: error: {path}: {e}")
            continue
        probs = predict_views(model, cfg, make_views(frames, cfg.dataset, clips, crops),
                              aggregate)
        order = np.argsort(-probs, kind="stable")[:top]
        res = {"video": path, "frames": int(len(frames)), "views": f"{clips}x{crops}",
               "aggregate": aggregate,
               "top": [{"label": names[c], "index": int(c), "probability": float(probs[c])}
                       for c in order]}
        results.append(res)
        if out:
            out(f"{path} ({len(frames)} frames, {clips}x{crops} views, {aggregate} "
                f"averaged, step {step}):")
            for r in res["top"]:
                out(f"  {r['probability']:.4f}  {r['label']}")
    return results, failures


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-predict`."""
    from vivit_jax.cli import exit_code, split_args

    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="vivit-predict",
                                description="Top-k labels of video files.")
    p.add_argument("videos", nargs="+", help="video files (anything PyAV decodes)")
    p.add_argument("--checkpoint", required=True, help="training workdir or step directory")
    p.add_argument("--config", help="config file[:ARG] (default: WORKDIR/config.json)")
    p.add_argument("--views", help="CLIPSxCROPS (default: the config's dataset.test_clips x "
                                   "dataset.test_crops, as vivit-eval)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--aggregate", help="logits or probs (default: the config's "
                                       "dataset.test_aggregate, as vivit-eval)")
    p.add_argument("--fps", type=float, default=10.0,
                   help="resample to this frame rate like vivit-prepare (0: every frame)")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    args = p.parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        results, failures = run(args.videos, checkpoint=args.checkpoint, config=args.config,
                                overrides=overrides, views=args.views, top=args.top,
                                aggregate=args.aggregate, fps=args.fps,
                                out=None if args.json else print)
    except (ValueError, FileNotFoundError, NotADirectoryError) as e:
        print(f"vivit-predict: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    if args.json:
        print(json.dumps(results, indent=2))
    if failures:
        print(f"vivit-predict: {len(failures)} of {len(args.videos)} videos failed",
              file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
