"""Host ops on uint8: the planned geometric recipe against the ops applied one by one, decoding
only the kept box, and the recipe's argument errors."""
import numpy as np
import pytest
import tensorflow as tf

from vivit_jax.data import config as data_config
from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import host_ops, video_ops

H, W, T = 48, 64, 5


def _frames():
    """uint8 [T, H, W, 3]: a smooth ramp in x (red) and y (green), frame index in blue."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([np.stack([xx * 4, yy * 5, np.full_like(xx, 40 * t)], -1)
                     for t in range(T)]).astype(np.uint8)


def _cfg(pp, size=32, frames=3):
    cfg = data_config.default_data_config()
    cfg.update(dict(train_pp=pp, image_size=size, num_frames=frames, min_resize=size))
    return cfg


def _seed(i):
    return tf.constant([i, 1], tf.int64)


@pytest.fixture(scope="module")
def jpegs():
    # q100 4:4:4: decode is near-lossless, so windows can be recognised by their values.
    return tf.constant([dm.encode_jpeg(f, 100) for f in _frames()])


def test_decode_and_crop_equals_decode_then_crop(jpegs):
    box = tf.constant([5, 9, 20, 33])
    idx = tf.constant([4, 0, 2])
    got = host_ops.decode_boxes(jpegs, idx, box).numpy()
    full = host_ops.decode_boxes(jpegs, idx).numpy()
    np.testing.assert_array_equal(got, full[:, 5:25, 9:42])
    decoded = tf.constant(full)  # `dataset.cache_decoded` frames: only gathered and cut.
    np.testing.assert_array_equal(host_ops.decode_boxes(decoded, tf.constant([1]), box).numpy(),
                                  full[1:2, 5:25, 9:42])
    assert list(host_ops.frame_shape(jpegs).numpy()) == [H, W]


def test_crop_without_resize_is_an_exact_window_and_flip_mirrors_it(jpegs):
    full = host_ops.decode_boxes(jpegs, tf.range(T)).numpy().astype(int)
    fn = host_ops.build_train_clip(_cfg(f"resize_small({H})|random_crop(32)|flip"))
    idx = tf.constant([0, 2, 4])
    flipped, tops = 0, set()
    for i in range(12):
        clip = fn(jpegs, idx, _seed(i)).numpy().astype(int)
        assert clip.shape == (3, 32, 32, 3)
        was_flipped = clip[0, 0, 0, 0] > clip[0, 0, -1, 0]
        flipped += was_flipped
        if was_flipped:
            clip = clip[:, :, ::-1]
        found = [(t, left) for t in range(H - 31) for left in range(W - 31)
                 if np.array_equal(clip, full[[0, 2, 4], t:t + 32, left:left + 32])]
        assert len(found) == 1, i
        tops.add(found[0])
    assert 0 < flipped < 12 and len(tops) > 6


def test_planned_scale_jitter_crop_matches_resize_then_crop(jpegs):
    """A scale-jittered random crop: within a few grey levels of some window of the whole
    frame resized to the planned size (the box is rounded to whole stored pixels: a shift of
    at most half a stored pixel), at scales spread over the jitter's range."""
    full = tf.cast(host_ops.decode_boxes(jpegs, tf.range(T)), tf.float32)
    fn = host_ops.build_train_clip(_cfg("scale_jitter(36, 60)|random_crop(32)"))
    widths = set()
    for i in range(8):
        clip = fn(jpegs, tf.constant([1, 3, 4]), _seed(i)).numpy().astype(float)
        # The red ramp's slope gives the scale (4 per stored pixel) to a pixel or two; the
        # best window of the frame resized to a size near it is then looked up.
        guess = int(round(H * 4.0 / np.polyfit(np.arange(32), clip[0, 16, :, 0], 1)[0]))
        errs = {}
        for size in range(max(guess - 2, 36), min(guess + 2, 60) + 1):
            hw = [size, int(round(W * size / H))]
            resized = video_ops.resize_frames(tf.gather(full, [1, 3, 4]), hw).numpy()
            errs.update({(size, t, left): np.abs(clip - resized[:, t:t + 32, left:left + 32])
                         for t in range(hw[0] - 31) for left in range(hw[1] - 31)})
        key = min(errs, key=lambda k: errs[k].mean())
        best = errs[key]
        widths.add(key[0])
        # Half a stored pixel is 2-2.5 levels of these ramps; a rounded box size drifts as
        # much again by the far edge.
        assert best.mean() < 2.0 and best.max() <= 6.0, (i, key, best.mean(), best.max())
    assert len(widths) > 3


def test_random_resized_crop_full_box_is_one_resize(jpegs):
    # scale=(1, 1) at the frame's own aspect: the box is the whole frame, resized once.
    fn = host_ops.build_train_clip(_cfg(f"random_resized_crop(24, scale=(1.0, 1.0), "
                                        f"ratio=({W / H}, {W / H}))", size=24))
    clip = fn(jpegs, tf.constant([0, 1, 2]), _seed(0)).numpy()
    full = host_ops.decode_boxes(jpegs, tf.constant([0, 1, 2]))
    want = host_ops.resize_uint8(full, [24, 24]).numpy()
    np.testing.assert_array_equal(clip, want)
    assert clip.dtype == np.uint8


def test_bad_host_arguments_are_named():
    with pytest.raises(ValueError, match="bad arguments for 'scale_jitter'"):
        host_ops.build_train_clip(_cfg("scale_jitter(36)|random_crop(32)"))
