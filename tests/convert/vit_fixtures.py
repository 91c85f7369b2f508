"""Tiny ViTs written in the exact published key layouts, and an independent numpy ViT forward.

The layouts (no download): google-research/vision_transformer `.npz` (canonical names,
optionally under `opt/target/`), big_vision `.npz` (`params/…`, `MultiHeadDotProductAttention_0`,
`LayerNorm_1`, `MlpBlock_0`, top-level `pos_embedding` without a CLS slot, optionally
scanned), timm `.safetensors` (fused `attn.qkv`, torch `[out, in]` weights) and Hugging Face
`.safetensors` (`vit.embeddings…`, `encoder.layer.{i}…`, `classifier`).
"""
import math

import numpy as np
from safetensors.numpy import save_file

D, DEPTH, HEADS, MLP, PATCH = 32, 2, 4, 64, 8


def make_vit(image=16, classes=1000, mlp=MLP, seed=0, pre_logits=False, cls=True):
    """Canonical (vision_transformer) params: flat name → float32 array.

    `cls=False`: a GAP ViT (no `cls`, position embedding without a CLS slot)."""
    rng = np.random.default_rng(seed)
    r = lambda *s, scale=0.3: (rng.standard_normal(s) * scale).astype(np.float32)
    n = (image // PATCH) ** 2
    p = {"embedding/kernel": r(PATCH, PATCH, 3, D, scale=0.1), "embedding/bias": r(D),
         "cls": r(1, 1, D), "Transformer/posembed_input/pos_embedding": r(1, cls + n, D),
         "Transformer/encoder_norm/scale": 1 + r(D), "Transformer/encoder_norm/bias": r(D),
         "head/kernel": r(D, classes), "head/bias": r(classes)}
    hd = D // HEADS
    for i in range(DEPTH):
        b = f"Transformer/encoderblock_{i}/"
        for ln in ("LayerNorm_0", "LayerNorm_2"):
            p[b + ln + "/scale"], p[b + ln + "/bias"] = 1 + r(D), r(D)
        a = b + "MultiHeadDotProductAttention_1/"
        for name in ("query", "key", "value"):
            p[a + name + "/kernel"], p[a + name + "/bias"] = r(D, HEADS, hd), r(HEADS, hd)
        p[a + "out/kernel"], p[a + "out/bias"] = r(HEADS, hd, D), r(D)
        m = b + "MlpBlock_3/"
        p[m + "Dense_0/kernel"], p[m + "Dense_0/bias"] = r(D, mlp), r(mlp)
        p[m + "Dense_1/kernel"], p[m + "Dense_1/bias"] = r(mlp, D), r(D)
    if pre_logits:
        p["pre_logits/kernel"], p["pre_logits/bias"] = r(D, D), r(D)
    if not cls:
        del p["cls"]
    return p


def write_vision_transformer(p, path, prefix=""):
    np.savez(path, **{prefix + k: v for k, v in p.items()})


def big_vision_equivalent(p):
    """big_vision adds `pos_embedding` before prepending CLS: fold the CLS slot into `cls`."""
    q = dict(p)
    if "cls" not in p:
        return q
    pos = p["Transformer/posembed_input/pos_embedding"]
    q["cls"] = p["cls"] + pos[:, :1]
    q["Transformer/posembed_input/pos_embedding"] = np.concatenate(
        [np.zeros_like(pos[:, :1]), pos[:, 1:]], 1)
    return q


def write_big_vision(p, path, scanned=False):
    ren = {"MultiHeadDotProductAttention_1": "MultiHeadDotProductAttention_0",
           "LayerNorm_2": "LayerNorm_1", "MlpBlock_3": "MlpBlock_0"}
    q = big_vision_equivalent(p)
    pos = q.pop("Transformer/posembed_input/pos_embedding")
    out = {"params/pos_embedding": pos[:, 1:] if "cls" in q else pos}
    blocks = {}
    for k, v in q.items():
        parts = k.split("/")
        if parts[1:2] and parts[1].startswith("encoderblock_"):
            parts = [ren.get(x, x) for x in parts]
            if scanned:
                blocks.setdefault("/".join(parts[2:]), {})[int(parts[1][13:])] = v
                continue
        out["params/" + "/".join(parts)] = v
    for k, per_layer in blocks.items():
        out[f"params/Transformer/encoderblock/{k}"] = np.stack(
            [per_layer[i] for i in sorted(per_layer)])
    np.savez(path, **out)


def write_timm(p, path):
    t = {"patch_embed.proj.weight": p["embedding/kernel"].transpose(3, 2, 0, 1),
         "patch_embed.proj.bias": p["embedding/bias"], "cls_token": p["cls"],
         "pos_embed": p["Transformer/posembed_input/pos_embedding"],
         "norm.weight": p["Transformer/encoder_norm/scale"],
         "norm.bias": p["Transformer/encoder_norm/bias"],
         "head.weight": p["head/kernel"].T, "head.bias": p["head/bias"]}
    for i in range(DEPTH):
        b, s = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        a = b + "MultiHeadDotProductAttention_1/"
        t[s + "norm1.weight"], t[s + "norm1.bias"] = p[b + "LayerNorm_0/scale"], p[
            b + "LayerNorm_0/bias"]
        t[s + "attn.qkv.weight"] = np.concatenate(
            [p[a + n + "/kernel"].reshape(D, D).T for n in ("query", "key", "value")], 0)
        t[s + "attn.qkv.bias"] = np.concatenate(
            [p[a + n + "/bias"].reshape(D) for n in ("query", "key", "value")])
        t[s + "attn.proj.weight"] = p[a + "out/kernel"].reshape(D, D).T
        t[s + "attn.proj.bias"] = p[a + "out/bias"]
        t[s + "norm2.weight"], t[s + "norm2.bias"] = p[b + "LayerNorm_2/scale"], p[
            b + "LayerNorm_2/bias"]
        for j, fc in ((0, "fc1"), (1, "fc2")):
            t[s + f"mlp.{fc}.weight"] = p[b + f"MlpBlock_3/Dense_{j}/kernel"].T
            t[s + f"mlp.{fc}.bias"] = p[b + f"MlpBlock_3/Dense_{j}/bias"]
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, str(path))


