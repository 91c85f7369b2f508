"""TimeSformer: space-only = per-frame ViTs, joint at T=1 is a ViT, embeddings interpolate,
knobs."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models.test_layers import assert_scan_matches_loop
from tests.models.test_vivit import reference_forward
from vivit_jax.models import build_model, default_model_config, timesformer


def tiny_cfg(**kw):
    c = default_model_config("timesformer")
    c.update(dict(variant="Ti/4", hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64))
    c.update(kw)
    return c


def make(cfg, shape=(4, 8, 8), classes=5, seed=0):
    model = build_model(cfg, num_classes=classes, input_shape=shape, rngs=nnx.Rngs(seed))
    # The head is zero-initialised (ViT fine-tuning practice); randomise it for the tests.
    model.head.kernel[...] = jax.random.normal(jax.random.key(9), model.head.kernel.shape)
    return model


@partial(nnx.jit, static_argnames=("return_attention",))
def fwd(model, v, return_attention=False):
    """Jitted forward: one compile per model structure and shape, far cheaper than eager ops."""
    return model(v, return_attention=return_attention)  # out["grid"] comes back as arrays.


@nnx.jit
def grads(model, v):
    """Gradients of the summed logits in training mode (dropout 0)."""
    return nnx.grad(lambda m: m(v, train=True, rngs=nnx.Rngs(dropout=0))[0].sum())(model)


def pure(model):
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def video(shape=(2, 4, 8, 8), seed=1):
    return jax.random.normal(jax.random.key(seed), shape + (3,))


def _copy_shared(src, dst):
    """Loads into `dst` every parameter of `src` that `dst` also has (same path and shape)."""
    def take(d, s):
        return {k: take(v, s[k]) if isinstance(v, dict)
                else (s[k] if k in s and s[k].shape == v.shape else v) for k, v in d.items()}
    state = nnx.state(dst, nnx.Param)
    nnx.replace_by_pure_dict(state, take(nnx.to_pure_dict(state), pure(src)))
    nnx.update(dst, state)


def _layer_norm(x, p, eps=1e-6):
    x = np.asarray(x, np.float64)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * np.asarray(p["scale"]) + np.asarray(p["bias"])


def test_space_only_runs_every_frame_as_an_independent_vit():
    """Official "Space" model: frames never see each other; mean over frames, norm, CLS."""
    space = make(tiny_cfg(attention_type="space_only"))
    v = video()
    logits, out = fwd(space, v)
    frames = np.asarray(out["frame_tokens"])
    assert frames.shape == (2, 4, 5, 32)  # [B, T, 1+N, D]: every frame its own CLS.
    # Changing frame 2 leaves every other frame's final tokens bit for bit untouched.
    _, out2 = fwd(space, v.at[:, 2].add(1.0))
    frames2 = np.asarray(out2["frame_tokens"])
    np.testing.assert_array_equal(np.delete(frames2, 2, axis=1), np.delete(frames, 2, axis=1))
    assert np.abs(frames2[:, 2] - frames[:, 2]).min() > 0.0
    # Readout order of the official forward_features: mean over frames, then norm, then CLS.
    p = pure(space)
    cls = _layer_norm(frames.mean(1), p["Transformer"]["encoder_norm"])[:, 0]
    want = cls @ np.asarray(p["head"]["kernel"]) + np.asarray(p["head"]["bias"])
    np.testing.assert_allclose(np.asarray(logits), want, rtol=1e-4, atol=1e-4)
    # Attention maps per frame, in the divided block's 'spatial' layout (rollout reads it).
    w = fwd(space, v, return_attention=True)[1]["attention"][0]["spatial"]
    assert w.shape == (2, 4, 4, 5, 5)  # [B, T, H, 1+N, 1+N]
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)
    # Each frame alone is the ViT of that frame (the independent numpy ViT, erf GELU).
    one = np.asarray(v[:, 1:2])
    ref = reference_forward(p, one, (1, 4, 4), approximate=False)
    np.testing.assert_allclose(np.asarray(fwd(space, jnp.asarray(one))[0]), ref, rtol=2e-4,
                               atol=2e-4)


def test_divided_equals_space_only_on_one_frame_only():
    """Zero temporal_fc and time_embed: divided = space-only for T=1; for T>1 the divided
    block's one CLS (averaged over frames in every block) mixes the frames."""
    divided = make(tiny_cfg())
    space = make(tiny_cfg(attention_type="space_only"), seed=3)
    _copy_shared(divided, space)
    blk = divided.Transformer.encoderblock_0
    assert float(jnp.abs(blk.temporal_fc.kernel[...]).max()) == 0.0  # Zero-initialised.
    assert float(jnp.abs(blk.temporal_attn.query.kernel[...]).max()) > 0.0
    one = video((2, 1, 8, 8))
    np.testing.assert_allclose(fwd(divided, one)[0], fwd(space, one)[0], rtol=1e-5, atol=1e-5)
    v = video()
    assert np.abs(np.asarray(fwd(divided, v)[0] - fwd(space, v)[0])).max() > 1e-3


