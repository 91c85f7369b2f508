"""mixup / cutmix on device: label weights equal pixel fractions, tubes, jit, no-op."""

import jax
import jax.numpy as jnp
import numpy as np

from vivit_jax.data import mix


def _batch():
    # Video b is constant b+1 everywhere: a pixel's value says which video it came from.
    video = jnp.broadcast_to(jnp.arange(1.0, 5.0)[:, None, None, None, None], (4, 3, 8, 10, 3))
    return video, jax.nn.one_hot(jnp.arange(4), 4)


def test_mixup_weights_match_pixels():
    video, labels = _batch()
    v, lab = mix.mixup_cutmix(jax.random.key(0), video, labels, mixup_alpha=0.8,
                              cutmix_alpha=0.0)
    lam = float(lab[0, 0])
    np.testing.assert_allclose(lab[0, 3], 1 - lam, rtol=1e-6)  # Partner = reversed batch.
    np.testing.assert_allclose(v[0], lam * 1 + (1 - lam) * 4, rtol=1e-5)
    np.testing.assert_allclose(lab.sum(-1), 1.0, rtol=1e-6)


def test_cutmix_is_a_tube_and_labels_are_area_fractions():
    video, labels = _batch()
    f = jax.jit(lambda r, v, y: mix.mixup_cutmix(r, v, y, mixup_alpha=0.0, cutmix_alpha=1.0))
    for seed in range(5):
        v, lab = f(jax.random.key(seed), video, labels)
        pasted = np.asarray(v[1] == 3.0)  # Video 1 gets video 2 (reversed batch) in the box.
        assert (pasted == pasted[:1]).all()  # Same box in every frame.
        np.testing.assert_allclose(lab[1, 2], pasted.mean(), rtol=1e-6)
        np.testing.assert_allclose(lab[1, 1], 1 - pasted.mean(), rtol=1e-6)


def test_switch_and_noop():
    video, labels = _batch()
    v, lab = mix.mixup_cutmix(jax.random.key(0), video, labels, mixup_alpha=0.0,
                              cutmix_alpha=0.0)
    assert v is video and np.array_equal(lab, labels)
    kinds = set()
    for seed in range(12):
        v, _ = mix.mixup_cutmix(jax.random.key(seed), video, labels, mixup_alpha=1.0,
                                cutmix_alpha=1.0, switch_prob=0.5)
        kinds.add(bool(np.isin(np.asarray(v[0]), [1.0, 4.0]).all()))  # True: cutmix.
    assert kinds == {True, False}
