"""Attention-rollout math by hand, and on the attention of the real tiny models."""
import numpy as np
import pytest

from vivit_jax.evaluate import rollout


def test_affinity_adds_residual_and_renormalises():
    # Two heads: A and I. mean = (A + I)/2; 0.5·mean + 0.5·I = 0.25·A + 0.75·I.
    a = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6]])
    got = rollout.affinity(np.stack([a, np.eye(3)]))
    np.testing.assert_allclose(got, 0.25 * a + 0.75 * np.eye(3))
    # Rows that do not sum to 1 (e.g. bf16 round-off) are renormalised.
    np.testing.assert_allclose(rollout.affinity(2 * a[None]).sum(-1), 1.0)


def test_two_layer_rollout_equals_hand_product():
    a1 = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.2, 0.6]])
    a2 = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    h1, h2 = rollout.affinity(a1[None]), rollout.affinity(a2[None])
    # Â1 = .5·A1 + .5·I, Â2 = .5·A2 + .5·I:
    np.testing.assert_allclose(h1, [[.75, .25, 0], [0, 1, 0], [.1, .1, .8]])
    np.testing.assert_allclose(h2, [[.5, .5, 0], [.25, .5, .25], [1 / 6, 1 / 6, 2 / 3]])
    # Â2·Â1, row by row: r0 = .5·[.75 .25 0] + .5·[0 1 0] = [.375 .625 0];
    # r1 = .25·[.75 .25 0] + .5·[0 1 0] + .25·[.1 .1 .8] = [.2125 .5875 .2];
    # r2 = (1/6)·[.75 .25 0] + (1/6)·[0 1 0] + (2/3)·[.1 .1 .8] = [.191667 .275 .533333].
    r = rollout.rollout([h1, h2])
    np.testing.assert_allclose(r, [[.375, .625, 0], [.2125, .5875, .2],
                                   [.125 + .1 / 1.5, .275, .8 / 1.5]], atol=1e-12)
    np.testing.assert_allclose(r.sum(-1), 1.0)
    np.testing.assert_allclose(rollout.rollout([h1]), h1)


def test_combine_separable_by_hand():
    # S = 2 positions, T = 2 frames. mask_t[1:, 0, 1:] = [[a b], [c d]] (S×T),
    # mask_s[1:, 0, 1:] = [[e f], [g h]] (T×S) → st[t, s] = mask_t'[s, t]·mask_s'[t, s]
    # = [[a·e, c·f], [b·g, d·h]].
    mask_t = np.zeros((3, 3, 3))
    mask_s = np.zeros((3, 3, 3))
    mask_t[1:, 0, 1:] = [[2, 3], [5, 7]]
    mask_s[1:, 0, 1:] = [[11, 13], [17, 19]]
    mask_t[0] = mask_s[0] = 99  # CLS position / CLS frame: not shown.
    np.testing.assert_array_equal(rollout.combine_separable(mask_t, mask_s),
                                  [[2 * 11, 5 * 13], [3 * 17, 7 * 19]])


def test_combine_divided_by_hand():
    # N = 2 positions, T = 2 frames; temporal rollout per position [T, T] (no CLS): its
    # column means are the weights of each frame. Position 0: [[1, 0], [.5, .5]] → [.75, .25];
    # position 1: identity → [.5, .5]. Spatial CLS rows (1:) per frame: [.2 .3], [.4 .1].
    mask_t = np.array([[[1, 0], [.5, .5]], [[1, 0], [0, 1]]])
    mask_s = np.zeros((2, 3, 3))
    mask_s[:, 0, 1:] = [[.2, .3], [.4, .1]]
    np.testing.assert_allclose(rollout.combine_divided(mask_t, mask_s),
                               [[.75 * .2, .5 * .3], [.25 * .4, .5 * .1]])


def test_threshold_keeps_exactly_the_top_30_percent():
    m = np.array([[0.1, 0.9, 0.3, 0.5, 0.2], [0.8, 0.0, 0.4, 0.7, 0.6]])
    top = rollout.threshold_top(m, 0.3)  # 3 of 10 values: .9 .8 .7.
    np.testing.assert_array_equal(top, [[0, .9, 0, 0, 0], [.8, 0, 0, .7, 0]])
    big = np.random.default_rng(0).random((4, 5, 5))
    assert np.count_nonzero(rollout.threshold_top(big, 0.3)) == 30  # round(.3 · 100)
    kept = rollout.threshold_top(big, 0.3)
    assert kept[kept > 0].min() > big[kept == 0].max()


