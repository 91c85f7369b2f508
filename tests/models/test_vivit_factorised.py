"""ViViT Models 2-4: numpy references, reductions to a ViT at T = 1, the knobs, bad values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models.test_vivit import _ln, embed_tokens, make, mha, reference_encoder, tiny_cfg

FE, FSA, FDP = "factorised_encoder", "factorised_self_attention", "factorised_dot_product"
SHAPE = (4, 8, 8)  # Ti/4x2 tubelets 2×4×4 → t = 2 temporal indices × s = 4 positions.
TUBELET = (2, 4, 4)


def video(shape=SHAPE, b=2, seed=1):
    return np.asarray(jax.random.normal(jax.random.key(seed), (b, *shape, 3)))


def params_of(model):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def masks(t, s):
    """Time-major token n = (ti, si): keys in the same frame / at the same position."""
    ti, si = np.divmod(np.arange(t * s), s)
    return ti[:, None] == ti[None], si[:, None] == si[None]


def reference_factorised(p, x, model_type, order, grid, pool="gap"):
    """Models 3-4 written as *masked* joint attention: independent of the reshapes in the code."""
    same_t, same_s = masks(*grid)
    tr = p["Transformer"]
    x = x + tr["posembed_input"]["pos_embedding"]

    def fsa(x, blk):
        for axis in order:
            ln, a, m = (("LayerNorm_0", "MultiHeadDotProductAttention_1", same_t)
                        if axis == "space" else
                        ("LayerNorm_temporal", "MultiHeadDotProductAttention_temporal", same_s))
            x = x + mha(_ln(x, blk[ln]), blk[a], m)
        return x

    def fdp(x, blk):
        heads = blk["MultiHeadDotProductAttention_1"]["query"]["kernel"].shape[1]
        first, second = (same_t, same_s) if order[0] == "space" else (same_s, same_t)
        per_head = np.stack([first] * (heads // 2) + [second] * (heads // 2))
        return x + mha(_ln(x, blk["LayerNorm_0"]), blk["MultiHeadDotProductAttention_1"], per_head)

    x = reference_encoder(x, tr, attention=fsa if model_type == FSA else fdp)
    x = x.mean(1) if pool == "gap" else x.max(1)
    return x @ p["head"]["kernel"] + p["head"]["bias"]


@pytest.mark.parametrize("model_type", [FSA, FDP])
def test_models_3_4_match_masked_attention_reference(model_type):
    v = video()
    first = make(tiny_cfg(model_type=model_type, attention_order="space_time"))
    p = params_of(first)
    x = embed_tokens(p, v, TUBELET)
    logits = {}
    for order, axes in (("space_time", ("space", "time")), ("time_space", ("time", "space"))):
        model = make(tiny_cfg(model_type=model_type, attention_order=order))
        nnx.update(model, nnx.state(first, nnx.Param))  # Same parameters, other order.
        logits[order], out = model(jnp.asarray(v))
        ref = reference_factorised(p, x, model_type, axes, (2, 4))
        np.testing.assert_allclose(np.asarray(logits[order]), ref, rtol=2e-4, atol=2e-4)
    assert out["grid"] == (2, 2, 2) and not hasattr(model, "cls")
    # The order switch is live: same parameters, other logits.
    assert np.abs(np.asarray(logits["space_time"] - logits["time_space"])).max() > 1e-3
    # Global max pooling readout (Scenic's 'gmp').
    gmp = make(tiny_cfg(model_type=model_type, classifier="gmp"))
    nnx.update(gmp, nnx.state(first, nnx.Param))
    ref = reference_factorised(p, x, model_type, ("space", "time"), (2, 4), pool="gmp")
    np.testing.assert_allclose(np.asarray(gmp(jnp.asarray(v))[0]), ref, rtol=2e-4, atol=2e-4)


def test_model2_matches_reference_and_is_a_vit_per_frame():
    model = make(tiny_cfg(model_type=FE, temporal_layers=2))
    v = video()
    logits, out = model(jnp.asarray(v))
    p = params_of(model)
    x = embed_tokens(p, v, TUBELET).reshape(2, 2, 4, 32)  # [B, t, s, D]
    frames = []
    for i in range(2):  # The spatial encoder sees one temporal index at a time.
        xi = np.concatenate([np.broadcast_to(p["cls"], (2, 1, 32)), x[:, i]], 1)
        tr = p["Transformer"]
        frames.append(reference_encoder(xi + tr["posembed_input"]["pos_embedding"], tr)[:, 0])
    z = np.concatenate([np.broadcast_to(p["cls_temporal"], (2, 1, 32)), np.stack(frames, 1)], 1)
    tt = p["TemporalTransformer"]
    z = reference_encoder(z + tt["posembed_input"]["pos_embedding"], tt)[:, 0]
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), z, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(np.asarray(logits), z @ p["head"]["kernel"] + p["head"]["bias"],
                               rtol=2e-4, atol=2e-4)
    assert p["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 5, 32)
    assert p["TemporalTransformer"]["posembed_input"]["pos_embedding"].shape == (1, 3, 32)


@pytest.mark.parametrize("model_type, kw", [
    (FE, dict(temporal_layers=0, classifier="token")),  # Average-pool baseline.
    (FSA, dict(temporal_attention_init="zero", classifier="gap")),
])
def test_one_frame_reduces_to_vit(model_type, kw):
    # T = 1 frame, t = 1 patches: Model 2's baseline and a zero-init Model 3 are Model 1 (= a ViT
    # on the frame) with the same parameters.
    cfg = dict(variant="Ti/4", classifier=kw["classifier"])
    vit = make(tiny_cfg(**cfg), shape=(1, 8, 8))
    model = make(tiny_cfg(model_type=model_type, **{**cfg, **kw}), shape=(1, 8, 8), seed=3)
    nnx.update(model, nnx.state(vit, nnx.Param))
    v = jnp.asarray(video((1, 8, 8)))
    np.testing.assert_allclose(model(v)[0], vit(v)[0], rtol=1e-5, atol=1e-5)


def test_model3_temporal_init():
    copy = make(tiny_cfg(model_type=FSA))
    zero = make(tiny_cfg(model_type=FSA, temporal_attention_init="zero"))
    b = params_of(copy)["Transformer"]["encoderblock_1"]
    jax.tree.map(np.testing.assert_array_equal, b["MultiHeadDotProductAttention_temporal"],
                 b["MultiHeadDotProductAttention_1"])
    z = params_of(zero)["Transformer"]["encoderblock_1"]["MultiHeadDotProductAttention_temporal"]
    assert not z["out"]["kernel"].any() and z["query"]["kernel"].std() > 0
    # Copied values are not tied Variables: training one leaves the other.
    blk = copy.Transformer.encoderblock_1
    blk.MultiHeadDotProductAttention_temporal.query.kernel[...] += 1.0
    assert not np.allclose(blk.MultiHeadDotProductAttention_1.query.kernel[...],
                           blk.MultiHeadDotProductAttention_temporal.query.kernel[...])


@pytest.mark.parametrize("model_type", [FE, FSA, FDP])
def test_attention_maps_and_bf16(model_type):
    v = jnp.asarray(video())
    base = make(tiny_cfg(model_type=model_type, temporal_layers=1))
    fused, _ = base(v)
    explicit, out = base(v, return_attention=True)
    np.testing.assert_allclose(fused, explicit, rtol=1e-5, atol=1e-5)
    att = out["attention"]
    n_sp = 1 + 4 if model_type == FE else 4
    heads = 2 if model_type == FDP else 4
    assert att["spatial"][0].shape == (2, 2, heads, n_sp, n_sp) and len(att["spatial"]) == 2
    tshape = (2, heads, 3, 3) if model_type == FE else (2, 4, heads, 2, 2)
    assert att["temporal"][0].shape == tshape
    for w in att["spatial"] + att["temporal"]:
        np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)

    if model_type != FSA:  # bf16 once, on the model with the most new modules (CPU time).
        return
    from vivit_jax.models import build_model

    bf16 = build_model(tiny_cfg(model_type=model_type, temporal_layers=1), num_classes=5,
                       input_shape=SHAPE, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    nnx.update(bf16, nnx.state(base, nnx.Param))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(bf16, nnx.Param)))
    low = bf16(v.astype(jnp.bfloat16))[0]
    assert low.dtype == jnp.bfloat16
    # bf16 keeps ~3 significant digits; the randomised head makes logits of size ~5.
    np.testing.assert_allclose(np.asarray(low, np.float32), fused,
                               atol=0.05 * float(np.abs(fused).max()))


def test_remat_does_not_change_gradients():
    # Model 3's block has its own __call__ (three sub-layers); Models 1, 2, 4 share Model 1's.
    v = jnp.asarray(video())
    base = make(tiny_cfg(model_type=FSA))
    remat = make(tiny_cfg(model_type=FSA, remat=True))
    nnx.update(remat, nnx.state(base, nnx.Param))
    # Jitted: compiling the backward once is cheaper than running it op by op.
    grad = nnx.jit(nnx.grad(lambda m: m(v, train=True, rngs=nnx.Rngs(dropout=0))[0].sum()))
    for a, b in zip(jax.tree.leaves(grad(base)), jax.tree.leaves(grad(remat))):
        # Recomputation changes only XLA's fusion and rounding order: float32 round-off of
        # a few ulps of the tensor's largest entry (gradients reach ~2.6 here).
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(b).max())))


def test_dropout_and_drop_path_schedules():
    m = make(tiny_cfg(model_type=FE, temporal_layers=3, num_layers=2, drop_path=0.2,
                      dropout=0.5))
    assert [b.drop_path_rate for b in m.Transformer.blocks()] == pytest.approx([0.0, 0.2])
    assert [b.drop_path_rate for b in m.TemporalTransformer.blocks()] == pytest.approx(
        [0.0, 0.1, 0.2])
    blocks = m.Transformer.blocks() + m.TemporalTransformer.blocks()
    assert {b.dropout.rate for b in blocks} == {b.MlpBlock_3.dropout.rate for b in blocks} == {0.5}


def test_frame_tokenizer_is_per_frame_patches():
    m = make(tiny_cfg(model_type=FE, variant="Ti/4", tokenizer="frame", temporal_layers=1))
    assert m.embedding.conv.kernel.shape == (1, 4, 4, 3, 32)
    _, out = m(jnp.asarray(video()), return_attention=True)
    assert out["grid"] == (4, 2, 2)  # Every frame is a temporal index.
    assert out["attention"]["temporal"][0].shape == (2, 4, 5, 5)


@pytest.mark.parametrize("kw, needle", [
    (dict(model_type="joint"), "model.model_type='joint'"),
    (dict(tokenizer="patch"), "model.tokenizer='patch'"),
    (dict(tokenizer="frame"), "model.tokenizer='frame' embeds single frames but model.variant"),
    (dict(model_type=FSA, classifier="token"), "model.classifier='token' is not available"),
    (dict(model_type=FDP, classifier="token"), "model.classifier='token' is not available"),
    (dict(model_type=FDP, num_heads=1, hidden_size=32), "model.num_heads=1 must be even"),
    (dict(model_type=FE, temporal_classifier="cls"), "model.temporal_classifier='cls'"),
    (dict(model_type=FE, temporal_layers=-1), "model.temporal_layers=-1 must be >= 0"),
    (dict(model_type=FSA, attention_order="st"), "model.attention_order='st'"),
    (dict(model_type=FSA, temporal_attention_init="ones"),
     "model.temporal_attention_init='ones'"),
])
def test_bad_config_values_are_named(kw, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        make(tiny_cfg(**kw))


def test_scan_over_layers_equals_loop():
    # `model.scan` stacks the blocks ([L, …] under `encoderblock`); same function as the loop.
    from vivit_jax.models import layers

    loop = make(tiny_cfg(model_type=FSA))
    scanned = make(tiny_cfg(model_type=FSA, scan=True))
    p = nnx.to_pure_dict(nnx.state(loop, nnx.Param))
    p["Transformer"] = layers.stack_blocks(p["Transformer"], 2)
    nnx.update(scanned, p)
    v = jnp.asarray(video())
    (a, oa), (b, ob) = loop(v, return_attention=True), scanned(v, return_attention=True)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for x, y in zip(jax.tree.leaves(oa["attention"]), jax.tree.leaves(ob["attention"])):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_temporal_posemb_std_scales_only_the_temporal_encoders_embedding():
    """Model 2's temporal position embedding is drawn with `temporal_posemb_std`; the spatial
    one keeps ViT's 0.02, and the default leaves both at 0.02."""
    shape = (16, 8, 8)  # 8 temporal indices: enough draws for a std estimate.
    base = make(tiny_cfg(model_type=FE), shape=shape)
    wide = make(tiny_cfg(model_type=FE, temporal_posemb_std=1.0), shape=shape)
    temporal = lambda m: np.asarray(m.TemporalTransformer.posembed_input.pos_embedding[...])
    spatial = lambda m: np.asarray(m.Transformer.posembed_input.pos_embedding[...])
    np.testing.assert_allclose(temporal(wide), 50.0 * temporal(base), rtol=1e-5)
    np.testing.assert_array_equal(spatial(wide), spatial(base))
    assert 0.8 < temporal(wide).std() < 1.2 and 0.015 < spatial(base).std() < 0.025
