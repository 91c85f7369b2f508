"""VidTr: separable attention equals numpy; topK_std keeps the right rows; pooling schedule."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models.test_layers import assert_scan_matches_loop
from tests.models.test_vivit import _gelu, _ln
from vivit_jax.models import build_model, default_model_config, vidtr


def tiny_cfg(**kw):
    c = default_model_config("vidtr")
    c.update(dict(variant="Ti/4", hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64))
    c.update(kw)
    return c


def make(cfg, shape=(4, 8, 8), classes=5, seed=0):
    model = build_model(cfg, num_classes=classes, input_shape=shape, rngs=nnx.Rngs(seed))
    model.head.kernel[...] = jax.random.normal(jax.random.key(9), model.head.kernel.shape)
    return model


@partial(nnx.jit, static_argnames=("return_attention",))
def fwd(model, v, return_attention=False):
    """Jitted forward: one compile per model structure and shape, far cheaper than eager ops."""
    return model(v, return_attention=return_attention)


@nnx.jit
def grads(model, v):
    """Gradients of the summed logits in training mode (dropout 0)."""
    return nnx.grad(lambda m: m(v, train=True, rngs=nnx.Rngs(dropout=0))[0].sum())(model)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_block(p, x):
    """Numpy separable block on `x [B, T+1, S+1, D]`, written from the paper's Eqs. 2-4."""
    p = jax.tree.map(np.asarray, p)
    a = p["MultiHeadDotProductAttention_1"]
    y = _ln(x, p["LayerNorm_0"])
    q, k, v = (np.einsum("btsd,dhk->btshk", y, a[n]["kernel"]) + a[n]["bias"]
               for n in ("query", "key", "value"))
    scale = 1 / np.sqrt(q.shape[-1])
    out_t = np.zeros_like(v)
    for s in range(x.shape[2]):  # Temporal attention at every spatial position.
        w = _softmax(np.einsum("bqhk,bmhk->bhqm", q[:, :, s], k[:, :, s]) * scale)
        out_t[:, :, s] = np.einsum("bhqm,bmhk->bqhk", w, v[:, :, s])
    out_s = np.zeros_like(v)
    for t in range(x.shape[1]):  # Spatial attention in every temporal row, V = temporal out.
        w = _softmax(np.einsum("bqhk,bmhk->bhqm", q[:, t], k[:, t]) * scale)
        out_s[:, t] = np.einsum("bhqm,bmhk->bqhk", w, out_t[:, t])
    x = x + np.einsum("btshk,hkd->btsd", out_s, a["out"]["kernel"]) + a["out"]["bias"]
    m = p["MlpBlock_3"]
    y = _gelu(_ln(x, p["LayerNorm_2"]) @ m["Dense_0"]["kernel"] + m["Dense_0"]["bias"])
    return x + y @ m["Dense_1"]["kernel"] + m["Dense_1"]["bias"]


def test_separable_attention_equals_numpy():
    model = make(tiny_cfg())
    v = jax.random.normal(jax.random.key(1), (2, 4, 8, 8, 3))
    grid = nnx.jit(lambda m, v: m.tokens(v))(model, v)
    assert grid.shape == (2, 5, 5, 32)  # (T+1) × (HW+1)
    p = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    x = np.asarray(grid)
    for i in range(2):
        x = reference_block(p["Transformer"][f"encoderblock_{i}"], x)
    x = _ln(x[:, 0, 0], jax.tree.map(np.asarray, p["Transformer"]["encoder_norm"]))
    ref = x @ np.asarray(p["head"]["kernel"]) + np.asarray(p["head"]["bias"])
    logits, out = fwd(model, v)
    # Loose end to end: XLA's float32 erf (exact GELU) differs from math.erf by ~1e-4 per
    # MLP; the attention itself is checked tightly below.
    np.testing.assert_allclose(np.asarray(logits), ref, rtol=1e-3, atol=5e-3)
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), x, rtol=1e-3, atol=1e-3)
    # The separable attention sub-layer alone, against the numpy one, tightly.
    blk = model.Transformer.encoderblock_0
    no_mlp = jax.tree.map(np.asarray, p["Transformer"]["encoderblock_0"])
    for name in ("Dense_0", "Dense_1"):
        no_mlp["MlpBlock_3"][name] = jax.tree.map(np.zeros_like, no_mlp["MlpBlock_3"][name])
    want = reference_block(no_mlp, np.asarray(grid, np.float64)) - np.asarray(grid)
    got = nnx.jit(lambda b, g: b.separable_attention(b.LayerNorm_0(g))[0])(blk, grid)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_topk_std_keeps_largest_std_rows_in_order_and_cls():
    flat = np.full(5, 0.2)
    peaked = lambda i, p: np.where(np.arange(5) == i, p, (1 - p) / 4)
    rows = np.stack([peaked(0, 1.0),  # CLS row: largest std, but always kept anyway.
                     flat,  # frame 1: std 0
                     peaked(2, 0.9),  # frame 2: largest
                     peaked(1, 0.3),  # frame 3: small
                     peaked(4, 0.6)])  # frame 4: second
    w = jnp.asarray(np.stack([rows, rows])[None, None])  # [B=1, S=1, H=2, 5, 5]
    np.testing.assert_array_equal(vidtr.topk_std_rows(w, 2)[0, 0], [0, 2, 4])
    np.testing.assert_array_equal(vidtr.topk_std_rows(w, 3)[0, 0], [0, 2, 3, 4])
    # Heads are averaged: a second head that prefers frame 1 strongly can win it a place.
    rows2 = rows.copy()
    rows2[1] = peaked(1, 1.0)
    w2 = jnp.asarray(np.stack([rows, rows2])[None, None])
    np.testing.assert_array_equal(vidtr.topk_std_rows(w2, 2)[0, 0], [0, 1, 2])