def test_space_only_cannot_see_frame_order():
    v = video()
    perm = v[:, ::-1]
    space = make(tiny_cfg(attention_type="space_only"))
    np.testing.assert_allclose(fwd(space, v)[0], fwd(space, perm)[0], rtol=1e-5, atol=1e-5)
    assert not hasattr(space, "time_embed")
    for kind in ("divided_space_time", "joint_space_time"):
        m = make(tiny_cfg(attention_type=kind))
        m.time_embed[...] = jax.random.normal(jax.random.key(5), m.time_embed.shape)
        assert np.abs(np.asarray(fwd(m, v)[0] - fwd(m, perm)[0])).max() > 1e-3


def test_joint_with_one_frame_equals_vit():
    model = make(tiny_cfg(attention_type="joint_space_time"), shape=(1, 8, 8))
    v = np.asarray(video((2, 1, 8, 8)))
    logits, out = fwd(model, jnp.asarray(v))
    ref = reference_forward(pure(model), v, (1, 4, 4), approximate=False)  # numpy ViT.
    np.testing.assert_allclose(np.asarray(logits), ref, rtol=2e-4, atol=2e-4)
    assert out["pre_logits"].shape == (2, 32)


def test_approximate_gelu_switches_to_tanh():
    """Default erf GELU (official / HF 'gelu'); `approximate_gelu=True` the tanh form."""
    model = make(tiny_cfg(attention_type="joint_space_time", approximate_gelu=True,
                          num_layers=1), shape=(1, 8, 8))
    # A larger MLP output so that the two GELUs give visibly different logits.
    mlp = model.Transformer.encoderblock_0.MlpBlock_3
    mlp.Dense_1.kernel[...] = 20 * mlp.Dense_1.kernel[...]
    v = np.asarray(video((2, 1, 8, 8)))
    logits = np.asarray(fwd(model, jnp.asarray(v))[0])
    tanh = reference_forward(pure(model), v, (1, 4, 4), approximate=True)
    erf = reference_forward(pure(model), v, (1, 4, 4), approximate=False)
    np.testing.assert_allclose(logits, tanh, rtol=2e-4, atol=2e-4)
    assert np.abs(logits - erf).max() > 1e-3


