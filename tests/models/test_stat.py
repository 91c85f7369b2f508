"""STAT: the shrinking key/value set, the STA output against numpy, stages, knobs, errors.

Kept small for CI (< 40 s CPU): width 16, one block per stage, 8 frames (n_t = 4), one model
shared by the tests that only read it, and every forward/backward under `nnx.jit` (one
compile per graph instead of op-by-op dispatch).
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models import stat_reference
from vivit_jax.models import build_model, default_model_config, stat


def tiny_cfg(**kw):
    c = default_model_config("stat")
    c.update(dict(hidden_size=16, depths=(1, 1), num_heads=2, stem_channels=(4, 8),
                  kv_pool_strides=(1, 1), window=3))
    c.update(kw)
    return c


def make(cfg, shape=(8, 16, 16), classes=5, seed=0, dtype=jnp.float32):
    """The model with random numpy parameters of the dtypes its initialisers declare.

    Built abstractly (`nnx.eval_shape`) and filled from numpy: compiling every initialiser
    for every parameter shape costs ~10 s CPU per model, and no test here reads init values.
    """
    abstract = nnx.eval_shape(lambda: build_model(cfg, num_classes=classes, input_shape=shape,
                                                  dtype=dtype, rngs=nnx.Rngs(seed)))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(seed)

    def fill(path, a):
        # LayerNorm scales near 1, everything else (biases, the zero-init head too) ~ N(0, 0.3²).
        mean = 1.0 if any(getattr(k, "key", None) == "scale" for k in path) else 0.0
        return jnp.asarray(mean + 0.3 * rng.standard_normal(a.shape), a.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(fill, state))


@pytest.fixture(scope="module")
def model3():
    """3 stages at 32²: 4×4 → 2×2 → 1×1 patch grid; stage-1 P_CA (depthwise conv) stride 2."""
    return make(tiny_cfg(depths=(1, 1, 1), kv_pool_strides=(2, 1, 1)), shape=(8, 32, 32))


@nnx.jit
def _forward(model, video):
    return model(video)


def test_window_indices_at_boundaries():
    # 'shift' (default): the window slides inside the clip; frame i is never its own neighbour.
    shift = stat.window_indices(8, 3, "shift")
    assert shift.tolist() == [[1, 2], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7], [5, 6]]
    assert stat.window_indices(8, 5, "shift")[:2].tolist() == [[1, 2, 3, 4], [0, 2, 3, 4]]
    assert stat.window_indices(8, 5, "shift")[7].tolist() == [3, 4, 5, 6]
    assert stat.window_indices(8, 3, "reflect")[[0, 7]].tolist() == [[1, 1], [6, 6]]
    assert stat.window_indices(8, 3, "circular")[[0, 7]].tolist() == [[7, 1], [6, 0]]
    for b in stat.BOUNDARIES:
        idx = stat.window_indices(8, 5, b)
        assert idx.shape == (8, 4) and all(i not in row for i, row in enumerate(idx))
    assert stat.window_indices(4, 1).shape == (4, 0)


def test_gather_kv_equals_hand_built_gather():
    b, t, n_ca, n_sa, d = 2, 5, 4, 2, 3
    # Token values encode (batch, frame, token, channel) so any mix-up shows.
    code = lambda *s: np.arange(np.prod(s), dtype=np.float32).reshape(s)
    cur, short, cls = code(b, t, n_ca, d), 1e4 + code(b, t, n_sa, d), 2e4 + code(b, t, d)
    idx = stat.window_indices(t, 3, "shift")
    got = np.asarray(stat.gather_kv(jnp.asarray(cur), jnp.asarray(short), jnp.asarray(cls), idx))
    assert got.shape == (b, t, n_ca + 2 * n_sa + t, d)
    for i in range(t):
        hand = np.concatenate([cur[:, i]] + [short[:, j] for j in idx[i]] + [cls], axis=1)
        np.testing.assert_array_equal(got[:, i], hand)
    # Frame 0: current frame 0, window frames 1 and 2 (shifted inside), CLS of all 5 frames.
    np.testing.assert_array_equal(got[:, 0, n_ca:n_ca + n_sa], short[:, 1])
    np.testing.assert_array_equal(got[:, 0, n_ca + n_sa:n_ca + 2 * n_sa], short[:, 2])
    no_sa = stat.gather_kv(jnp.asarray(cur), None, None, idx)
    np.testing.assert_array_equal(no_sa, cur)


def _np_sta(x, blk, idx):
    """Numpy STA for one block, written out per frame: P_CA conv, P_SA avg-pool, Eq. 7-8."""
    p = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(blk, nnx.Param)))
    b, t, n, d = x.shape
    h = w = int(np.sqrt(n - 1))
    s = blk.kv_pool.strides[0]
    kern, bias = p["kv_pool"]["kernel"], p["kv_pool"]["bias"]  # depthwise [3, 3, 1, d]
    grid = np.pad(x[:, :, 1:].reshape(b, t, h, w, d), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
    ca = np.zeros((b, t, ho, wo, d), np.float32)
    for r in range(ho):
        for c in range(wo):
            patch = grid[:, :, r * s:r * s + 3, c * s:c * s + 3]
            ca[:, :, r, c] = (patch * kern[:, :, 0]).sum((2, 3)) + bias
    sa = ca.reshape(b, t, ho // 2, 2, wo // 2, 2, d).mean((3, 5)).reshape(b, t, -1, d)
    ca = ca.reshape(b, t, -1, d)
    a = p["MultiHeadDotProductAttention_1"]
    proj = lambda z, name: np.einsum("...d,dhk->...hk", z, a[name]["kernel"]) + a[name]["bias"]
    out = np.zeros_like(x)
    weights = []
    for i in range(t):
        kv = np.concatenate([ca[:, i]] + [sa[:, j] for j in idx[i]] + [x[:, :, 0]], axis=1)
        q, k, v = proj(x[:, i], "query"), proj(kv, "key"), proj(kv, "value")
        logits = np.einsum("bqhk,bmhk->bhqm", q, k) / np.sqrt(q.shape[-1])
        att = np.exp(logits - logits.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("bhqm,bmhk->bqhk", att, v)
        out[:, i] = np.einsum("bqhk,hkd->bqd", o, a["out"]["kernel"]) + a["out"]["bias"]
        weights.append(att)
    return out, np.stack(weights, 1)


def test_sta_attention_matches_numpy(model3):
    # Stage 1 on a 4×4 grid: P_CA stride 2 → 2×2 CA tokens, P_SA → 1 token per window frame.
    blk = model3.encoderblock_0
    assert blk.grid_hw == (4, 4) and blk.kv_stride == 2
    x = np.asarray(jax.random.normal(jax.random.key(3), (2, 4, 17, 16)))
    attend = nnx.jit(lambda b, x: (b.attend(b.MultiHeadDotProductAttention_1, x, True),
                                   b.attend(b.MultiHeadDotProductAttention_1, x, False)))
    (y, w), (fused, none) = attend(blk, jnp.asarray(x))
    idx = stat.window_indices(4, 3, "shift")
    ref_y, ref_w = _np_sta(x, blk, idx)
    assert w.shape == (2, 4, 2, 17, 4 + 2 * 1 + 4)  # [B, n_t, H, 1+hw, CA + (t_o-1)·SA + LA]
    np.testing.assert_allclose(np.asarray(w), ref_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y), ref_y, rtol=1e-4, atol=1e-4)
    assert none is None
    np.testing.assert_allclose(np.asarray(fused), ref_y, rtol=1e-4, atol=1e-4)


def test_patch_tokens_reach_only_frames_whose_window_holds_them(model3):
    # Perturbing frame 3's patch tokens (not its CLS) changes frames 2, 3 (and none other with
    # t_o = 3, n_t = 4 'shift': windows 0:[1,2] 1:[0,2] 2:[1,3] 3:[1,2]).
    blk = model3.encoderblock_0
    x = jax.random.normal(jax.random.key(4), (1, 4, 17, 16))
    noise = jax.random.normal(jax.random.key(6), (1, 16, 16))  # Not constant: LN would cancel.
    # One compiled call: clean input, frame 3's patches perturbed, frame 3's CLS perturbed.
    xs = jnp.concatenate([x, x.at[:, 3, 1:].add(noise), x.at[:, 3, 0].add(noise[:, 0])])
    y0, y1, y2 = nnx.jit(lambda b, x: b(x)[0])(blk, xs)  # Frames never mix across the batch.
    changed = np.abs(np.asarray(y1 - y0)).max(axis=(1, 2)) > 1e-6
    assert changed.tolist() == [False, False, True, True]
    assert (np.abs(np.asarray(y2 - y0)).max(axis=(1, 2)) > 1e-6).all()  # CLS: every frame (LA).


def test_token_counts_after_each_stage(model3):
    video = jax.random.normal(jax.random.key(5), (2, 8, 32, 32, 3))
    model = model3
    assert nnx.eval_shape(lambda m, v: m.embedding(v), model, video).shape == (2, 4, 4, 4, 16)
    # One compile for both paths: with attention weights, and fused (what training runs).
    (logits, out), (fused, fused_out) = nnx.jit(
        lambda m, v: (m(v, return_attention=True), m(v)))(model, video)
    assert out["stage_shapes"] == [(2, 4, 17, 16), (2, 4, 5, 32), (2, 4, 2, 64)]
    assert model.token_counts == ((4, 17, 16), (4, 5, 32), (4, 2, 64))
    # Keys per query frame: CA (h·w / stride²) + (t_o − 1)·SA (CA / sa_pool²) + n_t CLS;
    # heads double with the width.
    assert [a.shape for a in out["attention"]] == [
        (2, 4, 2, 17, 2 * 2 + 2 * 1 + 4), (2, 4, 4, 5, 4 + 2 * 1 + 4), (2, 4, 8, 2, 1 + 2 + 4),
        (2, 8, 5, 5)]  # + temporal aggregation: video CLS ⊕ 4 frame CLS.
    for a in out["attention"]:
        np.testing.assert_allclose(np.asarray(a).sum(-1), 1.0, rtol=1e-5)
    assert logits.shape == (2, 5) and out["pre_logits"].shape == (2, 64)
    # The fused path (no weights materialised) computes the same logits.
    np.testing.assert_allclose(fused, logits, rtol=1e-5, atol=1e-5)
    assert "attention" not in fused_out


def _reference(model, video, **sizes):
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    return stat_reference.forward(params, np.asarray(video, np.float64), **sizes)


def test_logits_equal_the_numpy_reference(model3):
    """The whole model — stem, STA blocks over 3 stages, transitions, temporal aggregation,
    head — against `stat_reference`, plain numpy written from the paper."""
    video = jax.random.normal(jax.random.key(7), (2, 8, 32, 32, 3))
    logits, out = _forward(model3, video)
    ref, ref_pre = _reference(model3, video, depths=(1, 1, 1), kv_pool_strides=(2, 1, 1),
                              window=3)
    assert np.abs(ref).max() > 0.5  # Logits that say something (random head, not zeros).
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), ref_pre, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(logits), ref, rtol=1e-5, atol=1e-5)


def test_paper_sizes_at_224():
    # K400 T=16 at 224²: 8 × 28² tokens of width 192; K/V 7×7 at every stage, t_o = 3.
    cfg = default_model_config("stat")
    model = nnx.eval_shape(lambda: build_model(cfg, num_classes=400, input_shape=(16, 224, 224),
                                               rngs=nnx.Rngs(0)))
    assert model.window == 3 and model.grid == (8, 28, 28)
    assert model.token_counts == ((8, 785, 192), (8, 197, 384), (8, 50, 768))
    assert [model.stage_of_block.count(s) for s in range(3)] == [2, 11, 2]
    assert stat.resolve_window(cfg, 64, 32) == 7 and stat.resolve_window(cfg, 32, 16) == 5


def test_remat_does_not_change_gradients():
    video = jax.random.normal(jax.random.key(2), (2, 8, 16, 16, 3))
    # One stage of 2 blocks with 'avg' pooling: backward graphs compile slowly on CPU, and
    # depthwise-conv gradients are not what this tests. (Fused path: token-counts test.)
    kw = dict(drop_path=0.1, dropout=0.1, kv_pool="avg", depths=(2,), kv_pool_strides=(1,),
              ta_layers=0, stem_norm="none")
    base = make(tiny_cfg(**kw))
    remat = make(tiny_cfg(remat=True, **kw))
    nnx.update(remat, nnx.state(base, nnx.Param))

    def loss(model):
        return model(video, train=True, rngs=nnx.Rngs(dropout=0))[0].sum()

    grad = nnx.jit(nnx.grad(loss))
    g1, g2 = grad(base), grad(remat)
    leaves = jax.tree.leaves(g1)
    assert len(leaves) == len(jax.tree.leaves(g2)) and any(np.abs(a).max() > 0 for a in leaves)
    for a, b in zip(leaves, jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert [b.drop_path_rate for b in base.blocks()] == pytest.approx([0.0, 0.1])


def test_bf16_compute_keeps_fp32_params_and_avg_pool_head():
    # One stage (smallest graph): bf16 compiles slowly on CPU.
    model = make(tiny_cfg(ta_layers=0, depths=(1,), kv_pool_strides=(1,)), classes=3,
                 dtype=jnp.bfloat16)
    assert not hasattr(model, "TemporalAggregation")
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    video = jax.random.normal(jax.random.key(1), (2, 8, 16, 16, 3)).astype(jnp.bfloat16)
    logits, out = _forward(model, video)
    assert logits.dtype == jnp.bfloat16 and out["pre_logits"].dtype == jnp.bfloat16
    # l_ta = 0 (Table 4): pre-logits are the mean of the normed spatial CLS tokens; the
    # float64 reference of the same parameters and (bf16-rounded) clip, to bf16's ~3 digits.
    ref, ref_pre = _reference(model, np.asarray(video, np.float32), depths=(1,),
                              kv_pool_strides=(1,), window=3, ta_layers=0)
    for got, want in ((out["pre_logits"], ref_pre), (logits, ref)):
        np.testing.assert_allclose(np.asarray(got, np.float32), want,
                                   atol=0.03 * float(np.abs(want).max()))


def test_decode_variant():
    assert stat.decode_variant("B")["depths"] == (2, 11, 2)
    with pytest.raises(ValueError, match="model.variant='L'"):
        stat.decode_variant("L")


@pytest.mark.parametrize("kw, shape, needle", [
    ({}, (7, 16, 16), "dataset.num_frames=7 is not divisible by 2"),
    ({}, (8, 24, 24), "dataset.image_size=24 is not divisible by 16"),
    ({"window": 5}, (8, 16, 16), "model.window=5 is too large for n_t=4"),
    ({"window": 2}, (8, 16, 16), "model.window=2 must be odd"),
    ({"window": 0}, (8, 16, 16), "model.window=0 (paper's rule)"),
    ({"num_heads": 5}, (8, 16, 16), "hidden_size=16 is not divisible by model.num_heads=5"),
    ({"window_boundary": "edge"}, (8, 16, 16), "model.window_boundary='edge'"),
    ({"downsample": "pixel"}, (8, 16, 16), "model.downsample='pixel'"),
    ({"kv_pool_strides": (1,)}, (8, 16, 16), "model.kv_pool_strides=(1,) needs one stride"),
    ({"sa_pool": 0}, (8, 16, 16), "model.sa_pool=0 must be >= 1"),
    ({"kv_pool": "max"}, (8, 16, 16), "model.kv_pool='max'"),
])
def test_bad_config_values_are_named(kw, shape, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        make(tiny_cfg(**kw), shape=shape)
