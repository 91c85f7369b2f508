"""Per-clip tf ops: frame sampling (dense / TSN), crops, flips, colour, RandAugment, erasing.

The pipelines use the sampling, crops and resizes (through `host_ops`); colour, RandAugment,
erasing and normalisation run on the device (`device_augment`), and the tf versions here
are their reference: the tests apply both with the same random parameters.

Every random op is *stateless* (`tf.random.stateless_*` with an explicit [2] int seed) and
draws its parameters once per clip, so all frames of a clip get the same crop, flip, colour
change and RandAugment ops (a per-frame draw would add flicker that is not in the data).
Videos are float32 [T, H, W, 3] in [0, 255] until `normalize`.

Sampling follows DMVR (`processors.sample_sequence`, `sample_linspace_sequence`) for dense
clips and TSN (Wang et al. 2016, §3.1; mmaction2 `SampleFrames`) for segments:

  dense, train  offset ~ U{0 .. n - (F-1)·s - 1} (U{0 .. n-1} when the clip is longer than
                the video), frames offset + k·s, wrapped mod n (a short video loops)
  dense, test   one clip: offset = max(0, (n - F·s) // 2); C clips: offsets
                int(linspace(0, n - F·s, C)); a video of n <= F·s frames: linspace over
                the training offsets instead (0 .. n-(F-1)·s-1, or 0 .. n-1 when even one
                clip wraps), so the C views differ; wrapped mod n
  tsn,   train  segment k = [k·n/F, (k+1)·n/F): frame floor((k + u_k)·n/F), u_k ~ U[0, 1)
  tsn,   test   segment centres floor((k + 0.5)·n/F); C clips use floor((k + (c+0.5)/C)·n/F)
"""

from __future__ import annotations

import math

from vivit_jax.data import preprocess
from vivit_jax.data.tf_quiet import tf

# --- Sampling ------------------------------------------------------------------------


