"""Device-side augmentation: the photometric part of a train recipe, inside the jitted step.

The host sends uint8 clips [B, T, H, W, 3] (`host_ops`: decode, sampling, crops, flips);
here, on the sharded batch, each clip gets the recipe's `color_jitter`, `randaug`,
`normalize` and `random_erasing` in the recipe's order (mixup / cutmix follow in the train
step, `mix`). Every op draws its parameters once per clip, as the former tf.data ops did
(`video_ops`, kept as the reference these are tested against): the same distributions,
the same per-clip semantics (all frames share them).

Randomness is a function of the step key alone (`build`'s function takes it; the trainer
folds in the seed and the step), per clip by its index in the global batch and per op by its
position in the recipe: a resumed run draws exactly what the uninterrupted one drew.

Everything runs on [T, H, W, 3] float32 in [0, 255] until `normalize`, vmapped over the
batch; RandAugment's op choice is a `lax.switch`, which under vmap evaluates every op on
every clip and selects: that costs ~13 cheap pixel passes, nothing beside a model step.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vivit_jax.data import preprocess

NORMALIZATIONS = preprocess.NORMALIZATIONS
IMAGENET_MEAN, IMAGENET_STD = preprocess.IMAGENET_MEAN, preprocess.IMAGENET_STD


def normalize(video: jax.Array, mode: str, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> jax.Array:
    """uint8/float [0, 255] → float32 in the model's scale (`preprocess.normalize`)."""
    return preprocess.normalize(video.astype(jnp.float32), mode, mean, std)


# --- Pixel maths (per clip, [T, H, W, 3] float in [0, 255]) -------------------------------


def grey(x: jax.Array) -> jax.Array:
    """Luma [..., 1] with `tf.image.rgb_to_grayscale`'s weights."""
    return (x * jnp.asarray([0.2989, 0.5870, 0.1140], x.dtype)).sum(-1, keepdims=True)


def blend(a: jax.Array, b, factor) -> jax.Array:
    """b + factor · (a - b), clipped to [0, 255] (PIL ImageEnhance semantics)."""
    return jnp.clip(b + factor * (a - b), 0.0, 255.0)


