"""A plain-numpy STAT forward (Li et al., AAAI 2022), the numeric reference of `models/stat.py`.

Written from the paper's text (Section "Shrinking Temporal Attention Transformer", Eq. 1-10,
Tables 4-5) without calling any vivit_jax module or layer: it reads the model's parameters by
name (`nnx.to_pure_dict` of `nnx.state(model, nnx.Param)`) and computes in float64 with
explicit loops over frames, kernel offsets and pooling windows.

Where the paper is silent, the choices are those `models/stat.py` documents (its module
docstring), each marked "stat.py:" below:
- stem: conv → LayerNorm → GELU (exact erf) between the three 3D convs; no norm after the third;
- P_CA: a depthwise 3×3 conv (padding 1) on the block's normed input, before the key/value
  projections, so one pooled set serves K and V (θ_K = θ_V); P_SA: 2D average pool, window =
  stride = `sa_pool`, 'SAME' padding that averages only real cells;
- queries are never pooled inside a block (the resolution drops in the stage transitions);
- stage transition: LayerNorm → Dense(d → 2d) on every token, then each frame's patch grid
  pooled by a depthwise 3×3 stride-2 conv (padding 1); the CLS tokens pass unpooled;
- window at the clip ends: 'shift' (the window slides inside the clip; stat.py's default,
  the only `window_boundary` written here);
- Eq. 8's scale: multi-head attention divides by √(head width), as ViT (the paper writes √n_c
  for its one-head description); the MLP's GELU is exact (erf); LayerNorm eps 1e-6;
- l_ta temporal aggregation layers are pre-LN ViT blocks over video CLS ⊕ frame CLS tokens,
  then a LayerNorm, the video CLS read out; l_ta = 0 averages the normed frame CLS tokens
  (Table 4).
"""
from __future__ import annotations

import math

import numpy as np

EPS = 1e-6


def layer_norm(x: np.ndarray, p: dict) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * p["scale"] + p["bias"]


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def dense(x: np.ndarray, p: dict) -> np.ndarray:
    return x @ p["kernel"] + p["bias"]


