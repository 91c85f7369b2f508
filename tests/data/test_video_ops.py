"""Frame sampling (dense / TSN, train / test) and clip augmentations: indices and invariants."""

import numpy as np
import pytest
import tensorflow as tf

from vivit_jax.data import config as data_config
from vivit_jax.data import preprocess
from vivit_jax.data import video_ops as vo


def _seed(i):
    return tf.constant([i, 0], tf.int64)


def test_dense_train_indices_random_offset_and_loop():
    for n in (20, 5):  # 20: fits (4 frames x stride 3 span 9); 5: shorter, loops.
        offsets = set()
        for i in range(60):
            idx = vo.dense_indices(n, 4, 3, _seed(i)).numpy()
            off = idx[0]
            np.testing.assert_array_equal(idx, (off + 3 * np.arange(4)) % n)
            offsets.add(int(off))
        # DMVR: offset ~ U{0 .. n - span - 1} when the clip fits, U{0 .. n-1} otherwise.
        assert offsets == set(range(20 - 9)) if n == 20 else offsets == set(range(5))


def test_dense_test_indices_centred_and_linspace():
    np.testing.assert_array_equal(vo.dense_indices(20, 4, 3), [4, 7, 10, 13])  # (20-12)//2.
    np.testing.assert_array_equal(vo.dense_indices(5, 4, 3), [0, 3, 1, 4])  # Loops.
    idx = vo.dense_linspace_indices(20, 3, 4, 2).numpy()  # Offsets linspace(0, 12, 3).
    np.testing.assert_array_equal(idx, [[0, 2, 4, 6], [6, 8, 10, 12], [12, 14, 16, 18]])
    idx = vo.dense_linspace_indices(6, 2, 4, 2).numpy()  # Too short: the clips loop.
    np.testing.assert_array_equal(idx, [[0, 2, 4, 0], [5, 1, 3, 5]])


def test_short_videos_still_get_distinct_test_views():
    """TimeSformer #103, SlowFast #306: a video shorter than C×F×s frames gave C identical
    views (every offset 0). Now they differ wherever the frames allow."""
    # 8 frames, 4 at stride 2 (span 6): only offsets 0 and 1 fit unwrapped; both are used.
    np.testing.assert_array_equal(vo.dense_linspace_indices(8, 2, 4, 2).numpy(),
                                  [[0, 2, 4, 6], [1, 3, 5, 7]])
    # SSv2-like: 30 frames, 32-frame clips at stride 1, 4 views: each starts elsewhere.
    idx = vo.multi_clip_indices(30, "dense", 4, 32, 1).numpy()
    np.testing.assert_array_equal(idx[:, 0], [0, 9, 19, 29])
    assert len({tuple(v) for v in idx}) == 4
    np.testing.assert_array_equal(np.sort(idx[0][:30]), np.arange(30))  # Still every frame.
    # Long enough: DMVR's linspace over 0 .. n - F·s, unchanged.
    np.testing.assert_array_equal(vo.dense_linspace_indices(40, 3, 4, 2).numpy()[:, 0],
                                  [0, 16, 32])
    # A one-frame video: the one view there is.
    np.testing.assert_array_equal(vo.dense_linspace_indices(1, 3, 2, 1).numpy(), np.zeros((3, 2)))


def test_tsn_indices_one_per_segment_and_centres():
    n, f = 23, 4
    for i in range(30):
        idx = vo.tsn_indices(n, f, seed=_seed(i)).numpy()
        # Frame floor(x) for x uniform in the real segment [k·n/F, (k+1)·n/F).
        lo, hi = np.floor(np.arange(f) * n / f), np.ceil(np.arange(1, f + 1) * n / f)
        assert np.all((lo <= idx) & (idx < hi)) and np.all(np.diff(idx) >= 0), idx
    np.testing.assert_array_equal(vo.tsn_indices(n, f), np.floor((np.arange(4) + 0.5) * n / 4))
    multi = vo.multi_clip_indices(n, "tsn", 2, f, 1).numpy()
    np.testing.assert_array_equal(multi, np.floor((np.arange(4)[None] + [[0.25], [0.75]]) * n / 4))
    np.testing.assert_array_equal(vo.tsn_indices(2, 4), [0, 0, 1, 1])  # Short: repeats.


def _ramp_clip(t=3, h=20, w=30):
    x = np.arange(w, dtype=np.float32)[None, None, :, None] * 8
    y = np.arange(h, dtype=np.float32)[None, :, None, None] * 2
    return tf.constant(np.broadcast_to(x + y + np.arange(t)[:, None, None, None], (t, h, w, 3)))