def _model_attention(family_cfg, **model):
    import jax
    from flax import nnx

    from vivit_jax import config as config_lib
    from vivit_jax.state import create_model

    cfg = config_lib.load(family_cfg, ["--config.model.hidden_size=32",
                                       "--config.model.num_heads=2", "--config.model.mlp_dim=64",
                                       "--config.model.num_layers=2"])
    m = create_model(cfg, nnx.Rngs(0))
    video = jax.random.normal(jax.random.key(1), (1, 8, 32, 32, 3))
    _, out = m(video, return_attention=True)
    return jax.tree.map(np.asarray, out["attention"]), tuple(out["grid"])


@pytest.mark.parametrize("config", ["configs/synthetic/vivit_tiny.py",
                                    "configs/synthetic/timesformer_divided_tiny.py",
                                    "configs/synthetic/timesformer_space_only_tiny.py",
                                    "configs/synthetic/vidtr_tiny.py"])
def test_token_masks_of_real_models(repo, config):
    attention, grid = _model_attention(str(repo / config))
    token = "timesformer_space_only" in config or "vivit" in config  # The others read GMP.
    masks = rollout.token_masks(attention, grid, [1, 2], classifier_token=token)
    assert sorted(masks) == [1, 2]
    for m in masks.values():
        assert m.shape == grid and (m >= 0).all() and m.sum() > 0
    if isinstance(attention[0], np.ndarray):  # Joint: the CLS row of Â2·Â1 by hand.
        h = [rollout.affinity(a[0]) for a in attention]
        np.testing.assert_allclose(masks[2].reshape(-1), (h[1] @ h[0])[0, 1:], rtol=1e-6)
        assert (h[1] @ h[0])[0].sum() == pytest.approx(1.0)
    else:  # Divided, space-only, separable: token by token, as the module docstring says.
        for layer in (1, 2):
            want = _hand_mask([{k: None if v is None else np.asarray(v, np.float64)[0]
                                for k, v in a.items()} for a in attention[:layer]],
                              grid, token)
            np.testing.assert_allclose(masks[layer], want, rtol=1e-6, atol=1e-12)
        assert np.abs(masks[2] - masks[1]).max() > 1e-4  # Layer 2 moves the mask.
    with pytest.raises(ValueError, match="layers 1..2"):
        rollout.token_masks(attention, grid, [3])


def _hand_mask(layers, grid, token):
    """Rollout mask `[t, h, w]` of one video's per-layer attention dicts (batch dropped),
    written out per frame and per spatial position with explicit loops."""
    t, h, w = grid

    def chain(mats):  # Â_L ⋯ Â_1, each Â = ½ · head mean + ½ · I.
        out = np.eye(mats[0].shape[-1])
        for a in mats:
            out = (0.5 * a.mean(0) + 0.5 * np.eye(a.shape[-1])) @ out
        return out

    def read(r):  # The CLS row, or the mean patch row of a pooled readout; patch columns.
        return r[0, 1:] if token else r[1:, 1:].mean(0)

    mask = np.zeros((t, h * w))
    for f in range(t):
        for n in range(h * w):
            if "kept" in layers[0]:  # VidTr: rows 0 are the CLS of each attention axis.
                mask[f, n] = (read(chain([a["temporal"][1 + n] for a in layers]))[f]
                              * read(chain([a["spatial"][1 + f] for a in layers]))[n])
                continue
            spatial = read(chain([a["spatial"][f] for a in layers]))[n]
            if layers[0].get("temporal") is None:  # Space-only.
                mask[f, n] = spatial
            else:  # Divided: position n's temporal rollout, column f, averaged over queries.
                mask[f, n] = chain([a["temporal"][n] for a in layers])[:, f].mean() * spatial
    return mask.reshape(t, h, w)


def _full(block_rows, t, s, axis):
    """Token-space `[t·s, t·s]` matrix (time-major) of per-frame (`axis='s'`, blocks
    `[t, s, s]`) or per-position (`axis='t'`, blocks `[s, t, t]`) matrices."""
    m = np.zeros((t * s, t * s))
    for f in range(t):
        for p in range(s):
            if axis == "s":
                m[f * s + p, f * s:(f + 1) * s] = block_rows[f, p]
            else:
                m[f * s + p, p::s] = block_rows[p, f]
    return m


@pytest.mark.parametrize("model_type,spatial_first", [
    ("factorised_self_attention", True), ("factorised_self_attention", False),
    ("factorised_dot_product", True)])