def test_second_softmax_differs_as_specified():
    cfg = dict(num_layers=1, pool_layers=(0,), pool_drop=2)
    plain = make(tiny_cfg(num_layers=1), seed=0)  # No pooling: the full temporal attention matrix.
    paper = make(tiny_cfg(**cfg), seed=0)
    official = make(tiny_cfg(**cfg, topk_second_softmax=True), seed=0)
    v = jax.random.normal(jax.random.key(1), (2, 4, 8, 8, 3))
    full = nnx.jit(lambda m, v: m.Transformer.encoderblock_0.separable_attention(
        m.Transformer.encoderblock_0.LayerNorm_0(m.tokens(v)), return_weights=True)[1])(plain, v)
    lp, op = fwd(paper, v, return_attention=True)
    lo, oo = fwd(official, v, return_attention=True)
    kept = op["attention"][0]["kept"]
    np.testing.assert_array_equal(kept, vidtr.topk_std_rows(full["temporal"], 2))
    np.testing.assert_array_equal(kept[..., 0], 0)
    wp = np.asarray(op["attention"][0]["temporal"])  # [B, S+1, H, 3, 5]
    want = np.take_along_axis(np.asarray(full["temporal"]),
                              np.asarray(kept)[:, :, None, :, None], axis=3)
    np.testing.assert_allclose(wp, want, rtol=1e-6)  # Paper: kept rows, unchanged.
    np.testing.assert_allclose(np.asarray(oo["attention"][0]["temporal"]), _softmax(wp),
                               rtol=1e-5)  # Official: softmax of the kept rows.
    assert np.abs(np.asarray(lp - lo)).max() > 1e-4
    assert int(op["frames"]) == 2


@pytest.mark.parametrize("pool_type", ["avg", "conv", "topk_std"])
def test_pooling_schedule_8_6_4_2(pool_type):
    cfg = tiny_cfg(num_layers=6, pool_layers=(1, 3, 5), pool_drop=2, pool_type=pool_type)
    model = make(cfg, shape=(8, 4, 4))
    v = jax.random.normal(jax.random.key(1), (1, 8, 4, 4, 3))
    logits, out = fwd(model, v, return_attention=True)
    rows = [w["temporal"].shape[-2] - 1 for w in out["attention"]]
    assert rows == [8, 6, 6, 4, 4, 2] and int(out["frames"]) == 2
    if pool_type == "conv":  # Initialised to the window average: equals avg pooling.
        avg = make(tiny_cfg(num_layers=6, pool_layers=(1, 3, 5), pool_type="avg"), (8, 4, 4))
        nnx.update(model, nnx.state(avg, nnx.Param))  # All but the conv kernels.
        # return_attention=True: reuses the compiles above (here and in the avg case).
        np.testing.assert_allclose(fwd(model, v, return_attention=True)[0],
                                   fwd(avg, v, return_attention=True)[0], rtol=1e-5, atol=1e-5)


def test_pool_windows_and_average():
    assert vidtr.pool_windows(8, 2) == (3, 1)  # 8 → 6
    assert vidtr.pool_windows(4, 2) == (2, 2)  # 4 → 2: the paper's kernel-2 stride-2
    assert vidtr.pool_windows(16, 8) == (2, 2)
    blk = make(tiny_cfg(num_layers=1, pool_layers=(0,), pool_type="avg"), (4, 4, 4))
    blk = blk.Transformer.encoderblock_0
    x = jnp.arange(5.0)[None, None, :, None]  # [B, S, T+1, D]: CLS 0, frames 1..4.
    np.testing.assert_allclose(blk._avg_frames(x)[0, 0, :, 0], [0.0, 1.5, 3.5])


