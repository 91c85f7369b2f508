"""Host work of a clip on uint8: decode only the sampled frames and only the pixels kept.

The geometric part of a train recipe (`resize_small`, `scale_jitter`, `random_crop`,
`center_crop`, `random_resized_crop`, `flip`) is *planned* before anything is decoded: the
resizes and crops compose into one box of the stored frame and one output size, so each frame
is decoded with `tf.image.decode_and_crop_jpeg` (only the box's pixels), resized once (skipped
when the box already has the output size: e.g. `resize_small(256)|random_crop(224)` on frames
stored at 256) and flipped, all in uint8. Colour, RandAugment, normalisation and erasing run
on the device (`device_augment`).

Planned boxes are rounded to whole stored pixels, so a crop of a resized frame may sit up to
half a stored pixel from where resize-then-crop would put it, and span one pixel more or less:
the same distributions of scale, position and aspect as the ops applied one after another.

Evaluation views (`eval_views`) decode each distinct frame of the C clips once, resize the short
side to `min_resize` (rounded back to uint8: the one difference from the former float32 host
path, at most half a grey level, none when the frames are stored at `min_resize`) and cut the
centre or three crops.
"""

from __future__ import annotations

import inspect

from vivit_jax.data import preprocess, video_ops
from vivit_jax.data.tf_quiet import tf

# --- Decoding -------------------------------------------------------------------------