def adjust_hue(rgb: jax.Array, delta) -> jax.Array:
    """`tf.image.adjust_hue` of [0, 1] RGB: the hue turned by `delta` (a fraction of a turn)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    lo = rgb.min(-1)
    c = v - lo
    safe = jnp.where(c > 0, c, 1.0)
    # The sector by argmax (first of ties: r, g, b as TF's `v == r` order), not by `v == r`:
    # an equality XLA may evaluate on differently rounded copies of the same value.
    top = jnp.argmax(rgb, axis=-1)
    h = jnp.where(top == 0, (g - b) / safe, jnp.where(top == 1, 2.0 + (b - r) / safe,
                                                      4.0 + (r - g) / safe))
    h = jnp.where(c > 0, h / 6.0, 0.0)
    h = jnp.mod(h + delta, 1.0) * 6.0
    # HSV → RGB with saturation c / v and value v: each channel v - c·clip(…).
    k = jnp.mod(jnp.asarray([5.0, 3.0, 1.0]) + h[..., None], 6.0)
    return v[..., None] - c[..., None] * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)


def color_jitter_apply(x: jax.Array, factors: jax.Array, hue) -> jax.Array:
    """Brightness, contrast, saturation by `factors` [3], then hue by `hue` (`video_ops`)."""
    x = blend(x, 0.0, factors[0])
    x = blend(x, grey(x).mean(axis=(-3, -2, -1), keepdims=True), factors[1])
    x = blend(x, grey(x), factors[2])
    return jnp.clip(adjust_hue(x / 255.0, hue) * 255.0, 0.0, 255.0)


def affine(x: jax.Array, t) -> jax.Array:
    """`tf.raw_ops.ImageProjectiveTransformV3` (bilinear, constant fill 128) of every frame:
    output pixel (col, row) reads the input at ((t0·col + t1·row + t2) / k, (t3·col + t4·row
    + t5) / k), k = t6·col + t7·row + 1; neighbours outside the frame read 128."""
    h, w = x.shape[-3], x.shape[-2]
    row, col = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                            indexing="ij")
    k = t[6] * col + t[7] * row + 1.0
    xs = (t[0] * col + t[1] * row + t[2]) / k
    ys = (t[3] * col + t[4] * row + t[5]) / k
    x0, y0 = jnp.floor(xs), jnp.floor(ys)

    def read(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        yi = jnp.clip(yy, 0, h - 1).astype(jnp.int32)
        xi = jnp.clip(xx, 0, w - 1).astype(jnp.int32)
        return jnp.where(inside[..., None], x[..., yi, xi, :], 128.0)

    top = (x0 + 1 - xs)[..., None] * read(y0, x0) + (xs - x0)[..., None] * read(y0, x0 + 1)
    bottom = ((x0 + 1 - xs)[..., None] * read(y0 + 1, x0)
              + (xs - x0)[..., None] * read(y0 + 1, x0 + 1))
    return (y0 + 1 - ys)[..., None] * top + (ys - y0)[..., None] * bottom


def rotate(x: jax.Array, degrees) -> jax.Array:
    """Rotation about the frame centre (`video_ops._rotate`)."""
    h, w = x.shape[-3], x.shape[-2]
    a = degrees * math.pi / 180.0
    c, s = jnp.cos(a), jnp.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return affine(x, jnp.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy,
                                0.0, 0.0]))


def sharpness(x: jax.Array, factor) -> jax.Array:
    """Blend with the 3×3 smoothing kernel [[1 1 1] [1 5 1] [1 1 1]] / 13 (zero padding)."""
    h, w = x.shape[-3], x.shape[-2]
    p = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)])
    blurred = sum(p[..., dy:dy + h, dx:dx + w, :] * (5.0 if dy == dx == 1 else 1.0)
                  for dy in range(3) for dx in range(3)) / 13.0
    return blend(x, blurred, factor)


def autocontrast(x: jax.Array) -> jax.Array:
    """Each channel stretched to [0, 255] over the whole clip."""
    lo = x.min(axis=(-4, -3, -2), keepdims=True)
    hi = x.max(axis=(-4, -3, -2), keepdims=True)
    return jnp.where(hi > lo, (x - lo) * 255.0 / jnp.maximum(hi - lo, 1.0), x)


def randaug_ops(x: jax.Array, sign, m: float) -> list[Callable[[], jax.Array]]:
    """The 13 RandAugment ops of `video_ops.RANDAUG_OPS` at strength m ∈ [0, 1], sign ±1."""
    h, w = x.shape[-3], x.shape[-2]
    enhance = 1.0 + sign * 0.9 * m
    bits = 2.0 ** int(round(4 * m))
    z = jnp.zeros_like(sign)
    one = z + 1.0
    return [
        lambda: x,
        lambda: autocontrast(x),
        lambda: rotate(x, sign * 30.0 * m),
        lambda: jnp.where(x >= 256.0 * (1 - m), 255.0 - x, x),
        lambda: blend(x, grey(x), enhance),
        lambda: jnp.floor(x / bits) * bits,
        lambda: blend(x, grey(x).mean(axis=(-3, -2, -1), keepdims=True), enhance),
        lambda: blend(x, 0.0, enhance),
        lambda: sharpness(x, enhance),
        lambda: affine(x, jnp.stack([one, sign * 0.3 * m, z, z, one, z, z, z])),
        lambda: affine(x, jnp.stack([one, z, z, sign * 0.3 * m, one, z, z, z])),
        lambda: affine(x, jnp.stack([one, z, sign * 0.45 * m * w, z, one, z, z, z])),
        lambda: affine(x, jnp.stack([one, z, z, z, one, sign * 0.45 * m * h, z, z])),
    ]


def erase(x: jax.Array, box: jax.Array, noise: jax.Array) -> jax.Array:
    """`noise` [H, W, 3] in the box (top, left, height, width) of every frame."""
    h, w = x.shape[-3], x.shape[-2]
    rows = (jnp.arange(h) >= box[0]) & (jnp.arange(h) < box[0] + box[2])
    cols = (jnp.arange(w) >= box[1]) & (jnp.arange(w) < box[1] + box[3])
    return jnp.where((rows[:, None] & cols[None, :])[..., None], noise, x)


# --- The recipe's ops with their random draws (one clip, one key) ----------------------------


def color_jitter(x, key, strength: float = 0.4, p: float = 0.8):
    """`video_ops.color_jitter`: factors ~ U(1 ± strength), hue ~ U(± strength/4), prob p."""
    kf, kh, kp = jax.random.split(key, 3)
    factors = jax.random.uniform(kf, (3,), minval=1 - strength, maxval=1 + strength)
    hue = jax.random.uniform(kh, (), minval=-strength / 4, maxval=strength / 4)
    return jnp.where(jax.random.uniform(kp) < p, color_jitter_apply(x, factors, hue), x)


def randaug(x, key, num_layers: int = 2, magnitude: float = 9):
    """`video_ops.randaug`: per layer an op ~ U{13 ops} and a sign ±1, same for all frames."""
    m = magnitude / 10.0
    for k in jax.random.split(key, num_layers):
        ko, ks = jax.random.split(k)
        op = jax.random.randint(ko, (), 0, 13)
        sign = jnp.where(jax.random.uniform(ks) < 0.5, -1.0, 1.0)
        x = jax.lax.switch(op, [lambda f=f: f() for f in randaug_ops(x, sign, m)])
    return x


def random_erasing(x, key, p: float = 0.25, area=(0.02, 1 / 3), ratio=(0.3, 3.3)):
    """`video_ops.random_erasing`: one box per clip (area fraction ~ U(area), log aspect ~
    U(log ratio)), filled with static N(0, 1) noise, with probability p; after normalize."""
    h, w = x.shape[-3], x.shape[-2]
    ka, kr, ky, kx, kn, kp = jax.random.split(key, 6)
    a = jax.random.uniform(ka, (), minval=area[0], maxval=area[1]) * h * w
    r = jnp.exp(jax.random.uniform(kr, (), minval=math.log(ratio[0]), maxval=math.log(ratio[1])))
    eh = jnp.clip(jnp.round(jnp.sqrt(a * r)).astype(jnp.int32), 1, h)
    ew = jnp.clip(jnp.round(jnp.sqrt(a / r)).astype(jnp.int32), 1, w)
    top = jax.random.randint(ky, (), 0, h - eh + 1)
    left = jax.random.randint(kx, (), 0, w - ew + 1)
    noise = jax.random.normal(kn, (h, w, 3))
    erased = erase(x, jnp.stack([top, left, eh, ew]), noise)
    return jnp.where(jax.random.uniform(kp) < p, erased, x)


DEVICE_OPS = {"color_jitter": color_jitter, "randaug": randaug,
              "random_erasing": random_erasing}


def build(cfg_data) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """`fn(video, key) → float32 model input` for `dataset.train_pp`'s device part.

    `video` uint8 [B, T, H, W, 3] gets the recipe's colour / RandAugment / normalize /
    erasing ops, clip b with `fold_in(key, b)`; a float `video` is taken as the model's input
    already (benchmarks and tests that time or check the model alone) and passes unchanged.
    """
    ops = []
    for pos, name, args, kwargs in preprocess.split_recipe(cfg_data)[1]:
        if name == "normalize":
            mode, mean, std = preprocess.normalize_args(args, kwargs, cfg_data)
            ops.append((pos, lambda x, k, mode=mode, mean=mean, std=std:
                        normalize(x, mode, mean, std)))
            continue
        op = DEVICE_OPS[name]
        try:
            inspect.signature(op).bind(None, None, *args, **kwargs)
        except TypeError as e:
            raise ValueError(f"bad arguments for {name!r} in dataset.train_pp="
                             f"{cfg_data.train_pp!r}: {e}") from None
        ops.append((pos, lambda x, k, op=op, a=args, kw=kwargs: op(x, k, *a, **kw)))

    def clip(x: jax.Array, key: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        for pos, op in ops:
            x = op(x, jax.random.fold_in(key, pos))
        return x

    def fn(video: jax.Array, key: jax.Array) -> jax.Array:
        if video.dtype != jnp.uint8:
            return video
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(video.shape[0]))
        return jax.vmap(clip)(video, keys)

    return fn