def test_resize_frames_antialias_only_when_shrinking():
    """Enlarging without the antialiasing filter gives the filtered result (the filter only
    acts when shrinking); any shrinking side takes the filtered path, bit for bit."""
    x = tf.random.stateless_uniform([2, 240, 320, 3], _seed(3), 0, 255)
    for hw in ([256, 341], [300, 400]):  # Both sides enlarged (Kinetics' 240 → 256).
        got, want = vo.resize_frames(x, hw), tf.image.resize(x, hw, antialias=True)
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=0.02)
        assert tf.reduce_max(tf.abs(got - want)) > 0  # The unfiltered path did run.
    for hw in ([224, 298], [256, 300]):  # Shrunk, or one side shrunk.
        np.testing.assert_array_equal(vo.resize_frames(x, hw).numpy(),
                                      tf.image.resize(x, hw, antialias=True).numpy())
    # The short-side resize and Inception crop use it: 240 → 256 keeps the aspect ratio.
    assert vo.resize_smallest(x, 256).shape == (2, 256, 341, 3)


def test_three_crops_positions():
    video = _ramp_clip()  # Landscape 20 x 30: crops along the width.
    crops = vo.three_crops(video, 20).numpy()
    assert crops.shape == (3, 3, 20, 20, 3)
    np.testing.assert_array_equal([c[0, 0, 0, 0] for c in crops], [0, 5 * 8, 10 * 8])
    tall = tf.transpose(video, [0, 2, 1, 3])  # Portrait 30 x 20: top/centre/bottom (ramp now on H).
    crops = vo.three_crops(tall, 20).numpy()
    np.testing.assert_array_equal([c[0, 0, 0, 0] for c in crops], [0, 5 * 8, 10 * 8])


def test_random_ops_same_for_every_frame_and_deterministic():
    base = np.random.default_rng(0).uniform(0, 255, (1, 16, 24, 3)).astype(np.float32)
    video = tf.constant(np.repeat(base, 4, axis=0))  # 4 identical frames.
    ops = [
        lambda v, s: vo.random_resized_crop(v, 8, s),
        lambda v, s: vo.flip(v, s),
        lambda v, s: vo.color_jitter(v, s, 0.4, 1.0),
        lambda v, s: vo.randaug(v, s, 3, 9),
        lambda v, s: vo.scale_jitter(v, 12, 20, s),
        lambda v, s: vo.random_erasing(v, s, 1.0),
    ]
    for op in ops:
        outs = [op(video, _seed(i)).numpy() for i in range(6)]
        for out in outs:  # Identical frames stay identical: one draw per clip.
            np.testing.assert_allclose(out, np.repeat(out[:1], 4, axis=0), atol=1e-4)
        np.testing.assert_array_equal(op(video, _seed(3)).numpy(), outs[3])
        assert any(o.shape != outs[0].shape or not np.allclose(o, outs[0]) for o in outs[1:])


def test_flip_reverses_width_and_normalize_values():
    video = _ramp_clip()
    flips = [vo.flip(video, _seed(i)).numpy() for i in range(10)]
    assert {bool(np.array_equal(f, video.numpy()[:, :, ::-1])) for f in flips} == {True, False}
    x = tf.constant([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(vo.normalize(x, "minus_one_to_one").numpy().ravel(), [-1, 0, 1])
    np.testing.assert_allclose(vo.normalize(x, "zero_one").numpy().ravel(), [0, 0.5, 1])
    got = vo.normalize(x, "mean_std", (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)).numpy().ravel()
    np.testing.assert_allclose(got, [-2, 0, 0.5])


def test_pp_string_parsing_defaults_and_errors():
    assert preprocess.parse("random_resized_crop(8, scale=(0.5, 1))|flip|normalize('x')") == [
        ("random_resized_crop", (8,), {"scale": (0.5, 1)}), ("flip", (), {}),
        ("normalize", ("x",), {})]
    cfg = data_config.default_data_config()
    cfg.update(dict(num_frames=2, image_size=8, min_resize=10, random_flip=True))
    assert preprocess.default_train_pp(cfg) == "resize_small(10)|random_crop(8)|flip"
    cfg.train_pp = "random_resized_crop(8)|flip|color_jitter(0.4, p=0.0)|randaug(2, 5)"
    host, device = preprocess.split_recipe(cfg)
    assert [(p, n) for p, n, _, _ in host] == [(0, "random_resized_crop"), (1, "flip")]
    assert [(p, n) for p, n, _, _ in device] == [(2, "color_jitter"), (3, "randaug"),
                                                 (4, "normalize")]  # The dataset's, appended.
    cfg.train_pp = "flip|normalize('imagenet')"
    with pytest.raises(ValueError, match="differs from dataset.normalization='minus_one_to_one'"):
        preprocess.split_recipe(cfg)
    cfg.train_pp = "blur(3)"
    with pytest.raises(ValueError, match="unknown op 'blur'"):
        preprocess.split_recipe(cfg)
    cfg.train_pp = "random_crop(8)|color_jitter|flip"
    with pytest.raises(ValueError, match="the geometric op 'flip' comes after 'color_jitter'"):
        preprocess.split_recipe(cfg)
    with pytest.raises(ValueError, match=r"bad preprocessing op 'flip\('"):
        preprocess.parse("flip(|x")