def test_factorised_vivit_rollout_equals_the_full_token_graph(model_type, spatial_first):
    """Models 3-4: the row-vector rollout equals the mean row of the product of the layers'
    full [t·s, t·s] affinities, built here token by token."""
    rng = np.random.default_rng(0)
    t, h, w, heads, n_layers = 3, 2, 2, 2, 3
    s = h * w
    soft = lambda *shape: (lambda x: x / x.sum(-1, keepdims=True))(rng.random(shape) ** 4)
    att = {"spatial": [soft(1, t, heads, s, s) for _ in range(n_layers)],
           "temporal": [soft(1, s, heads, t, t) for _ in range(n_layers)]}
    masks = rollout.factorised_masks(att, (t, h, w), [1, 3], model_type=model_type,
                                     spatial_first=spatial_first)
    eye = np.eye(t * s)
    full = []
    for a_s, a_t in zip(att["spatial"], att["temporal"]):
        fs = _full(a_s[0].mean(1), t, s, "s")  # Head means, no residual yet.
        ft = _full(a_t[0].mean(1), t, s, "t")
        if model_type == "factorised_dot_product":  # One attention: half the heads each way.
            full.append(0.5 * (0.5 * fs + 0.5 * ft) + 0.5 * eye)
        else:
            rs, rt = 0.5 * fs + 0.5 * eye, 0.5 * ft + 0.5 * eye
            full.append(rt @ rs if spatial_first else rs @ rt)
    for layer in (1, 3):
        want = rollout.rollout(full[:layer]).mean(0)
        np.testing.assert_allclose(masks[layer].reshape(-1), want, rtol=1e-10)
        assert masks[layer].sum() == pytest.approx(1.0)


def test_factorised_encoder_rollout_weights_frames_by_the_temporal_readout():
    """Model 2: frame f's spatial CLS row, weighted by the temporal CLS's rollout on f."""
    t, s, heads = 3, 4, 2
    one_hot = lambda n, i: np.eye(n)[i]
    # Spatial layer: every frame's CLS (token 0) attends to patch f+1 of its frame only.
    sp = np.zeros((1, t, heads, 1 + s, 1 + s))
    for f in range(t):
        sp[0, f, :, 0] = one_hot(1 + s, 1 + f)
        sp[0, f, :, 1:] = np.eye(1 + s)[1:]
    # Temporal layer: the temporal CLS attends to frame token 2 (frame index 1) only.
    tp = np.zeros((1, heads, 1 + t, 1 + t))
    tp[0, :, 0] = one_hot(1 + t, 2)
    tp[0, :, 1:] = np.eye(1 + t)[1:]
    (mask,) = rollout.factorised_masks({"spatial": [sp], "temporal": [tp]}, (t, 2, 2), [1],
                                       model_type="factorised_encoder",
                                       classifier_token=True).values()
    # Temporal row over frames: Â = ½A + ½I → CLS row (½, 0, ½, 0): frame 1 gets ½.
    # Spatial CLS row of frame f: ½ on CLS, ½ on patch f → patch column f gets ½.
    want = np.zeros((t, s))
    want[1, 1] = 0.5 * 0.5
    np.testing.assert_allclose(mask.reshape(t, s), want)
    # No temporal encoder (Table 2's average-pool baseline): frames weigh 1/t each.
    (flat,) = rollout.factorised_masks({"spatial": [sp], "temporal": []}, (t, 2, 2), [1],
                                       model_type="factorised_encoder",
                                       classifier_token=True).values()
    np.testing.assert_allclose(flat.reshape(t, s), np.eye(t, s) * 0.5 / t)


def test_pooled_readouts_use_the_mean_patch_row():
    """GAP/GMP: the rows the pooled tokens read, averaged; the CLS row and column dropped."""
    r = np.arange(16.0).reshape(4, 4)  # CLS first, then 3 patches.
    np.testing.assert_array_equal(rollout.readout_row(r), [1, 2, 3])
    np.testing.assert_array_equal(rollout.readout_row(r, token=False), r[1:, 1:].mean(0))
    np.testing.assert_array_equal(rollout.readout_row(r, False, has_cls=False), r.mean(0))
    # Joint attention of a model that keeps a CLS under a pooled readout (TimeSformer).
    rng = np.random.default_rng(0)
    a = rng.random((1, 2, 5, 5))
    a /= a.sum(-1, keepdims=True)
    (mask,) = rollout.token_masks([a], (1, 2, 2), [1], classifier_token=False).values()
    np.testing.assert_allclose(mask.reshape(-1), rollout.affinity(a[0])[1:, 1:].mean(0))