def test_embedding_interpolation_matches_hand_values():
    e = jnp.asarray(np.random.RandomState(0).randn(1, 2, 3), jnp.float32)
    e0, e1 = e[0, 0], e[0, 1]
    want = np.stack([e0, .75 * e0 + .25 * e1, .25 * e0 + .75 * e1, e1])
    np.testing.assert_allclose(timesformer.resize_time_embedding(e, 4)[0], want, atol=1e-6)
    assert timesformer.resize_time_embedding(e, 2) is e
    # Bilinear on an additive grid a_i + b_j is the 1D resize of a plus that of b.
    a, b = np.array([0., 4.]), np.array([1., 3.])
    cls = np.full((1, 1, 1), 7.0)
    pos = np.concatenate([cls, (a[:, None] + b[None]).reshape(1, 4, 1)], 1)
    got = np.asarray(timesformer.resize_pos_embedding(jnp.asarray(pos), (2, 2), (4, 4)))
    lerp = lambda x: np.array([x[0], .75 * x[0] + .25 * x[1], .25 * x[0] + .75 * x[1], x[1]])
    np.testing.assert_allclose(got[0, 1:, 0], (lerp(a)[:, None] + lerp(b)[None]).ravel(),
                               atol=1e-6)
    assert got[0, 0, 0] == 7.0


def test_other_frames_and_resolution_use_resized_embeddings():
    small = make(tiny_cfg(), shape=(4, 8, 8))
    small.time_embed[...] = jax.random.normal(jax.random.key(6), small.time_embed.shape)
    small.Transformer.encoderblock_0.temporal_fc.kernel[...] = 0.1 * jax.random.normal(
        jax.random.key(7), (32, 32))
    big = make(tiny_cfg(), shape=(6, 12, 12), seed=5)
    _copy_shared(small, big)  # Everything but the two embeddings, whose shapes differ.
    big.time_embed[...] = timesformer.resize_time_embedding(small.time_embed[...], 6)
    big.Transformer.posembed_input.pos_embedding[...] = timesformer.resize_pos_embedding(
        small.Transformer.posembed_input.pos_embedding[...], (2, 2), (3, 3))
    v = video((2, 6, 12, 12))
    got, out = fwd(small, v)
    np.testing.assert_allclose(got, fwd(big, v)[0], rtol=1e-5, atol=1e-5)
    assert tuple(int(g) for g in out["grid"]) == (6, 3, 3)
    fewer, _ = fwd(small, video((1, 2, 4, 4)))  # Fewer frames, smaller frames also run.
    assert np.isfinite(np.asarray(fewer)).all()