def dense_indices(n: tf.Tensor, num_frames: int, stride: int, seed=None) -> tf.Tensor:
    """Frame indices [F] of one dense clip: random offset if `seed` is given, else centred."""
    n = tf.cast(n, tf.int32)
    if seed is None:
        offset = tf.maximum(0, (n - num_frames * stride) // 2)
    else:
        span = (num_frames - 1) * stride
        max_offset = tf.where(n > span, n - span, n)
        offset = tf.random.stateless_uniform([], seed, 0, max_offset, dtype=tf.int32)
    return tf.math.floormod(offset + tf.range(num_frames) * stride, tf.maximum(n, 1))


def dense_linspace_indices(n: tf.Tensor, num_clips: int, num_frames: int, stride: int):
    """Frame indices [C, F] of C evenly spaced dense clips (DMVR `sample_linspace_sequence`).

    A video not longer than F·s frames (SSv2 at 32 frames) still gets C different clips
    where its frames allow (DMVR's offsets would all be 0: C identical views): the offsets
    spread over the training offsets' range — 0 .. n - (F-1)·s - 1 while a clip fits
    unwrapped, else 0 .. n-1 (the clip loops, as a training clip of such a video does).
    """
    n = tf.cast(n, tf.int32)
    if num_clips == 1:
        return dense_indices(n, num_frames, stride)[None]
    span = (num_frames - 1) * stride
    max_offset = tf.where(n > num_frames * stride, n - num_frames * stride,
                          tf.where(n > span, n - span - 1, tf.maximum(n - 1, 0)))
    offsets = tf.cast(tf.linspace(0.0, tf.cast(max_offset, tf.float32), num_clips), tf.int32)
    idx = offsets[:, None] + tf.range(num_frames)[None, :] * stride
    return tf.math.floormod(idx, tf.maximum(n, 1))


def tsn_indices(n: tf.Tensor, num_segments: int, seed=None, shifts=None) -> tf.Tensor:
    """Frame indices of TSN segments: random frame per segment (seed) or a fixed position.

    `shifts` (float, [..., 1] or scalar, in [0, 1)) is the position within each segment when
    no seed is given (0.5 = centre); the result has shape `shifts.shape[:-1] + [F]`.
    """
    n = tf.cast(n, tf.int32)
    k = tf.range(num_segments, dtype=tf.float32)
    if seed is not None:
        u = tf.random.stateless_uniform([num_segments], seed)
    else:
        u = tf.constant(0.5) if shifts is None else tf.convert_to_tensor(shifts, tf.float32)
    idx = tf.cast(tf.floor((k + u) * tf.cast(n, tf.float32) / num_segments), tf.int32)
    return tf.clip_by_value(idx, 0, tf.maximum(n - 1, 0))


def multi_clip_indices(n, sampling: str, num_clips: int, num_frames: int, stride: int):
    """Test-time indices [C, F] of `num_clips` clips for `sampling` in ('dense', 'tsn')."""
    if sampling == "tsn":
        shifts = (tf.range(num_clips, dtype=tf.float32)[:, None] + 0.5) / num_clips
        return tsn_indices(n, num_frames, shifts=shifts)
    return dense_linspace_indices(n, num_clips, num_frames, stride)


def train_indices(n, sampling: str, num_frames: int, stride: int, seed) -> tf.Tensor:
    """Train-time indices [F] for `sampling` in ('dense', 'tsn')."""
    if sampling == "tsn":
        return tsn_indices(n, num_frames, seed=seed)
    return dense_indices(n, num_frames, stride, seed=seed)


# --- Geometry -------------------------------------------------------------------------


def resize_frames(video: tf.Tensor, hw) -> tf.Tensor:
    """Bilinear resize of the frames to `hw`, with the antialiasing filter only when a side
    shrinks: enlarging, it changes nothing (pixels within 0.02 of 255) and costs twice the
    time (the short side of Kinetics-style videos is often enlarged, e.g. 240 → 256)."""
    hw = tf.convert_to_tensor(hw, tf.int32)
    shrinks = tf.reduce_any(hw < tf.shape(video)[-3:-1])
    return tf.cond(shrinks, lambda: tf.image.resize(video, hw, antialias=True),
                   lambda: tf.image.resize(video, hw, antialias=False))


def resize_smallest(video: tf.Tensor, size: int) -> tf.Tensor:
    """Resizes so that min(H, W) == size (aspect kept); a no-op when it already is."""
    h, w = tf.shape(video)[-3], tf.shape(video)[-2]
    short = tf.minimum(h, w)

    def resize():
        scale = size / tf.cast(short, tf.float32)
        hw = tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
        return resize_frames(video, tf.maximum(hw, size))

    return tf.cond(tf.equal(short, size), lambda: video, resize)


def scale_jitter(video: tf.Tensor, min_size: int, max_size: int, seed) -> tf.Tensor:
    """Short side resized to a random size in [min_size, max_size] (VGG/I3D scale jitter)."""
    size = tf.random.stateless_uniform([], seed, min_size, max_size + 1, dtype=tf.int32)
    h, w = tf.shape(video)[-3], tf.shape(video)[-2]
    scale = tf.cast(size, tf.float32) / tf.cast(tf.minimum(h, w), tf.float32)
    hw = tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
    return resize_frames(video, tf.maximum(hw, size))


def random_crop(video: tf.Tensor, size: int, seed) -> tf.Tensor:
    """The same random size×size window in every frame."""
    t = tf.shape(video)[0]
    return tf.image.stateless_random_crop(video, tf.stack([t, size, size, 3]), seed)


def center_crop(video: tf.Tensor, size: int) -> tf.Tensor:
    """Central size×size window."""
    top = (tf.shape(video)[-3] - size) // 2
    left = (tf.shape(video)[-2] - size) // 2
    return video[..., top : top + size, left : left + size, :]


def three_crops(video: tf.Tensor, size: int) -> tf.Tensor:
    """[3, T, size, size, 3]: start / centre / end of the long side, centred on the short one.

    Left/centre/right for landscape frames, top/centre/bottom for portrait (the 3-crop test
    protocol of ViViT/TimeSformer after a short-side resize to `size`).
    """
    h, w = tf.shape(video)[-3], tf.shape(video)[-2]
    landscape = w >= h
    long_max = tf.where(landscape, w, h) - size
    short_off = (tf.where(landscape, h, w) - size) // 2
    crops = []
    for pos in (tf.constant(0), long_max // 2, long_max):
        top = tf.where(landscape, short_off, pos)
        left = tf.where(landscape, pos, short_off)
        crops.append(video[:, top : top + size, left : left + size, :])
    return tf.stack(crops)


def random_resized_crop(video, size: int, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Inception-style crop (area fraction `scale`, aspect `ratio`), resized to size×size.

    One box for the whole clip. Falls back to the full frame when no box fits (as
    `tf.image.sample_distorted_bounding_box` does after its attempts).
    """
    shape = tf.shape(video)[1:]
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = video[:, begin[0] : begin[0] + box_size[0], begin[1] : begin[1] + box_size[1], :]
    return resize_frames(crop, [size, size])


def flip(video: tf.Tensor, seed, prob: float = 0.5) -> tf.Tensor:
    """Horizontal flip of the whole clip with probability `prob`."""
    do = tf.random.stateless_uniform([], seed) < prob
    return tf.cond(do, lambda: tf.reverse(video, axis=[-2]), lambda: video)


# --- Colour ---------------------------------------------------------------------------


def _grey(video: tf.Tensor) -> tf.Tensor:
    return tf.image.rgb_to_grayscale(video)


def _blend(a: tf.Tensor, b: tf.Tensor, factor) -> tf.Tensor:
    """b + factor · (a - b): factor 0 gives b, 1 gives a (PIL ImageEnhance semantics)."""
    return tf.clip_by_value(b + factor * (a - b), 0.0, 255.0)


def color_jitter(video: tf.Tensor, seed, strength: float = 0.4, prob: float = 0.8):
    """Brightness, contrast, saturation (factors in 1 ± strength), hue (± strength/4).

    SimCLR/ mmaction `ColorJitter` ranges; one draw per clip, applied with probability `prob`.
    """
    s = tf.random.experimental.stateless_split(seed, 5)
    factors = tf.stack([tf.random.stateless_uniform([], s[i], 1 - strength, 1 + strength)
                        for i in range(3)])
    hue = tf.random.stateless_uniform([], s[3], -strength / 4, strength / 4)
    do = tf.random.stateless_uniform([], s[4]) < prob
    return tf.cond(do, lambda: color_jitter_apply(video, factors, hue), lambda: video)


def color_jitter_apply(video: tf.Tensor, factors: tf.Tensor, hue) -> tf.Tensor:
    """Brightness, contrast, saturation by `factors` [3] (PIL enhance), then hue by `hue`."""
    x = _blend(video, 0.0, factors[0])
    mean = tf.reduce_mean(_grey(x), axis=[-3, -2, -1], keepdims=True)
    x = _blend(x, mean, factors[1])
    x = _blend(x, _grey(x), factors[2])
    return tf.clip_by_value(tf.image.adjust_hue(x / 255.0, hue) * 255.0, 0.0, 255.0)


# --- RandAugment (Cubuk et al. 2020), one op sequence per clip ---------------------------


def _affine(video: tf.Tensor, transform: tf.Tensor) -> tf.Tensor:
    """Applies one projective transform [8] (output→input pixel map) to every frame."""
    t = tf.shape(video)[0]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=video,
        transforms=tf.tile(tf.reshape(transform, [1, 8]), [t, 1]),
        output_shape=tf.shape(video)[1:3],
        fill_value=128.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _rotate(video, degrees):
    h = tf.cast(tf.shape(video)[1], tf.float32)
    w = tf.cast(tf.shape(video)[2], tf.float32)
    a = degrees * math.pi / 180.0
    c, s = tf.cos(a), tf.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return _affine(video, tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy,
                                    0.0, 0.0]))


def _sharpness(video, factor):
    k = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    kernel = tf.tile(k[:, :, None, None], [1, 1, 3, 1])
    blurred = tf.nn.depthwise_conv2d(video, kernel, [1, 1, 1, 1], "SAME")
    return _blend(video, blurred, factor)


def _autocontrast(video):
    lo = tf.reduce_min(video, axis=[0, 1, 2], keepdims=True)
    hi = tf.reduce_max(video, axis=[0, 1, 2], keepdims=True)
    scaled = (video - lo) * 255.0 / tf.maximum(hi - lo, 1.0)
    return tf.where(hi > lo, scaled, video)


RANDAUG_OPS = (
    "identity", "autocontrast", "rotate", "solarize", "color", "posterize", "contrast",
    "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y",
)


def randaug_ops(x: tf.Tensor, sign, m: float) -> list:
    """The ops of `RANDAUG_OPS` (thunks) on clip `x` at strength m ∈ [0, 1], direction sign."""
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    enhance = 1.0 + sign * 0.9 * m
    return [
        lambda: x,
        lambda: _autocontrast(x),
        lambda: _rotate(x, sign * 30.0 * m),
        lambda: tf.where(x >= 256.0 * (1 - m), 255.0 - x, x),
        lambda: _blend(x, _grey(x), enhance),
        lambda: tf.floor(x / 2.0 ** int(round(4 * m))) * 2.0 ** int(round(4 * m)),
        lambda: _blend(x, tf.reduce_mean(_grey(x), axis=[1, 2, 3], keepdims=True), enhance),
        lambda: _blend(x, 0.0, enhance),
        lambda: _sharpness(x, enhance),
        lambda: _affine(x, tf.stack([1.0, sign * 0.3 * m, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])),
        lambda: _affine(x, tf.stack([1.0, 0.0, 0.0, sign * 0.3 * m, 1.0, 0.0, 0.0, 0.0])),
        lambda: _affine(x, tf.stack([1.0, 0.0, sign * 0.45 * m * w, 0.0, 1.0, 0.0, 0.0, 0.0])),
        lambda: _affine(x, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, sign * 0.45 * m * h, 0.0, 0.0])),
    ]


def randaug(video: tf.Tensor, seed, num_layers: int = 2, magnitude: float = 9.0) -> tf.Tensor:
    """RandAugment with `num_layers` ops of strength `magnitude` (0..10), same for all frames.

    Ranges at magnitude 10 follow big_vision's `autoaugment.py`: rotate 30°, shear 0.3,
    translate 0.45 of the side, enhance factors 1 ± 0.9, solarize threshold 0, posterize
    4 bits. Equalize is not included (no clip-wide histogram op in core TF).
    """
    m = magnitude / 10.0
    seeds = tf.random.experimental.stateless_split(seed, 3 * num_layers)
    for i in range(num_layers):
        op = tf.random.stateless_uniform(
            [], seeds[3 * i], 0, len(RANDAUG_OPS), dtype=tf.int32)
        sign = tf.where(tf.random.stateless_uniform([], seeds[3 * i + 1]) < 0.5, -1.0, 1.0)
        x = video
        branches = randaug_ops(x, sign, m)
        video = tf.ensure_shape(tf.switch_case(op, branches), x.shape)
    return video


# --- Erasing and normalisation ------------------------------------------------------------


def random_erasing(video, seed, prob=0.25, area=(0.02, 1 / 3), ratio=(0.3, 3.3)):
    """Random erasing (Zhong et al. 2020): one box per clip filled with N(0, 1) noise.

    Runs after normalisation (noise in normalised units, as timm's `RandomErasing(mode=
    'pixel')`); the same box and noise in every frame, so the patch is static.
    """
    s = tf.random.experimental.stateless_split(seed, 5)
    h, w = tf.shape(video)[1], tf.shape(video)[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    a = tf.random.stateless_uniform([], s[0], area[0], area[1]) * hf * wf
    r = tf.exp(tf.random.stateless_uniform([], s[1], math.log(ratio[0]), math.log(ratio[1])))
    eh = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(a * r)), tf.int32), 1, h)
    ew = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(a / r)), tf.int32), 1, w)
    top = tf.random.stateless_uniform([], s[2], 0, h - eh + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], s[3], 0, w - ew + 1, dtype=tf.int32)
    rows = tf.logical_and(tf.range(h) >= top, tf.range(h) < top + eh)
    cols = tf.logical_and(tf.range(w) >= left, tf.range(w) < left + ew)
    box = tf.logical_and(rows[:, None], cols[None, :])[None, :, :, None]
    noise = tf.random.stateless_normal(tf.shape(video)[1:], s[4])[None]  # Static patch.
    do = tf.random.stateless_uniform([], s[4] + 1) < prob
    return tf.where(tf.logical_and(do, box), noise, video)


NORMALIZATIONS = preprocess.NORMALIZATIONS
IMAGENET_MEAN, IMAGENET_STD = preprocess.IMAGENET_MEAN, preprocess.IMAGENET_STD


def normalize(video: tf.Tensor, mode: str, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> tf.Tensor:
    """`preprocess.normalize` of a float32 tf clip in [0, 255]."""
    return preprocess.normalize(video, mode, mean, std)
