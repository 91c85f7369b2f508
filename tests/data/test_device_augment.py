"""Device-side augmentation (jax) against its reference, the former tf.data ops of
`video_ops`, applied with the same random parameters; its draws' distributions; its keys."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from vivit_jax.data import config as data_config
from vivit_jax.data import device_augment as da
from vivit_jax.data import video_ops as vo


def _clip(seed=0, t=3, h=14, w=18):
    """A textured clip [T, H, W, 3] in [0, 255] (float32), saturated corners included."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = np.stack([[127 + 120 * np.sin(xx / (2 + c) + yy / 3 + k + c) for c in range(3)]
                  for k in range(t)], 0).transpose(0, 2, 3, 1) + rng.normal(0, 20, (t, h, w, 3))
    x = np.clip(np.round(x), 0, 255).astype(np.float32)
    x[:, 0, 0] = 0.0
    x[:, -1, -1] = 255.0
    return x


@pytest.mark.parametrize("mode", ["minus_one_to_one", "zero_one", "imagenet", "mean_std"])
def test_normalize_matches_tf(mode):
    x = _clip().astype(np.uint8)
    want = vo.normalize(tf.constant(x, tf.float32), mode, (0.5, 0.4, 0.3), (0.2, 0.3, 0.4))
    got = da.normalize(jnp.asarray(x), mode, (0.5, 0.4, 0.3), (0.2, 0.3, 0.4))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("factors,hue", [((1.3, 0.7, 1.2), 0.08), ((0.65, 1.35, 0.6), -0.1),
                                         ((1.0, 1.0, 1.0), 0.0)])
def test_color_jitter_matches_tf(factors, hue):
    x = _clip()
    want = vo.color_jitter_apply(tf.constant(x), tf.constant(factors), hue).numpy()
    got = np.asarray(da.color_jitter_apply(jnp.asarray(x), jnp.asarray(factors), hue))
    np.testing.assert_allclose(got, want, atol=2e-3)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_randaug_ops_match_tf(sign):
    x = _clip(1)
    for m in (0.5, 1.0):
        want = [f().numpy() for f in vo.randaug_ops(tf.constant(x), tf.constant(sign), m)]
        got = [np.asarray(f()) for f in da.randaug_ops(jnp.asarray(x), jnp.asarray(sign), m)]
        assert len(got) == len(want) == len(vo.RANDAUG_OPS)
        for name, g, w in zip(vo.RANDAUG_OPS, got, want):
            np.testing.assert_allclose(g, w, atol=2e-3, err_msg=f"{name} m={m} sign={sign}")


def test_random_erasing_box_noise_and_rate():
    x = jnp.asarray(_clip(2, t=2, h=20, w=24)) / 127.5 - 1.0
    noise = jax.random.normal(jax.random.key(0), (20, 24, 3))
    out = np.asarray(da.erase(x, jnp.asarray([3, 5, 4, 7]), noise))
    want = np.asarray(x).copy()
    want[:, 3:7, 5:12] = np.asarray(noise)[3:7, 5:12]  # The same static patch in every frame.
    np.testing.assert_array_equal(out, want)
    # Draws: erased with p = 0.25; areas within (0.02, 1/3) of the frame (rounding aside).
    keys = jax.random.split(jax.random.key(1), 400)
    outs = np.asarray(jax.vmap(lambda k: da.random_erasing(x, k))(keys))
    changed = (outs != np.asarray(x)[None]).any(-1).any(1)  # [400, H, W]
    erased = changed.any((1, 2))
    assert 0.19 < erased.mean() < 0.31
    areas = changed[erased].sum((1, 2)) / (20 * 24)
    assert areas.min() >= 0.01 and areas.max() <= 0.4 and areas.std() > 0.05


def test_color_jitter_and_randaug_draws():
    x = jnp.asarray(_clip(3))
    keys = jax.random.split(jax.random.key(2), 300)
    jit = np.asarray(jax.vmap(lambda k: da.color_jitter(x, k, 0.4, 0.8))(keys))
    applied = np.abs(jit - np.asarray(x)[None]).max((1, 2, 3, 4)) > 0
    assert 0.73 < applied.mean() < 0.87  # p = 0.8
    # Brightness factor in 1 ± 0.4 (then contrast / saturation / hue): the mean moves both ways.
    ratio = jit[applied].mean((1, 2, 3, 4)) / float(x.mean())
    assert ratio.min() < 0.8 and ratio.max() > 1.2 and 0.5 < ratio.min()
    # RandAugment: one op of 13 per layer; with one layer at magnitude 10 about 1/13 are the
    # identity, and every clip is one of the ops applied to it.
    outs = np.asarray(jax.vmap(lambda k: da.randaug(x, k, 1, 10))(keys))
    same = (outs == np.asarray(x)[None]).all((1, 2, 3, 4))
    assert 0.02 < same.mean() < 0.2


def test_build_applies_the_recipe_per_clip_keyed_by_index():
    cfg = data_config.default_data_config()
    cfg.train_pp = "random_crop(32)|randaug(2, 9)|color_jitter(0.4, 0.8)|random_erasing(0.25)"
    fn = jax.jit(da.build(cfg))
    video = jnp.asarray(np.stack([_clip(i) for i in range(4)]).astype(np.uint8))
    a, b = fn(video, jax.random.key(5)), fn(video, jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # A function of the key.
    assert not np.array_equal(np.asarray(a), np.asarray(fn(video, jax.random.key(6))))
    # Clip i's result depends on its pixels and (key, i) only: other clips changed, clip 2
    # unchanged; the same clip at another index is augmented otherwise.
    other = video.at[0].set(video[3]).at[1].set(0)
    c = fn(other, jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(c[2]), np.asarray(a[2]))
    assert not np.array_equal(np.asarray(c[0]), np.asarray(a[3]))
    # A float video is the model's input already: unchanged.
    f = jnp.zeros((2, 3, 4, 4, 3), jnp.float32)
    np.testing.assert_array_equal(np.asarray(fn(f, jax.random.key(0))), np.asarray(f))
    cfg.train_pp = "random_crop(32)|randaug(2, 9, 3)"
    with pytest.raises(ValueError, match="bad arguments for 'randaug'"):
        da.build(cfg)


def test_build_keys_each_op_by_its_recipe_position():
    """Clip i, op at recipe position p: `fold_in(fold_in(key, i), p)`: the ops applied one
    by one with those keys give the batched result (to round-off: another XLA fusion)."""
    cfg = data_config.default_data_config()
    cfg.train_pp = "random_crop(32)|color_jitter(0.4, 1.0)|random_erasing(1.0)"
    video = jnp.asarray(np.stack([_clip(i) for i in range(3)]).astype(np.uint8))
    got = jax.jit(da.build(cfg))(video, jax.random.key(5))

    @jax.jit
    def reference(x, k):
        x = da.color_jitter(x.astype(jnp.float32), jax.random.fold_in(k, 1), 0.4, 1.0)
        return da.normalize(da.random_erasing(x, jax.random.fold_in(k, 2), 1.0),
                            cfg.normalization)

    want = reference(video[2], jax.random.fold_in(jax.random.key(5), 2))
    np.testing.assert_allclose(np.asarray(got[2]), np.asarray(want), atol=1e-4)