def test_remat_and_explicit_attention_do_not_change_outputs():
    v = video()
    base = make(tiny_cfg(num_layers=1))  # One divided block: half the compile work.
    remat = make(tiny_cfg(num_layers=1, remat=True))
    nnx.update(remat, nnx.state(base, nnx.Param))

    for a, b in zip(jax.tree.leaves(grads(base, v)), jax.tree.leaves(grads(remat, v))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # Float rounding only.
    fused, _ = fwd(base, v)
    explicit, out = fwd(base, v, return_attention=True)
    np.testing.assert_allclose(fused, explicit, rtol=1e-5, atol=1e-5)
    w = out["attention"][0]
    assert w["temporal"].shape == (2, 4, 4, 4, 4)  # [B, N, H, T, T]
    assert w["spatial"].shape == (2, 4, 4, 5, 5)  # [B, T, H, 1+N, 1+N]
    np.testing.assert_allclose(np.asarray(w["spatial"]).sum(-1), 1.0, rtol=1e-5)


def test_bf16_compute_keeps_fp32_params():
    # Divided attention with a random temporal branch, so that every module runs in bf16.
    cfg = tiny_cfg(zero_init_temporal=False, time_embed_std=1.0)
    base = make(cfg)
    m = build_model(cfg, num_classes=5, input_shape=(4, 8, 8), dtype=jnp.bfloat16,
                    rngs=nnx.Rngs(0))
    nnx.update(m, nnx.state(base, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(pure(m)))
    v = video()
    (low, _), (high, _) = fwd(m, v.astype(jnp.bfloat16)), fwd(base, v)
    assert low.dtype == jnp.bfloat16
    # The float32 twin's logits, to bf16's ~3 significant digits (the random head makes
    # logits of size ~5).
    high = np.asarray(high)
    assert np.abs(high).max() > 1.0
    np.testing.assert_allclose(np.asarray(low, np.float32), high,
                               atol=0.05 * float(np.abs(high).max()))


def test_param_names_follow_vit():
    p = pure(make(tiny_cfg()))
    blk = p["Transformer"]["encoderblock_1"]
    assert set(blk) == {"LayerNorm_0", "MultiHeadDotProductAttention_1", "LayerNorm_2",
                        "MlpBlock_3", "temporal_norm", "temporal_attn", "temporal_fc"}
    assert p["time_embed"].shape == (1, 4, 32)
    assert p["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 5, 32)


@pytest.mark.parametrize("kw, shape, needle", [
    ({"attention_type": "axial"}, (4, 8, 8), "model.attention_type='axial'"),
    ({}, (4, 10, 8), "dataset.image_size=10 is not divisible"),
    ({"num_heads": 5}, (4, 8, 8), "hidden_size=32 is not divisible by model.num_heads=5"),
    ({"classifier": "max"}, (4, 8, 8), "model.classifier='max'"),
])
def test_bad_config_values_are_named(kw, shape, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
        make(tiny_cfg(**kw), shape=shape)


@pytest.mark.parametrize("attention_type", ["divided_space_time", "joint_space_time"])
def test_scan_and_remat_policy_equal_the_layer_loop(attention_type):
    """`model.scan` stacks the blocks (`layers.Encoder`): same logits and gradients."""
    v = video()
    loop = make(tiny_cfg(attention_type=attention_type, zero_init_temporal=False))
    scanned = make(tiny_cfg(attention_type=attention_type, zero_init_temporal=False, scan=True,
                            remat=True, remat_policy="dots_no_batch"))
    assert_scan_matches_loop(loop, scanned, v, fwd, grads)


def test_space_only_scan_equals_the_layer_loop():
    """Space-only's frame batch [B·T, 1+N, D] through the stacked blocks: same numbers."""
    v = video()
    loop = make(tiny_cfg(attention_type="space_only"))
    # A small head: the gradients stay O(1), so float rounding stays under the tolerance.
    loop.head.kernel[...] = 0.01 * loop.head.kernel[...]
    scanned = make(tiny_cfg(attention_type="space_only", scan=True, remat=True))
    assert_scan_matches_loop(loop, scanned, v, fwd, grads)


def test_unknown_remat_policy_is_refused():
    with pytest.raises(ValueError, match=r"model.remat_policy='dot'"):
        make(tiny_cfg(remat=True, remat_policy="dot"))


@pytest.mark.parametrize("classifier", ["gap", "gmp"])
def test_pooled_readouts_read_the_patch_tokens_not_the_cls(classifier, monkeypatch):
    """'gap' / 'gmp' give the mean / max of the final (normed) patch tokens, and 'token' the
    first (CLS) token of that same sequence; the parameters are the same."""
    token = make(tiny_cfg())
    pooled = make(tiny_cfg(classifier=classifier))
    _copy_shared(token, pooled)
    seen = []
    run = timesformer._Transformer.__call__

    def spy(self, *a, **k):  # Records the encoder's output sequence [B, 1 + T·N, D].
        x, w = run(self, *a, **k)
        seen.append(x)
        return x, w

    monkeypatch.setattr(timesformer._Transformer, "__call__", spy)
    v = video()
    _, out_token = token(v)
    logits, out_pooled = pooled(v)
    np.testing.assert_allclose(out_token["pre_logits"], seen[0][:, 0], rtol=1e-6)
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-5, atol=1e-6)  # Same encoder.
    patches = seen[1][:, 1:]
    want = patches.mean(1) if classifier == "gap" else patches.max(1)
    np.testing.assert_allclose(out_pooled["pre_logits"], want, rtol=1e-6)
    assert not np.allclose(want, seen[1][:, 0], atol=1e-3)  # Not the CLS after all.
    np.testing.assert_allclose(logits, want @ pooled.head.kernel[...] + pooled.head.bias[...],
                               rtol=1e-5, atol=1e-5)
