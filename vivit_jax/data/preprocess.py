"""big_vision-style preprocessing strings for the train clip: `"op(args)|op|…"` → one function.

Example (`dataset.train_pp`):

  "random_resized_crop(224)|flip|color_jitter(0.4)|randaug(2, 9)|normalize('imagenet')"

Ops act on a sampled clip in [0, 255] (until `normalize`); the geometric ones run on the host on
uint8 frames before the clip is sent (`host_ops`), the rest in the train step (`device_augment`):

  resize_small(s)                       short side → s
  scale_jitter(lo, hi)                  short side → random size in [lo, hi]
  random_crop(s) | center_crop(s)       s×s window (same for every frame)
  random_resized_crop(s, scale=(0.08, 1), ratio=(0.75, 1.333))
  flip | flip(p)                        horizontal flip (leave out for SSv2 / synthetic_motion)
  color_jitter(strength=0.4, p=0.8)
  randaug(num_layers=2, magnitude=9)
  normalize(mode) | normalize(mean=(…), std=(…))   mode as `dataset.normalization`
  random_erasing(p=0.25)                after normalize

Arguments are Python literals. Each op gets its own seed: on the host the element seed folded
with the op's position (the stream stays a pure function of (seed, element index)); on the
device the step key folded with the clip's index in the batch and the op's position.
When the string has no `normalize`, the dataset's normalisation is appended (evaluation
uses `dataset.normalization`, so a different `normalize` in the string is refused).
"""

from __future__ import annotations

import ast

import numpy as np

# Where each op runs: the geometric ones on the host, in uint8 (`host_ops`, planned into one
# box per clip); the photometric ones in the jitted train step (`device_augment`).
HOST_OPS = ("resize_small", "scale_jitter", "random_crop", "center_crop", "random_resized_crop",
            "flip")
DEVICE_OPS = ("color_jitter", "randaug", "normalize", "random_erasing")
NORMALIZATIONS = ("minus_one_to_one", "imagenet", "zero_one", "mean_std")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(video, mode: str, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Float [0, 255] pixels (a tf or a jax array: the host's reference ops and the device
    share this) → 'minus_one_to_one' (x/127.5 - 1), 'zero_one', 'imagenet' or 'mean_std'
    (per-channel `mean`/`std` on the [0, 1] scale; 'imagenet' fixes them)."""
    if mode == "minus_one_to_one":
        return video / 127.5 - 1.0
    if mode == "zero_one":
        return video / 255.0
    if mode == "imagenet":
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    elif mode != "mean_std":
        raise ValueError(f"unknown normalization {mode!r}; expected one of {NORMALIZATIONS}")
    return (video / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


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


def normalize_args(args: tuple, kwargs: dict, cfg) -> tuple[str, tuple, tuple]:
    """(mode, mean, std) of a recipe's `normalize(mode, mean=…, std=…)` entry."""
    try:
        def bind(mode: str = "mean_std", mean=None, std=None):
            return mode, tuple(mean or cfg.mean), tuple(std or cfg.std)

        mode, mean, std = bind(*args, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for 'normalize' in dataset.train_pp="
                         f"{cfg.train_pp!r}: {e}") from None
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize({mode!r}): expected one of {NORMALIZATIONS}")
    return mode, mean, std


Entry = tuple[int, str, tuple, dict]  # (position in the recipe: its seed, name, args, kwargs)


def split_recipe(cfg) -> tuple[list[Entry], list[Entry]]:
    """(host entries, device entries) of `cfg.train_pp` (or of the plain fields when empty).

    The geometric ops must come first (they run on the host, before the clip crosses to the
    device); a `normalize` other than `dataset.normalization` is refused (evaluation uses the
    latter); without one, the dataset's normalisation is appended.
    """
    pp = cfg.train_pp or default_train_pp(cfg)
    host: list[Entry] = []
    device: list[Entry] = []
    ops = parse(pp)
    for pos, (name, args, kwargs) in enumerate(ops):
        if name not in HOST_OPS + DEVICE_OPS:
            raise ValueError(f"unknown op {name!r} in dataset.train_pp={pp!r}; expected one of "
                             f"{sorted(HOST_OPS + DEVICE_OPS)}")
        if name in HOST_OPS and device:
            raise ValueError(f"dataset.train_pp={pp!r}: the geometric op {name!r} comes after "
                             f"{device[-1][1]!r}; put {list(HOST_OPS)} first (they run on the "
                             f"host, the others on the device)")
        if name == "normalize" and normalize_args(args, kwargs, cfg) != normalize_args(
                (cfg.normalization,), {}, cfg):
            raise ValueError(f"dataset.train_pp normalize{args or ''}{kwargs or ''} differs from "
                             f"dataset.normalization={cfg.normalization!r} (used at evaluation)")
        (host if name in HOST_OPS else device).append((pos, name, args, kwargs))
    if not any(name == "normalize" for _, name, _, _ in device):
        device.append((len(ops), "normalize", (cfg.normalization,), {}))
    return host, device