def write_hugging_face(p, path, prefix="vit."):
    e = prefix + "embeddings."
    t = {e + "patch_embeddings.projection.weight": p["embedding/kernel"].transpose(3, 2, 0, 1),
         e + "patch_embeddings.projection.bias": p["embedding/bias"], e + "cls_token": p["cls"],
         e + "position_embeddings": p["Transformer/posembed_input/pos_embedding"],
         prefix + "layernorm.weight": p["Transformer/encoder_norm/scale"],
         prefix + "layernorm.bias": p["Transformer/encoder_norm/bias"]}
    if prefix:  # ViTForImageClassification; a bare ViTModel has a pooler instead.
        t["classifier.weight"], t["classifier.bias"] = p["head/kernel"].T, p["head/bias"]
    for i in range(DEPTH):
        b, s = f"Transformer/encoderblock_{i}/", f"{prefix}encoder.layer.{i}."
        a = b + "MultiHeadDotProductAttention_1/"
        for n in ("query", "key", "value"):
            t[s + f"attention.attention.{n}.weight"] = p[a + n + "/kernel"].reshape(D, D).T
            t[s + f"attention.attention.{n}.bias"] = p[a + n + "/bias"].reshape(D)
        t[s + "attention.output.dense.weight"] = p[a + "out/kernel"].reshape(D, D).T
        t[s + "attention.output.dense.bias"] = p[a + "out/bias"]
        for hf, ln in (("layernorm_before", "LayerNorm_0"), ("layernorm_after", "LayerNorm_2")):
            t[s + hf + ".weight"], t[s + hf + ".bias"] = p[b + ln + "/scale"], p[b + ln + "/bias"]
        for hf, j in (("intermediate.dense", 0), ("output.dense", 1)):
            t[s + hf + ".weight"] = p[b + f"MlpBlock_3/Dense_{j}/kernel"].T
            t[s + hf + ".bias"] = p[b + f"MlpBlock_3/Dense_{j}/bias"]
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, str(path))


# ---------------------------------------------------------------------------------------
# Independent numpy ViT forward (pre-logits = encoder_norm output at CLS).
# ---------------------------------------------------------------------------------------
def _ln(x, p, name):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * p[name + "/scale"] + p[name + "/bias"]


def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


def vit_pre_logits(p, image, approximate_gelu=True):
    """`image [B, H, W, 3]` → the ViT's pre-logits `[B, D]` (float64): the CLS output, or
    the mean of the tokens for a GAP ViT (no `cls`)."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    b, h, w, c = image.shape
    x = image.reshape(b, h // PATCH, PATCH, w // PATCH, PATCH, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, -1, PATCH * PATCH * c) @ p["embedding/kernel"].reshape(-1, D)
    x = x + p["embedding/bias"]
    pos = p["Transformer/posembed_input/pos_embedding"]
    if "cls" in p:
        x = np.concatenate([np.broadcast_to(p["cls"], (b, 1, D)), x], 1)
    x = x + pos[:, pos.shape[1] - x.shape[1]:]
    for i in range(DEPTH):
        blk = f"Transformer/encoderblock_{i}/"
        a = blk + "MultiHeadDotProductAttention_1/"
        y = _ln(x, p, blk + "LayerNorm_0")
        q, k, v = (np.einsum("bnd,dhk->bnhk", y, p[a + n + "/kernel"]) + p[a + n + "/bias"]
                   for n in ("query", "key", "value"))
        logits = np.einsum("bqhk,bmhk->bhqm", q, k) / np.sqrt(q.shape[-1])
        att = np.exp(logits - logits.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("bhqm,bmhk->bqhk", att, v)
        x = x + np.einsum("bqhk,hkd->bqd", o, p[a + "out/kernel"]) + p[a + "out/bias"]
        m = blk + "MlpBlock_3/"
        y = _ln(x, p, blk + "LayerNorm_2") @ p[m + "Dense_0/kernel"] + p[m + "Dense_0/bias"]
        x = x + _gelu(y, approximate_gelu) @ p[m + "Dense_1/kernel"] + p[m + "Dense_1/bias"]
    x = _ln(x, p, "Transformer/encoder_norm")
    return x[:, 0] if "cls" in p else x.mean(1)