def test_remat_does_not_change_gradients():
    v = jax.random.normal(jax.random.key(2), (2, 4, 8, 8, 3))
    kw = dict(num_layers=1, pool_layers=(0,), pool_drop=2)  # One pooling block: one compile.
    base, remat = make(tiny_cfg(**kw)), make(tiny_cfg(remat=True, **kw))
    nnx.update(remat, nnx.state(base, nnx.Param))

    for a, b in zip(jax.tree.leaves(grads(base, v)), jax.tree.leaves(grads(remat, v))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # Float rounding only.


@pytest.mark.parametrize("kw, needle", [
    (dict(num_layers=6, pool_layers=(1, 3, 5), pool_drop=4), "model.pool_drop=4"),
    (dict(pool_layers=(0,), pool_type="max"), "model.pool_type='max'"),
    (dict(pool_layers=(7,)), "model.pool_layers=(7,)"),
    (dict(classifier="corner"), "model.classifier='corner'"),
])
def test_bad_config_values_are_named(kw, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.").replace("(", r"\(")
                       .replace(")", r"\)")):
        make(tiny_cfg(**kw), shape=(8, 4, 4))


def test_scan_equals_the_layer_loop_and_refuses_pool_layers():
    """`model.scan` (plain VidTr): same logits and gradients as the loop; C-VidTr refused."""
    v = jax.random.normal(jax.random.key(2), (2, 4, 8, 8, 3))
    loop, scanned = make(tiny_cfg()), make(tiny_cfg(scan=True, remat=True))
    assert_scan_matches_loop(loop, scanned, v, fwd, grads)
    with pytest.raises(ValueError, match="model.scan=True needs identical layers"):
        make(tiny_cfg(scan=True, pool_layers=(0,), pool_drop=2))


@pytest.mark.parametrize("classifier", ["gap", "gmp"])
def test_pooled_readouts_read_the_normed_patch_grid(classifier, monkeypatch):
    """'token' reads the normed corner token of the final grid; 'gap' / 'gmp' the mean / max
    of its normed patch tokens (rows 1.., columns 1..); same parameters, same encoder."""
    from vivit_jax.models import layers

    token, pooled = make(tiny_cfg()), make(tiny_cfg(classifier=classifier))
    nnx.update(pooled, nnx.state(token, nnx.Param))
    seen = []
    run = layers.Encoder.run_blocks

    def spy(self, *a, **k):  # Records the final grid [B, T+1, S+1, D] before encoder_norm.
        x, w = run(self, *a, **k)
        seen.append(x)
        return x, w

    monkeypatch.setattr(layers.Encoder, "run_blocks", spy)
    v = jax.random.normal(jax.random.key(3), (2, 4, 8, 8, 3))
    _, out_token = token(v)
    logits, out_pooled = pooled(v)
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-6)
    normed = token.Transformer.encoder_norm(seen[0])
    np.testing.assert_allclose(out_token["pre_logits"], normed[:, 0, 0], rtol=1e-5, atol=1e-6)
    patches = normed[:, 1:, 1:]
    want = patches.mean((1, 2)) if classifier == "gap" else patches.max((1, 2))
    np.testing.assert_allclose(out_pooled["pre_logits"], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(want, normed[:, 0, 0], atol=1e-3)
    np.testing.assert_allclose(logits, want @ pooled.head.kernel[...] + pooled.head.bias[...],
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# model.reference='gluonmm' (vidtr_gluonmm.py): the official code's structure. Logit parity
# with the official code itself: tests/convert/test_gluonmm.py.
# ---------------------------------------------------------------------------------------
def gluonmm_cfg(**kw):
    return tiny_cfg(reference="gluonmm", hidden_size=16, num_heads=2, mlp_dim=32, **kw)


def test_gluonmm_cvidtr_m_schedule_per_head_pooling_then_joint_attention():
    """C-VidTr-M: pool at layers 1, 2, 4 dropping 8, 4, 2 frames (16 → 8 → 4 → 2), each head
    keeping its own frames with a second softmax; every layer after layer 4 is joint."""
    from vivit_jax.models import vidtr_gluonmm
    cfg = gluonmm_cfg(num_layers=6, pool_layers=(1, 2, 4), pool_drop=(8, 4, 2))
    model = make(cfg, shape=(16, 8, 8))
    assert type(model) is vidtr_gluonmm.VidTrGluonmm and isinstance(model, vidtr.VidTr)
    assert [(b.kind, b.num_frames, b.drop) for b in model.blocks()] == [
        ("pooled", 16, 0), ("pooled", 16, 8), ("pooled", 8, 4), ("pooled", 4, 0),
        ("pooled", 4, 2), ("joint", 2, 0)]
    v = jax.random.normal(jax.random.key(1), (1, 16, 8, 8, 3))
    _, out = fwd(model, v, return_attention=True)
    att = out["attention"]
    assert [a["temporal"].shape for a in att[:5]] == [  # [B, S, H, τ, T]
        (1, 4, 2, 16, 16), (1, 4, 2, 8, 16), (1, 4, 2, 4, 8), (1, 4, 2, 4, 4), (1, 4, 2, 2, 4)]
    assert att[5]["joint"].shape == (1, 2, 9, 9) and int(out["frames"]) == 2  # CLS + 2·4.
    kept = np.asarray(att[1]["kept"])  # [B, S, H, 8], temporal order, per head.
    assert kept.shape == (1, 4, 2, 8) and (np.diff(kept, axis=-1) > 0).all()
    assert (kept[:, :, 0] != kept[:, :, 1]).any()  # The heads choose differently.
    w = np.asarray(att[1]["temporal"])  # Softmax of probabilities: max / min <= e per row.
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)
    assert (w.max(-1) / w.min(-1) <= np.e * (1 + 1e-5)).all()


def test_gluonmm_cls_passes_its_normed_input_and_residual_follows_each_head():
    cfg = gluonmm_cfg(num_layers=2, pool_layers=(0,), pool_drop=2)
    blk = make(cfg, shape=(4, 8, 8)).blocks()[0]
    y = jax.random.normal(jax.random.key(2), (2, 1 + 4 * 4, 16))  # CLS + T=4 × S=4.
    out, _, kept = nnx.jit(lambda b, y: b.pooled_attention(y))(blk, y)
    assert out.shape == (2, 1 + 2 * 4, 16)
    np.testing.assert_array_equal(out[:, 0], y[:, 0])  # The CLS's attention output.
    x = np.arange(2 * 17 * 16, dtype=np.float32).reshape(2, 17, 16)
    res = np.asarray(blk._keep_residual(jnp.asarray(x), kept, 2))
    kept = np.asarray(kept)  # [B, S, H, 2]
    for b, s, h, j in np.ndindex(2, 4, 2, 2):  # Head h's 8 channels come from its frame.
        f = kept[b, s, h, j]
        np.testing.assert_array_equal(res[b, 1 + j * 4 + s, h * 8:(h + 1) * 8],
                                      x[b, 1 + f * 4 + s, h * 8:(h + 1) * 8])
    np.testing.assert_array_equal(res[:, 0], x[:, 0])


@pytest.mark.parametrize("kw, frames, uses", [
    (dict(), 8, [True, False, False]),  # Layer 0 only.
    (dict(), 16, [True, True, True]),  # The official rule: a 16-frame VidTr, every layer.
    (dict(pool_layers=(1,), pool_drop=8), 16, [True, False, False]),  # C-VidTr: layer 0.
    (dict(posemb_layers="first"), 16, [True, False, False]),
    (dict(posemb_layers="all"), 8, [True, True, True]),
])
def test_gluonmm_position_embedding_layers(kw, frames, uses):
    from vivit_jax.models import vidtr_gluonmm
    plan = vidtr_gluonmm.layer_plan(gluonmm_cfg(num_layers=3, **kw), frames, 3)
    assert [p["use_pos"] for p in plan] == uses
    assert [p["kind"] for p in plan] == (["pooled", "pooled", "joint"] if "pool_layers" in kw
                                         else ["separable"] * 3)


def test_pool_drop_per_layer_in_both_readings():
    assert vidtr.frame_schedule(16, 6, (1, 2, 4), (8, 4, 2)) == [16, 16, 8, 4, 4, 2]
    assert vidtr.frame_schedule(8, 4, (1, 3), None) == [8, 8, 6, 6]  # None: 2 per layer.
    model = make(tiny_cfg(num_layers=3, pool_layers=(0, 1), pool_drop=(4, 2)), (8, 4, 4))
    _, out = fwd(model, jnp.zeros((1, 8, 4, 4, 3)), return_attention=True)
    assert [w["temporal"].shape[-2] - 1 for w in out["attention"]] == [4, 2, 2]
    with pytest.raises(ValueError, match=r"model\.pool_drop=\(4,\): expected one value per"):
        vidtr.pool_drops((0, 1), (4,))


@pytest.mark.parametrize("kw, needle", [
    (dict(reference="official"), "model.reference='official'"),
    (dict(reference="gluonmm", pool_layers=(0,), pool_type="avg"), "model.pool_type='avg'"),
    (dict(reference="gluonmm", pool_layers=(1, 0)), r"model.pool_layers=(1, 0)"),
    (dict(reference="gluonmm", classifier="gap"), "model.classifier='gap'"),
    (dict(reference="gluonmm", posemb_layers="some"), "model.posemb_layers='some'"),
])
def test_gluonmm_bad_values_are_named(kw, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.").replace("(", r"\(")
                       .replace(")", r"\)")):
        make(tiny_cfg(**kw), shape=(8, 4, 4))
