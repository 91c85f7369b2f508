"""ViViT Model 1: logits equal an independent reference forward; knobs do not change them."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vivit_jax.models import build_model, default_model_config, tokenizers


def tiny_cfg(**kw):
    c = default_model_config("vivit")
    c.update(dict(variant="Ti/4x2", hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64))
    c.update(kw)
    return c


def make(cfg, shape=(4, 8, 8), classes=5, seed=0):
    model = build_model(cfg, num_classes=classes, input_shape=shape, rngs=nnx.Rngs(seed))
    # The head is zero-initialised (ViT fine-tuning practice); randomise it for the tests.
    model.head.kernel[...] = jax.random.normal(jax.random.key(9), model.head.kernel.shape)
    return model


def _ln(x, p):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def _gelu(x, approximate=True):
    if approximate:  # tanh form (Flax's nn.gelu default, the ViT checkpoints' GELU).
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def embed_tokens(p, video, tubelet):
    """Tubelets in time-major (t, h, w) order, each flattened as (kt, kh, kw, c), projected."""
    b, t, h, w, c = video.shape
    kt, kh, kw = tubelet
    x = video.reshape(b, t // kt, kt, h // kh, kh, w // kw, kw, c)
    x = x.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, -1, kt * kh * kw * c)
    kern = p["embedding"]["conv"]["kernel"].reshape(-1, p["embedding"]["conv"]["kernel"].shape[-1])
    return x @ kern + p["embedding"]["conv"]["bias"]


def mha(y, a, mask=None):
    """Multi-head attention of `y [B, N, D]`; `mask [N, N]` or `[H, N, N]` (True = may attend)."""
    q, k, v = (np.einsum("bnd,dhk->bnhk", y, a[n]["kernel"]) + a[n]["bias"]
               for n in ("query", "key", "value"))
    logits = np.einsum("bqhk,bmhk->bhqm", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    att = np.exp(logits - logits.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    o = np.einsum("bhqm,bmhk->bqhk", att, v)
    return np.einsum("bqhk,hkd->bqd", o, a["out"]["kernel"]) + a["out"]["bias"]


def mlp(x, blk, approximate=True):
    m = blk["MlpBlock_3"]
    y = _gelu(_ln(x, blk["LayerNorm_2"]) @ m["Dense_0"]["kernel"] + m["Dense_0"]["bias"],
              approximate)
    return x + y @ m["Dense_1"]["kernel"] + m["Dense_1"]["bias"]


def reference_encoder(x, tr, approximate=True, attention=None):
    """ViT encoder: pre-LN blocks + encoder_norm; `attention(x, blk)` replaces the MSA residual."""
    i = 0
    while f"encoderblock_{i}" in tr:
        blk = tr[f"encoderblock_{i}"]
        if attention is None:
            x = x + mha(_ln(x, blk["LayerNorm_0"]), blk["MultiHeadDotProductAttention_1"])
        else:
            x = attention(x, blk)
        x = mlp(x, blk, approximate)
        i += 1
    return _ln(x, tr["encoder_norm"])


def reference_forward(p, video, tubelet, approximate=True):
    """Plain numpy ViViT model 1, written from the paper independently of the model code."""
    p = jax.tree.map(np.asarray, p)
    x = embed_tokens(p, video, tubelet)
    b = x.shape[0]
    x = np.concatenate([np.broadcast_to(p["cls"], (b, 1, x.shape[-1])), x], 1)
    tr = p["Transformer"]
    x = reference_encoder(x + tr["posembed_input"]["pos_embedding"], tr, approximate)
    return x[:, 0] @ p["head"]["kernel"] + p["head"]["bias"]


@pytest.mark.parametrize("approximate", [True, False])
def test_logits_match_reference(approximate):
    model = make(tiny_cfg(approximate_gelu=approximate))
    video = np.asarray(jax.random.normal(jax.random.key(1), (2, 4, 8, 8, 3)))
    logits, out = model(jnp.asarray(video))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    ref = reference_forward(params, video, (2, 4, 4), approximate)
    np.testing.assert_allclose(np.asarray(logits), ref, rtol=2e-4, atol=2e-4)
    assert out["grid"] == (2, 2, 2) and out["pre_logits"].shape == (2, 32)
    # The other GELU gives other logits: the switch is live.
    assert np.abs(reference_forward(params, video, (2, 4, 4), not approximate) - ref).max() > 1e-5


def test_token_order_is_time_major():
    # Changing only the last frame pair changes only the last t-slice of tokens.
    model = make(tiny_cfg())
    video = jnp.zeros((1, 4, 8, 8, 3))
    tok0 = model.embedding(video)
    tok1 = model.embedding(video.at[:, 2:].set(1.0))
    diff = np.abs(np.asarray(tok1 - tok0)).sum(axis=(0, 2, 3, 4))
    assert diff[0] == 0 and diff[1] > 0
    assert model.embedding.conv.kernel.shape == (2, 4, 4, 3, 32)  # [t, h, w, c, d]


def test_remat_and_fused_path_do_not_change_outputs():
    video = jax.random.normal(jax.random.key(2), (2, 4, 8, 8, 3))
    base = make(tiny_cfg())
    remat = make(tiny_cfg(remat=True))
    params = nnx.state(base, nnx.Param)
    nnx.update(remat, params)

    def loss(model):
        return model(video, train=True, rngs=nnx.Rngs(dropout=0))[0].sum()

    g1 = nnx.grad(loss)(base)
    g2 = nnx.grad(loss)(remat)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    fused, _ = base(video)
    explicit, out = base(video, return_attention=True)
    np.testing.assert_allclose(fused, explicit, rtol=1e-5, atol=1e-5)
    w = out["attention"][0]
    assert w.shape == (2, 4, 9, 9)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)


def test_gap_classifier_has_no_cls():
    model = make(tiny_cfg(classifier="gap"))
    assert not hasattr(model, "cls")
    assert model.Transformer.posembed_input.pos_embedding.shape == (1, 8, 32)
    video = np.asarray(jax.random.normal(jax.random.key(1), (2, 4, 8, 8, 3)))
    logits, out = model(jnp.asarray(video))
    # The reference forward without a CLS: the mean of the normed tokens, classified.
    p = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    tr = p["Transformer"]
    x = embed_tokens(p, video, (2, 4, 4)) + tr["posembed_input"]["pos_embedding"]
    pre = reference_encoder(x, tr).mean(1)
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), pre, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(np.asarray(logits), pre @ p["head"]["kernel"] + p["head"]["bias"],
                               rtol=2e-4, atol=2e-4)


def test_drop_path_schedule_is_linear():
    m = make(tiny_cfg(num_layers=3, drop_path=0.2))
    rates = [b.drop_path_rate for b in m.Transformer.blocks()]
    assert rates == pytest.approx([0.0, 0.1, 0.2])


def test_decode_variant():
    assert tokenizers.decode_variant("B/16x2") == dict(hidden_size=768, num_layers=12, mlp_dim=3072,
                                                  num_heads=12, patch_size=(16, 16), tubelet_t=2)
    assert tokenizers.decode_variant("L/14")["tubelet_t"] == 1
    with pytest.raises(ValueError, match="model.variant='X/16'"):
        tokenizers.decode_variant("X/16")


@pytest.mark.parametrize("kw, shape, needle", [
    ({}, (4, 10, 8), "dataset.image_size=10 is not divisible"),
    ({}, (3, 8, 8), "dataset.num_frames=3 is not divisible"),
    ({"num_heads": 5}, (4, 8, 8), "hidden_size=32 is not divisible by model.num_heads=5"),
    ({"classifier": "pool"}, (4, 8, 8), "model.classifier='pool'"),
])
def test_bad_config_values_are_named(kw, shape, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
        make(tiny_cfg(**kw), shape=shape)
