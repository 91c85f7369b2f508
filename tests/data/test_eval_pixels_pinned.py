"""Evaluation inputs pinned across the uint8 pipeline rewrite (issue 28): a tiny ViViT's logits
on `eval_iterator` and `multiview_iterator` batches equal those of the float32 host pipeline
before it (numbers recorded from that code). Without a resize (`min_resize` = the stored short
side, as `vivit-prepare --min_resize` writes them) the pixels are the same, so the logits are
equal to float round-off; with a resize the host now rounds the resized frames to uint8 (the
one deliberate difference: at most half a grey level), and the logits move by less than that
changes them (`test_resized_eval_views_are_the_float_views_rounded`)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vivit_jax import config as config_lib
from vivit_jax import state as state_lib
from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import pipeline

# (min_resize, clips, crops) -> (logits of videos 0-2, first and last view [3, 2, 3], the sum
# of all logits, padding rows included), from the float32 host pipeline before issue 28.
PINNED = {
    (40, 0, 1): ([
        [[-0.37959, 3.81558, 8.79302], [-0.37959, 3.81558, 8.79302]],
        [[-2.22096, -6.76329, -2.50025], [-2.22096, -6.76329, -2.50025]],
        [[5.69442, -3.95082, -3.17736], [5.69442, -3.95082, -3.17736]],
    ], 26.0633),
    (40, 2, 3): ([
        [[3.23997, 5.53212, 5.63228], [1.95256, 3.99114, 7.70129]],
        [[6.02965, 5.16065, -5.83259], [-1.67346, -10.99580, -1.42283]],
        [[3.04457, -0.93694, -5.08919], [6.92102, -2.97648, -2.06260]],
    ], 10.0878),
    (32, 2, 3): ([
        [[2.64652, 6.45664, 6.65829], [1.82606, 4.26997, 7.05059]],
        [[2.01976, 0.79415, -7.03561], [-1.00809, -13.33341, -2.75617]],
        [[3.93505, -3.01527, -5.30224], [5.95284, -3.60545, -3.78178]],
    ], -33.2352),
}


def _frames(v: int, n: int = 12, h: int = 40, w: int = 52) -> np.ndarray:
    """Textured moving frames (a resize changes them; constant frames would not show it)."""
    rng = np.random.default_rng(v)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 6.28, 3)
    out = []
    for k in range(n):
        img = np.stack([127 + 90 * np.sin(xx / (5 + c) + yy / 7 + phase[c] + 0.4 * k)
                        for c in range(3)], -1) + rng.normal(0, 8, (h, w, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("pinned")
    recs = [dm.make_sequence_example([dm.encode_jpeg(f) for f in _frames(v)],
                                     label_index=[v % 3], label_text=[f"c{v % 3}"],
                                     video_id=f"v{v}") for v in range(5)]
    dm.write_shards(d, "validation", recs, 2)
    dm.write_shards(d, "train", recs, 2)
    dm.write_label_map(d, ["c0", "c1", "c2"])
    cfg = config_lib.load("configs/synthetic/vivit_tiny.py:runlocal",
                          ["--config.dataset.name=dmvr", f"--config.dataset.data_dir={d}",
                           "--config.dataset.num_classes=3", "--config.dataset.stride=1",
                           "--config.model.hidden_size=32", "--config.model.num_heads=2",
                           "--config.model.mlp_dim=64"])
    model = state_lib.create_model(cfg, nnx.Rngs(0))
    graphdef, state = nnx.split(model, nnx.Param)
    params = nnx.to_pure_dict(state)
    # A non-zero head, so that the logits depend on the video.
    params["head"]["kernel"] = jax.random.normal(jax.random.key(1),
                                                 params["head"]["kernel"].shape)
    # The eval step's input: uint8 pixels normalised on the device (float32 before issue 28).
    fwd = jax.jit(lambda p, x: nnx.merge(graphdef, p)(state_lib.model_input(x, cfg),
                                                       train=False)[0])
    return cfg, lambda x: np.asarray(fwd(params, jnp.asarray(x)))


def _logits(setup, min_resize, clips, crops):
    cfg, fwd = setup
    cfg = cfg.copy_and_resolve_references()
    cfg.dataset.min_resize = min_resize
    if clips == 0:
        batches = pipeline.eval_iterator(cfg.dataset, "validation", global_batch_size=4)
    else:
        batches = pipeline.multiview_iterator(cfg.dataset, "validation", num_clips=clips,
                                              num_crops=crops, global_batch_size=2)
    out = []
    for b in batches:
        v = b["video"] if clips else b["video"][:, None]
        logits = fwd(v.reshape((-1,) + v.shape[2:])).reshape(v.shape[:2] + (-1,))
        # Padding rows (masked) were zeros of the float model input then, zero pixels now:
        # they count as the former zeros, so the pinned sum still covers them.
        pad = fwd(np.zeros((1,) + v.shape[2:], np.float32))
        out.append(np.where(b["mask"][:, None, None] > 0, logits, pad))
    return np.concatenate(out)


@pytest.mark.parametrize("min_resize,clips,crops", [(40, 0, 1), (40, 2, 3), (32, 2, 3)])
def test_eval_logits_pinned(setup, min_resize, clips, crops):
    logits = _logits(setup, min_resize, clips, crops)
    got = logits[:3][:, [0, -1]]
    want, total = PINNED[(min_resize, clips, crops)]
    # Rounded pixels (below) move this random model's logits (magnitude ~10) by up to 0.06.
    tol = 1e-5 if min_resize == 40 else 0.1
    np.testing.assert_allclose(got, np.asarray(want), atol=tol)
    assert logits.sum() == pytest.approx(total, abs=tol * logits.size)


def test_resized_eval_views_are_the_float_views_rounded():
    """The float32 host path's views (resize, crop on float frames), rounded: the new uint8
    views exactly (so the only change with a resize is that rounding)."""
    import tensorflow as tf

    from vivit_jax.data import host_ops, video_ops

    frames = _frames(0)
    idx = video_ops.multi_clip_indices(len(frames), "dense", 2, 8, 1)
    got = host_ops.eval_views(tf.constant(frames), idx, 32, 32, 3).numpy()
    video = video_ops.resize_smallest(tf.gather(tf.constant(frames, tf.float32),
                                                tf.reshape(idx, [-1])), 32)
    views = tf.reshape(video_ops.three_crops(video, 32), [3, 2, 8, 32, 32, 3])
    want = tf.reshape(tf.transpose(views, [1, 0, 2, 3, 4, 5]), [6, 8, 32, 32, 3]).numpy()
    assert got.dtype == np.uint8 and np.abs(got - want).max() <= 0.5
    np.testing.assert_array_equal(got, np.round(want))