def _decode_box(frame: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    """One JPEG/PNG string → uint8 [h, w, 3] of `box` (y, x, h, w); JPEG decodes only it."""
    def jpeg():
        return tf.image.decode_and_crop_jpeg(frame, box, channels=3)

    def other():
        img = tf.io.decode_image(frame, channels=3, expand_animations=False)
        return img[box[0]:box[0] + box[2], box[1]:box[1] + box[3]]

    return tf.cond(tf.io.is_jpeg(frame), jpeg, other)


def decode_boxes(frames: tf.Tensor, idx: tf.Tensor, box=None) -> tf.Tensor:
    """uint8 [len(idx), h, w, 3]: `frames[idx]` decoded (or, already decoded by
    `dataset.cache_decoded`, gathered), cut to `box` (y, x, h, w; None = whole frames)."""
    picked = tf.gather(frames, idx)
    if frames.dtype == tf.uint8:
        if box is None:
            return picked
        return picked[:, box[0]:box[0] + box[2], box[1]:box[1] + box[3]]
    if box is None:
        decode = lambda x: tf.io.decode_image(x, channels=3, expand_animations=False)  # noqa: E731
    else:
        decode = lambda x: _decode_box(x, box)  # noqa: E731
    return tf.map_fn(decode, picked, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def frame_shape(frames: tf.Tensor) -> tf.Tensor:
    """int32 [2] (H, W) of the stored frames, read from the first one's header (no decode)."""
    if frames.dtype == tf.uint8:
        return tf.shape(frames)[1:3]
    first = frames[0]
    return tf.cond(tf.io.is_jpeg(first),
                   lambda: tf.image.extract_jpeg_shape(first)[:2],
                   lambda: tf.shape(tf.io.decode_image(first, channels=3,
                                                       expand_animations=False))[:2])


def resize_uint8(video: tf.Tensor, hw, mild_shrink_plain: bool = False) -> tf.Tensor:
    """`video_ops.resize_frames` of uint8 frames, rounded back to uint8; a no-op at size.

    `mild_shrink_plain` (training): a shrink by less than a quarter is plain bilinear, as
    enlarging is: the antialiasing filter costs ~3× the decode there (VidTr's 256 → 224) and
    at that ratio bilinear already reads every input pixel; stronger shrinks keep the filter.
    """
    hw = tf.convert_to_tensor(hw, tf.int32)
    shape = tf.shape(video)[-3:-1]
    same = tf.reduce_all(tf.equal(hw, shape))

    def exact():  # Eval: the float32 path's pixels, rounded.
        out = video_ops.resize_frames(tf.cast(video, tf.float32), hw)
        return tf.saturate_cast(tf.round(out), tf.uint8)

    def plain():  # Bilinear straight from uint8 (no overshoot: +0.5 and truncate rounds).
        return tf.cast(tf.image.resize(video, hw, antialias=False) + 0.5, tf.uint8)

    if mild_shrink_plain:
        fast = tf.logical_and(tf.logical_not(same), tf.reduce_all(4 * hw >= 3 * shape))
        return tf.cond(fast, plain, lambda: tf.cond(same, lambda: video, exact))
    return tf.cond(same, lambda: video, exact)


# --- The planned geometric part of a train recipe -------------------------------------------


def _scaled(hw: tf.Tensor, size) -> tf.Tensor:
    """(H, W) float with its short side scaled to `size` (rounded, at least `size`)."""
    size = tf.cast(size, tf.float32)
    scale = size / tf.reduce_min(hw)
    return tf.maximum(tf.round(hw * scale), size)


class _Plan:
    """A box (y, x, h, w) of the stored frame, float, and the virtual frame size it maps to."""

    def __init__(self, hw: tf.Tensor):
        self.hw = tf.cast(hw, tf.float32)
        self.box = tf.concat([tf.zeros([2]), self.hw], 0)
        self.flip = tf.constant(False)

    def int_hw(self) -> tf.Tensor:
        # Through Round: TF's static-shape inference fails on Cast(Pack(python floats)).
        return tf.cast(tf.round(self.hw), tf.int32)

    def crop(self, top, left, h, w) -> None:
        scale = self.box[2:] / self.hw
        y0 = self.box[:2] + tf.stack([top, left]) * scale
        size = tf.stack([h, w])
        self.box = tf.concat([y0, size * scale], 0)
        self.hw = size


def _resize_small(plan: _Plan, seed, size: int) -> None:
    plan.hw = _scaled(plan.hw, size)


def _scale_jitter(plan: _Plan, seed, lo: int, hi: int) -> None:
    plan.hw = _scaled(plan.hw, tf.random.stateless_uniform([], seed, lo, hi + 1, tf.int32))


def _crop(plan: _Plan, seed, size: int) -> None:
    """A size² window: random (uniform offsets) with a seed, else centred."""
    size = float(size)
    room = plan.hw - size
    tf.debugging.assert_non_negative(room, message=f"a crop of {size:g} is larger than the "
                                     f"(resized) frame")
    if seed is None:
        off = tf.floor(room / 2)
    else:
        off = tf.floor(tf.random.stateless_uniform([2], seed) * (room + 1.0))
    plan.crop(off[0], off[1], size, size)


def _random_resized_crop(plan: _Plan, seed, size: int, scale=(0.08, 1.0),
                         ratio=(3 / 4, 4 / 3)) -> None:
    """`video_ops.random_resized_crop`'s box, drawn on the (virtual) frame."""
    shape = tf.concat([plan.int_hw(), [3]], 0)
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    begin, box_size = tf.cast(begin[:2], tf.float32), tf.cast(box_size[:2], tf.float32)
    plan.crop(begin[0], begin[1], box_size[0], box_size[1])
    plan.hw = tf.constant([float(size), float(size)])


def _flip(plan: _Plan, seed, p: float = 0.5) -> None:
    plan.flip = tf.random.stateless_uniform([], seed) < p


# name → fn(plan, seed, *recipe args): the recipe's argument names are these parameters'.
HOST_OPS = {
    "resize_small": _resize_small,
    "scale_jitter": _scale_jitter,
    "random_crop": _crop,
    "center_crop": lambda plan, seed, size: _crop(plan, None, size),
    "random_resized_crop": _random_resized_crop,
    "flip": _flip,
}


def build_train_clip(cfg):
    """(frames, idx [F], seed [2]) → uint8 [F, s, s, 3]: the geometric part of `cfg.train_pp`
    (`preprocess.split_recipe`; each op seeded by the element seed folded with its position in
    the recipe) planned as one box, one decode, one resize. s = `cfg.image_size`."""
    ops = preprocess.split_recipe(cfg)[0]
    for _, name, args, kwargs in ops:
        try:
            inspect.signature(HOST_OPS[name]).bind(None, None, *args, **kwargs)
        except TypeError as e:
            raise ValueError(f"bad arguments for {name!r} in dataset.train_pp="
                             f"{cfg.train_pp!r}: {e}") from None
    num_frames, size = cfg.num_frames, cfg.image_size

    def fn(frames: tf.Tensor, idx: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        stored = tf.cast(frame_shape(frames), tf.float32)
        plan = _Plan(stored)
        for pos, name, args, kwargs in ops:
            HOST_OPS[name](plan, tf.random.experimental.stateless_fold_in(seed, pos), *args,
                           **kwargs)
        y0 = tf.clip_by_value(tf.round(plan.box[:2]), 0.0, stored - 1.0)
        hw = tf.clip_by_value(tf.round(plan.box[2:]), 1.0, stored - y0)
        box = tf.cast(tf.concat([y0, hw], 0), tf.int32)
        video = resize_uint8(decode_boxes(frames, idx, box), plan.int_hw(),
                             mild_shrink_plain=True)
        video = tf.cond(plan.flip, lambda: tf.reverse(video, axis=[-2]), lambda: video)
        return tf.ensure_shape(video, [num_frames, size, size, 3])

    return fn


# --- Evaluation views -----------------------------------------------------------------------


def eval_views(frames: tf.Tensor, idx: tf.Tensor, min_resize: int, size: int,
               num_crops: int) -> tf.Tensor:
    """uint8 [C·S, F, size, size, 3] of the clips `idx` [C, F] (view v = clip v // S, crop
    v % S: the centre, or start/centre/end of the long side), each distinct frame decoded once."""
    c, f = idx.shape[0], idx.shape[1]
    unique, where = tf.unique(tf.reshape(idx, [-1]))
    video = decode_boxes(frames, unique)
    h, w = tf.shape(video)[1], tf.shape(video)[2]
    hw = tf.cast(_scaled(tf.cast(tf.stack([h, w]), tf.float32), min_resize), tf.int32)
    video = resize_uint8(video, hw)  # A no-op when the short side is `min_resize` already.
    # Crops of the distinct frames first, then one gather into view order [C, S, F]: the
    # views (12× a clip at 4×3) are written once, not gathered, cut and transposed in turn.
    if num_crops == 3:
        crops = tf.reshape(video_ops.three_crops(video, size), [-1, size, size, 3])  # [3·U]
    else:
        crops = video_ops.center_crop(video, size)  # [U]
    where = tf.reshape(where, [c, 1, f])
    views = where + tf.reshape(tf.range(num_crops) * tf.size(unique), [1, num_crops, 1])
    return tf.reshape(tf.gather(crops, views), [c * num_crops, f, size, size, 3])
