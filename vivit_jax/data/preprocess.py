"""big_vision-style preprocessing strings for the train clip: `"op(args)|op|…"` → one function.

Example (`dataset.train_pp`):

  "random_resized_crop(224)|flip|color_jitter(0.4)|randaug(2, 9)|normalize('imagenet')"

Ops act on a sampled, decoded clip, float32 [T, H, W, 3] in [0, 255] (until `normalize`):

  resize_small(s)                       short side → s
  scale_jitter(lo, hi)                  short side → random size in [lo, hi]
  random_crop(s) | center_crop(s)       s×s window (same for every frame)
  random_resized_crop(s, scale=(0.08, 1), ratio=(0.75, 1.333))
  flip | flip(p)                        horizontal flip (leave out for SSv2 / synthetic_motion)
  color_jitter(strength=0.4, p=0.8)
  randaug(num_layers=2, magnitude=9)
  normalize(mode) | normalize(mean=(…), std=(…))   mode as `dataset.normalization`
  random_erasing(p=0.25)                after normalize

Arguments are Python literals. Each op gets its own stateless seed (the element seed folded
with the op's position), so the stream stays a pure function of (seed, element index).
When the string has no `normalize`, the dataset's normalisation is appended (evaluation
uses `dataset.normalization`, so a different `normalize` in the string is refused).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from vivit_jax.data import video_ops
from vivit_jax.data.tf_quiet import tf

Op = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (video, seed[2]) -> video


def _op_builders(cfg) -> dict[str, Callable[..., Op]]:
    norm_kw = dict(mean=tuple(cfg.mean), std=tuple(cfg.std))

    def normalize(mode: str = "mean_std", mean=None, std=None) -> Op:
        if mode not in video_ops.NORMALIZATIONS:
            raise ValueError(f"normalize({mode!r}): expected one of {video_ops.NORMALIZATIONS}")
        kw = dict(mean=tuple(mean or norm_kw["mean"]), std=tuple(std or norm_kw["std"]))
        return lambda v, s: video_ops.normalize(v, mode, **kw)

    return {
        "resize_small": lambda size: lambda v, s: video_ops.resize_smallest(v, size),
        "scale_jitter": lambda lo, hi: lambda v, s: video_ops.scale_jitter(v, lo, hi, s),
        "random_crop": lambda size: lambda v, s: video_ops.random_crop(v, size, s),
        "center_crop": lambda size: lambda v, s: video_ops.center_crop(v, size),
        "random_resized_crop": lambda size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3): (
            lambda v, s: video_ops.random_resized_crop(v, size, s, scale, ratio)
        ),
        "flip": lambda p=0.5: lambda v, s: video_ops.flip(v, s, p),
        "color_jitter": lambda strength=0.4, p=0.8: (
            lambda v, s: video_ops.color_jitter(v, s, strength, p)
        ),
        "randaug": lambda num_layers=2, magnitude=9: (
            lambda v, s: video_ops.randaug(v, s, num_layers, magnitude)
        ),
        "random_erasing": lambda p=0.25: lambda v, s: video_ops.random_erasing(v, s, p),
        "normalize": normalize,
    }


def parse(pp: str) -> list[tuple[str, tuple, dict]]:
    """`"a(1)|b"` → [("a", (1,), {}), ("b", (), {})]; ValueError naming a bad op."""
    ops = []
    for part in (p.strip() for p in pp.split("|")):
        if not part:
            continue
        try:
            node = ast.parse(part, mode="eval").body
            if isinstance(node, ast.Name):
                ops.append((node.id, (), {}))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = tuple(ast.literal_eval(a) for a in node.args)
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
                ops.append((node.func.id, args, kwargs))
            else:
                raise ValueError("not a call")
        except (SyntaxError, ValueError) as e:
            raise ValueError(f"bad preprocessing op {part!r} in {pp!r}: {e}") from e
    return ops


def default_train_pp(cfg) -> str:
    """The pp string equivalent to the plain fields (min_resize, random_crop, random_flip)."""
    crop = "random_crop" if cfg.random_crop else "center_crop"
    ops = [f"resize_small({cfg.min_resize})", f"{crop}({cfg.image_size})"]
    if cfg.random_flip:
        ops.append("flip")
    return "|".join(ops)


def _same_normalize(args: tuple, kwargs: dict, cfg) -> bool:
    mode = args[0] if args else kwargs.get("mode", "mean_std")
    if mode != cfg.normalization:
        return False
    if mode != "mean_std":
        return True
    mean, std = kwargs.get("mean", tuple(cfg.mean)), kwargs.get("std", tuple(cfg.std))
    return tuple(mean) == tuple(cfg.mean) and tuple(std) == tuple(cfg.std)


def build_train_fn(cfg) -> Op:
    """The train clip function of `cfg.train_pp` (or of the plain fields when it is empty)."""
    pp = cfg.train_pp or default_train_pp(cfg)
    builders = _op_builders(cfg)
    ops, has_norm = [], False
    for name, args, kwargs in parse(pp):
        if name not in builders:
            raise ValueError(
                f"unknown op {name!r} in dataset.train_pp={pp!r}; expected one of "
                f"{sorted(builders)}"
            )
        if name == "normalize":
            if not _same_normalize(args, kwargs, cfg):
                raise ValueError(
                    f"dataset.train_pp normalize{args or ''}{kwargs or ''} differs from "
                    f"dataset.normalization={cfg.normalization!r} (used at evaluation)"
                )
            has_norm = True
        try:
            ops.append(builders[name](*args, **kwargs))
        except TypeError as e:
            raise ValueError(f"bad arguments for {name!r} in dataset.train_pp={pp!r}: {e}") from e
    if not has_norm:
        ops.append(builders["normalize"](cfg.normalization))
    size = cfg.image_size

    def fn(video: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        for i, op in enumerate(ops):
            video = op(video, tf.random.experimental.stateless_fold_in(seed, i))
        return tf.ensure_shape(video, [cfg.num_frames, size, size, 3])

    return fn
