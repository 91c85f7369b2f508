"""One element of the common format (see `sources`) → one train or eval example, in tf.data.

Train: sample frames (`dataset.sampling`: 'dense' or 'tsn', see `video_ops`), decode only
those, apply the geometric part of the recipe (`host_ops.build_train_clip`: `dataset.train_pp`,
or the plain fields when empty), stateless ops seeded per element. Eval: C temporal clips
(centred dense clips / TSN segment centres) × S spatial crops, short side → `min_resize`,
uint8 (normalised on the device: `device_augment.normalize`). Labels: the first class id, a
multi-hot vector (`dataset.multi_label`) or one id per label set (`dataset.label_sets`).
"""

from __future__ import annotations

import ml_collections

from vivit_jax import label_sets
from vivit_jax.data import dmvr_format, host_ops, video_ops
from vivit_jax.data.tf_quiet import tf


def label(ex: dict, cfg: ml_collections.ConfigDict) -> tf.Tensor:
    """int32 [] (first label); with `dataset.multi_label` a multi-hot float32 [K]; with
    `dataset.label_sets` int32 [L], one class id per set."""
    labels = ex["label_index"]
    tf.debugging.assert_positive(
        tf.size(labels), message=f"record without {dmvr_format.LABEL_INDEX_KEY} (needed as label)"
    )
    if cfg.multi_label:
        hot = tf.one_hot(tf.cast(labels, tf.int32), cfg.num_classes, dtype=tf.float32)
        return tf.reduce_max(hot, axis=0)
    if cfg.get("label_sets"):  # Each set's own class id, int32 [L].
        return label_sets.local_labels(labels, label_sets.of(cfg))
    return tf.cast(labels[0], tf.int32)


def decoded(ex: dict) -> dict:
    """`ex` with every frame decoded (uint8 [n, H, W, 3]): what `dataset.cache_decoded` keeps."""
    frames = ex["frames"]
    return {**ex, "frames": host_ops.decode_boxes(frames, tf.range(tf.shape(frames)[0]))}


def train_example(ex: dict, cfg: ml_collections.ConfigDict, seed: tf.Tensor,
                  clip_fn) -> dict[str, tf.Tensor]:
    """`video` uint8 [F, H, W, 3] made by `clip_fn` (`host_ops.build_train_clip`) from the
    frames sampled with `seed` (int64 [2]), and `label`."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    n = tf.shape(ex["frames"])[0]
    idx = video_ops.train_indices(n, cfg.sampling, cfg.num_frames, cfg.stride, seeds[0])
    return {"video": clip_fn(ex["frames"], idx, seeds[1]), "label": label(ex, cfg)}


def eval_example(ex: dict, cfg: ml_collections.ConfigDict, num_clips: int = 0,
                 num_crops: int = 1) -> dict[str, tf.Tensor]:
    """One centred clip uint8 [F, s, s, 3] (num_clips=0) or views [C·S, F, s, s, 3] (view v =
    clip v // S, crop v % S), with `label`, `video_id` and `video_span`."""
    n = tf.shape(ex["frames"])[0]
    idx = video_ops.multi_clip_indices(n, cfg.sampling, max(num_clips, 1), cfg.num_frames,
                                       cfg.stride)  # [C, F]
    video = host_ops.eval_views(ex["frames"], idx, cfg.min_resize, cfg.image_size, num_crops)
    if not num_clips:
        video = video[0]
    span = ex["video_span"] if "video_span" in ex else tf.constant([0, -1], tf.int64)
    return {"video": video, "label": label(ex, cfg), "video_id": ex["video_id"],
            "video_span": span}