def conv(x: np.ndarray, p: dict, stride: tuple[int, ...], depthwise: bool = False) -> np.ndarray:
    """'Same'-style convolution (padding k // 2 per side) of `x [B, *spatial, C]` with
    `kernel [*k, C_in or 1, C_out]`, summed kernel offset by kernel offset."""
    k = p["kernel"]
    ks = k.shape[:-2]
    assert len(ks) == len(stride), (k.shape, stride)
    xp = np.pad(x, [(0, 0)] + [(s // 2, s // 2) for s in ks] + [(0, 0)])
    out_sizes = [(n + 2 * (s // 2) - s) // st + 1 for n, s, st in zip(x.shape[1:-1], ks, stride)]
    out = np.zeros((x.shape[0], *out_sizes, k.shape[-1]))
    for off in np.ndindex(*ks):
        window = tuple(slice(o, o + st * (n - 1) + 1, st) for o, st, n in zip(off, stride,
                                                                               out_sizes))
        patch = xp[(slice(None),) + window]
        out += patch * k[off][0] if depthwise else patch @ k[off]
    return out + p["bias"]


def avg_pool_same(grid: np.ndarray, p: int) -> np.ndarray:
    """`grid [h, w, C]` → `[ceil(h/p), ceil(w/p), C]`: windows of p×p at stride p, 'SAME'
    padding split low = total // 2, each window the mean of the cells it really covers."""
    h, w = grid.shape[:2]
    oh, ow = -(-h // p), -(-w // p)
    low_h, low_w = max((oh - 1) * p + p - h, 0) // 2, max((ow - 1) * p + p - w, 0) // 2
    out = np.zeros((oh, ow, grid.shape[-1]))
    for r in range(oh):
        for c in range(ow):
            r0, c0 = r * p - low_h, c * p - low_w
            cells = grid[max(r0, 0):min(r0 + p, h), max(c0, 0):min(c0 + p, w)]
            out[r, c] = cells.reshape(-1, grid.shape[-1]).mean(0)
    return out


def window_frames(i: int, n_t: int, t_o: int) -> list[int]:
    """The t_o − 1 short-term frames of query frame i (i itself excluded; paper, SA).
    stat.py's default 'shift': at the clip ends the window slides inside the clip."""
    first = min(max(i - t_o // 2, 0), n_t - t_o)
    return [j for j in range(first, first + t_o) if j != i]


def attention(q_in: np.ndarray, kv_in: np.ndarray, p: dict) -> np.ndarray:
    """Multi-head attention of queries `[B, Nq, D]` over keys/values `[B, Nk, D]` (Eq. 8)."""
    q, k, v = (np.einsum("bnd,dhk->bnhk", z, p[n]["kernel"]) + p[n]["bias"]
               for z, n in ((q_in, "query"), (kv_in, "key"), (kv_in, "value")))
    logits = np.einsum("bqhk,bmhk->bhqm", q, k) / math.sqrt(q.shape[-1])
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    return np.einsum("bhqm,bmhk->bqhk", a, v).reshape(q.shape[:2] + (-1,)) @ \
        p["out"]["kernel"].reshape(-1, p["out"]["kernel"].shape[-1]) + p["out"]["bias"]


def sta(y: np.ndarray, blk: dict, grid: tuple[int, int], stride: int, sa_pool: int,
        t_o: int) -> np.ndarray:
    """Shrinking temporal attention of normed tokens `y [B, n_t, 1 + h·w, D]`, frame by frame."""
    b, n_t, _, d = y.shape
    h, w = grid
    ca, sa = [], []
    for j in range(n_t):  # P_CA (Eq. 2) and P_SA (Eq. 3) of every frame's patch tokens.
        c = conv(y[:, j, 1:].reshape(b, h, w, d), blk["kv_pool"], (stride, stride),
                 depthwise=True)
        ca.append(c.reshape(b, -1, d))
        sa.append(np.stack([avg_pool_same(c[i], sa_pool) for i in range(b)]).reshape(b, -1, d))
    out = np.zeros_like(y)
    for i in range(n_t):
        # Eq. 7: K̂ = CA of frame i ⊕ SA of its window frames ⊕ LA (every frame's CLS, Eq. 6).
        kv = np.concatenate([ca[i]] + [sa[j] for j in window_frames(i, n_t, t_o)]
                            + [y[:, :, 0]], axis=1)
        out[:, i] = attention(y[:, i], kv, blk["MultiHeadDotProductAttention_1"])
    return out


def mlp(x: np.ndarray, blk: dict) -> np.ndarray:
    m = blk["MlpBlock_3"]
    return dense(gelu(dense(layer_norm(x, blk["LayerNorm_2"]), m["Dense_0"])), m["Dense_1"])


def forward(params: dict, video: np.ndarray, *, depths: tuple[int, ...],
            kv_pool_strides: tuple[int, ...], window: int, sa_pool: int = 2,
            ta_layers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`video [B, T, H, W, 3]` → `(logits, pre_logits)` of the STAT whose pure-dict
    `params` are given; the sizes are the model config's."""
    p = _float64(params)
    b = video.shape[0]
    # Token embedding block: three 3×3×3 convs, strides [2,2,2], [1,2,2], [1,2,2] (Table 5).
    x = np.asarray(video, np.float64)
    for i, stride in enumerate(((2, 2, 2), (1, 2, 2), (1, 2, 2))):
        x = conv(x, p["embedding"][f"conv_{i}"], stride)
        if i < 2:  # stat.py: LayerNorm + GELU between the convs.
            x = gelu(layer_norm(x, p["embedding"][f"norm_{i}"]))
    _, n_t, h, w, d = x.shape
    # A spatial CLS token per frame; spatial and temporal position embeddings added.
    cls = np.broadcast_to(p["cls"].reshape(1, 1, 1, d), (b, n_t, 1, d))
    x = np.concatenate([cls, x.reshape(b, n_t, h * w, d)], axis=2)
    x = x + p["posembed_spatial"] + p["posembed_temporal"]
    blk_i = 0
    for st, depth in enumerate(depths):
        if st:  # stat.py: width ×2 by LN → Dense on every token, patch grid pooled 2× per side.
            tr = p[f"downsample_{st}"]
            x = dense(layer_norm(x, tr["norm"]), tr["proj"])
            d = x.shape[-1]
            grid = x[:, :, 1:].reshape(b * n_t, h, w, d)
            pooled = conv(grid, tr["pool"], (2, 2), depthwise=True)
            h, w = pooled.shape[1:3]
            x = np.concatenate([x[:, :, :1], pooled.reshape(b, n_t, h * w, d)], axis=2)
        for _ in range(depth):  # STA blocks, Eq. 9-10.
            blk = p[f"encoderblock_{blk_i}"]
            x = x + sta(layer_norm(x, blk["LayerNorm_0"]), blk, (h, w), kv_pool_strides[st],
                        sa_pool, window)
            x = x + mlp(x, blk)
            blk_i += 1
    cls_btd = layer_norm(x, p["encoder_norm"])[:, :, 0]
    if ta_layers:  # Temporal aggregation block: video CLS ⊕ frame CLS, l_ta MHSA layers.
        ta = p["TemporalAggregation"]
        z = np.concatenate([np.broadcast_to(p["video_cls"], (b, 1, d)), cls_btd], axis=1)
        for i in range(ta_layers):
            blk = ta[f"encoderblock_{i}"]
            y = layer_norm(z, blk["LayerNorm_0"])
            z = z + attention(y, y, blk["MultiHeadDotProductAttention_1"])
            z = z + mlp(z, blk)
        pre_logits = layer_norm(z, ta["encoder_norm"])[:, 0]
    else:  # Table 4, l_ta = 0: the frame CLS tokens averaged.
        pre_logits = cls_btd.mean(axis=1)
    return dense(pre_logits, p["head"]), pre_logits


def _float64(tree):
    if isinstance(tree, dict):
        return {k: _float64(v) for k, v in tree.items()}
    return np.asarray(tree, np.float64)
