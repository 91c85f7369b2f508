"""VidTr / C-VidTr as the official code computes them: `model.reference='gluonmm'`.

The only released VidTr code and weights are amazon-science/gluonmm
(`src/transformers/models/vidtr/{vidtr_split,vidtr_compact,multihead_attention}.py`). Where it
departs from the paper text (`vidtr.py`, `model.reference='paper'`) this module follows it, so
its checkpoints load with logit parity (`vivit_jax/convert/formats/gluonmm.py`):

- Pre-LN blocks with torch's LayerNorm epsilon 1e-5 and a **ReLU** MLP (not GELU); the final
  `encoder_norm` (eps 1e-5) before the head.
- Position embedding: one learned table over every token, added to the *normed* input of
  layer 0 only (it feeds q, k and v: the official attention projects all three from its
  query argument); VidTr with 16 frames adds it in every layer (`model.posemb_layers`:
  '' = that rule, 'first' or 'all').
- VidTr: the `(T+1) × (HW+1)` grid with a separate temporal class-token row (`cls` at the
  corner, `cls_row` over the patch columns; gluonmm `cls_t`) and spatial class-token column
  (`cls_col`, one per frame; gluonmm `cls_s`). The separable attention is the paper
  reading's (`vidtr.VidTrBlock.separable_attention` without pooling).
- C-VidTr (`model.pool_layers` non-empty): tokens are one CLS + the `T × HW` patches, no class
  row or column. Every layer up to the last pool layer runs separable attention over the
  patches only; its attention output for the CLS is the CLS's normed input (so the residual
  doubles it). Every later layer is joint attention over all tokens (`nn.MultiheadAttention`).
  A pool layer keeps `T - drop` frames per example, spatial position **and head**: the rows of
  that head's temporal attention with the largest std over the keys (temporal order), softmaxed
  again; the head's q/k and its channel slice of the residual follow the kept frames.
  `model.pool_drop` may be a tuple per pool layer: C-VidTr-M drops (8, 4, 2) at layers 1, 2, 4.

Parameter names: ViT's where a tensor has a ViT counterpart (`embedding/conv`, `cls`,
`Transformer/posembed_input/pos_embedding` = corner/CLS + the `T·h·w` patch grid,
`encoderblock_{i}/{LayerNorm_0, MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3}`,
`encoder_norm`, `head`); VidTr's extra class-token slots are `cls_row [1, HW, D]`,
`cls_col [1, T, D]` and their position embeddings `posembed_row [1, HW, D]`,
`posembed_col [1, T, D]`.

Cost. `vivit-profile` on configs/kinetics400/vidtr*_gluonmm_k400.py counts every matmul of
this model: S 158.6, M 300.2, L 584.8, C-S 64.8, C-M 77.4 GMACs per view. torch's
`FlopCounterMode` on the official modules (ViT-B width, 224², eval) gives the same within
0.3 % (S 158.25, C-S 64.60, C-M 77.19: aten mm + addmm + bmm + conv), so the model is the
official one. The README/paper figures (89, 179, 351, 39, 59) are 0.56-0.76 of that and
follow no counting rule we found for all five. Four of them are, within 1.2 %, the MLP
multiply-adds alone over the T·196 patch tokens (8·D² per token per layer; what a module-hook
counter such as thop reports when attention is computed with functional matmuls and the
class tokens are left out): 88.8, 177.6, 355.1 and, with C-VidTr-S's pooled frames per layer
(8, 6, 6, 4, 4, 2, then 2 × 6), 38.8. C-VidTr-M's 59 is not: that rule gives 44.4 for its
released schedule (16, 8, 4, 4, 2, then 2 × 7 frames) and 57.3 only if the MLP saw the frames
*entering* each layer (16, 16, 8, 4, 4, 2 × 7), a rule that gives C-VidTr-S 44.4, not 39.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from vivit_jax.models import layers, tokenizers, vidtr

POSEMB_LAYERS = ("", "first", "all")


def layer_norm(dim: int, *, dtype, rngs: nnx.Rngs) -> nnx.LayerNorm:
    """torch `nn.LayerNorm` (epsilon 1e-5) with our logical axes."""
    return nnx.LayerNorm(dim, epsilon=1e-5, dtype=dtype, rngs=rngs,
                         scale_init=layers.with_axes(nnx.initializers.ones, ("embed",)),
                         bias_init=layers.with_axes(nnx.initializers.zeros, ("embed",)))


class ReluMlp(layers.MlpBlock):
    """The official MLP: Dense_0 → ReLU → dropout → Dense_1 → dropout."""

    def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
        x = self.dropout(layers.constrain(nnx.relu(self.Dense_0(x)), layers.HIDDEN),
                         deterministic=not train, rngs=rngs)
        return self.dropout(self.Dense_1(x), deterministic=not train, rngs=rngs)


def topk_std_rows_per_head(weights: jax.Array, keep: int) -> jax.Array:
    """Temporal attention `[..., H, T, T]` (no CLS) → kept frames `[..., H, keep]` per head:
    the rows with the largest std over the keys, in temporal order (gluonmm
    `ScaledDotProductAttentionPoolVariableKSTD`; its unbiased std ranks the same)."""
    std = weights.astype(jnp.float32).std(axis=-1)
    return jnp.sort(vidtr.top_indices(std, keep), axis=-1)


class GluonmmBlock(vidtr.VidTrBlock):
    """One official layer. `kind`: 'separable' (VidTr, grid `[B, T+1, S+1, D]`), 'pooled'
    (C-VidTr up to its last pool layer, `[B, 1+T·S, D]`, dropping `drop` frames) or 'joint'
    (C-VidTr after it). `use_pos`: the position embedding joins the normed input here."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, kind: str, num_frames: int,
                 drop: int = 0, use_pos: bool = False, dropout: float = 0.0,
                 drop_path: float = 0.0, dtype=jnp.float32, attention_impl: str | None = None,
                 rngs: nnx.Rngs):
        self.LayerNorm_0 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.MultiHeadDotProductAttention_1 = layers.Attention(
            dim, num_heads, dtype=dtype, attention_impl=attention_impl, rngs=rngs)
        self.LayerNorm_2 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.MlpBlock_3 = ReluMlp(dim, mlp_dim, dropout=dropout, dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.drop_path_rate = drop_path
        self.pool, self.second_softmax = None, False  # VidTrBlock's (paper) pooling: unused.
        self.kind, self.num_frames, self.drop, self.use_pos = kind, num_frames, drop, use_pos

    def pooled_attention(self, y: jax.Array, *, return_weights: bool = False):
        """C-VidTr's separable attention over the patches of `y [B, 1+T·S, D]`; the CLS row
        passes through. Returns `(out [B, 1+τ·S, D], weights or None, kept [B, S, H, τ] or
        None)`."""
        attn = self.MultiHeadDotProductAttention_1
        b, n, d = y.shape
        t = self.num_frames
        s = (n - 1) // t
        q, k, v = attn.qkv(y[:, 1:].reshape(b, t, s, d).swapaxes(1, 2))  # [B, S, T, H, Dh]
        need = return_weights or bool(self.drop)
        out_t, w_t = layers.dot_product_attention(q, k, v, return_weights=need,
                                                  implementation=attn.attention_impl)
        kept = None
        if self.drop:
            kept = topk_std_rows_per_head(w_t, t - self.drop)  # [B, S, H, τ]
            w_t = jnp.take_along_axis(w_t, kept[..., None], axis=3)  # [B, S, H, τ, T]
            w_t = jax.nn.softmax(w_t.astype(jnp.float32), axis=-1).astype(v.dtype)
            out_t = jnp.einsum("bshqk,bskhd->bsqhd", w_t, v)
            rows = kept.swapaxes(2, 3)[..., None]  # [B, S, τ, H, 1]
            q, k = (jnp.take_along_axis(a, rows, axis=2) for a in (q, k))
        sw = lambda a: a.swapaxes(1, 2)  # Per kept frame: attend over the S positions.
        out_s, w_s = layers.dot_product_attention(sw(q), sw(k), sw(out_t),
                                                  return_weights=return_weights,
                                                  implementation=attn.attention_impl)
        out = attn.out(layers.constrain(out_s, layers.HEADS))  # [B, τ, S, D]
        out = jnp.concatenate([y[:, :1], out.reshape(b, -1, d)], axis=1)
        weights = dict(temporal=w_t, spatial=w_s, kept=kept) if return_weights else None
        return out, weights, kept

    def _keep_residual(self, x: jax.Array, kept: jax.Array, num_heads: int) -> jax.Array:
        """Each head's channel slice of the patch tokens follows that head's kept frames."""
        b, n, d = x.shape
        t = self.num_frames
        s = (n - 1) // t
        grid = x[:, 1:].reshape(b, t, s, num_heads, d // num_heads)
        grid = jnp.take_along_axis(grid, kept.transpose(0, 3, 1, 2)[..., None], axis=1)
        return jnp.concatenate([x[:, :1], grid.reshape(b, -1, d)], axis=1)

    def __call__(self, x: jax.Array, *, pos: jax.Array | None = None, train: bool = False,
                 rngs: nnx.Rngs | None = None, return_weights: bool = False,
                 drop_path_rate=None) -> tuple[jax.Array, Any]:
        rate = self.drop_path_rate if drop_path_rate is None else drop_path_rate
        x = layers.constrain(x)  # Block boundary: [batch, tokens..., embed].
        y = self.LayerNorm_0(x)
        if self.use_pos:
            y = y + pos.astype(y.dtype)
        if self.kind == "separable":
            y, weights, _ = self.separable_attention(y, return_weights=return_weights)
        elif self.kind == "pooled":
            y, weights, kept = self.pooled_attention(y, return_weights=return_weights)
            if kept is not None:
                x = self._keep_residual(x, kept, self.MultiHeadDotProductAttention_1.num_heads)
        else:
            y, w = self.MultiHeadDotProductAttention_1(y, return_weights=return_weights)
            weights = dict(joint=w, temporal=None, spatial=None, kept=None) \
                if return_weights else None
        y = self.dropout(y, deterministic=not train, rngs=rngs)
        x = layers.constrain(x + layers.drop_path(y, rate, train=train, rngs=rngs))
        y = self.MlpBlock_3(self.LayerNorm_2(x), train=train, rngs=rngs)
        x = x + layers.drop_path(y, rate, train=train, rngs=rngs)
        return layers.constrain(x), weights


def layer_plan(cfg: ml_collections.ConfigDict, num_frames: int, depth: int) -> list[dict]:
    """Per layer: kind, frames in, frames dropped, whether the position embedding joins."""
    pool_layers = tuple(cfg.pool_layers)
    compact = bool(pool_layers)
    if compact:
        if cfg.pool_type != "topk_std":
            raise ValueError(f"model.pool_type={cfg.pool_type!r}: the gluonmm reference only "
                             f"has 'topk_std' pooling")
        if list(pool_layers) != sorted(set(pool_layers)) or not 0 <= pool_layers[0] \
                or pool_layers[-1] >= depth:
            raise ValueError(f"model.pool_layers={pool_layers}: expected increasing layer "
                             f"indices in [0, {depth})")
    drops = vidtr.pool_drops(pool_layers, cfg.pool_drop)
    frames = vidtr.frame_schedule(num_frames, depth, pool_layers, cfg.pool_drop)
    rule = tokenizers.choice("posemb_layers", cfg.posemb_layers, POSEMB_LAYERS)
    every = rule == "all" or (rule == "" and num_frames == 16 and not compact)
    last = pool_layers[-1] if compact else -1
    return [dict(kind=("pooled" if i <= last else "joint") if compact else "separable",
                 num_frames=frames[i], drop=drops.get(i, 0), use_pos=every or i == 0)
            for i in range(depth)]


class VidTrGluonmm(vidtr.VidTr):
    """VidTr / C-VidTr of the official code (module docstring); built by `vidtr.VidTr` when
    `model.reference='gluonmm'`."""

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        s = tokenizers.resolve_sizes(cfg)
        self.reference = "gluonmm"
        self.tubelet = (s["tubelet_t"], *s["patch_size"])
        self.grid = tokenizers.token_grid(input_shape, self.tubelet)
        if cfg.classifier != "token":
            raise ValueError(f"model.classifier={cfg.classifier!r}: the gluonmm reference reads "
                             f"its class token ('token')")
        if cfg.scan:
            raise ValueError("model.scan=True is not supported with model.reference='gluonmm' "
                             "(its layers differ: position embedding, pooling, joint layers)")
        t, h, w = self.grid
        depth, d = s["num_layers"], s["hidden_size"]
        plan = layer_plan(cfg, t, depth)
        self.compact = bool(tuple(cfg.pool_layers))
        self.classifier = "token"
        self.embedding = tokenizers.TubeletEmbedding(self.tubelet, d, dtype=dtype, rngs=rngs)
        param = lambda init, shape: nnx.Param(layers.with_axes(init, (None, None, "embed"))(
            rngs.params(), shape))
        normal = nnx.initializers.normal(0.02)
        self.cls = param(nnx.initializers.zeros, (1, 1, d))
        if not self.compact:  # The rest of the class-token row and column, and their pos.
            self.cls_row = param(nnx.initializers.zeros, (1, h * w, d))
            self.cls_col = param(nnx.initializers.zeros, (1, t, d))
            self.posembed_row = param(normal, (1, h * w, d))
            self.posembed_col = param(normal, (1, t, d))
        self.Transformer = layers.Encoder(
            depth, d, s["num_heads"], s["mlp_dim"], dropout=cfg.dropout,
            drop_path=cfg.drop_path, dtype=dtype, attention_impl=cfg.attention_impl or None,
            remat=cfg.remat, remat_policy=cfg.remat_policy, rngs=rngs, block=GluonmmBlock,
            layer_kwargs=plan)
        self.Transformer.encoder_norm = layer_norm(d, dtype=dtype, rngs=rngs)
        self.Transformer.posembed_input = tokenizers.PositionEmbedding(1 + t * h * w, d, rngs=rngs)
        self.input_dropout = nnx.Dropout(cfg.dropout)
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def _grid(self, corner: jax.Array, row: jax.Array, col: jax.Array,
              body: jax.Array) -> jax.Array:
        """`[1|B, T+1, S+1, D]` from the corner `[., 1, D]`, row `[., S, D]`, column
        `[., T, D]` and patches `[., T, S, D]`."""
        top = jnp.concatenate([corner, row], axis=1)[:, None]
        return jnp.concatenate([top, jnp.concatenate([col[:, :, None], body], axis=2)], axis=1)

    def tokens(self, video: jax.Array) -> jax.Array:
        """`video [B, T, H, W, 3]` → C-VidTr `[B, 1+T·HW, D]` or VidTr `[B, T+1, HW+1, D]`."""
        x = self.embed(video)
        b, t, h, w, d = x.shape
        cast = lambda p, shape: jnp.broadcast_to(p[...].astype(x.dtype), shape)
        if self.compact:
            return jnp.concatenate([cast(self.cls, (b, 1, d)), x.reshape(b, t * h * w, d)], 1)
        return self._grid(cast(self.cls, (b, 1, d)), cast(self.cls_row, (b, h * w, d)),
                          cast(self.cls_col, (b, t, d)), x.reshape(b, t, h * w, d))

    def position_embedding(self) -> jax.Array:
        """The official table in the token layout: `[1, 1+T·HW, D]` or `[1, T+1, HW+1, D]`."""
        pos = self.Transformer.posembed_input.pos_embedding[...]
        if self.compact:
            return pos
        t, h, w = self.grid
        return self._grid(pos[:, :1], self.posembed_row[...], self.posembed_col[...],
                          pos[:, 1:].reshape(1, t, h * w, -1))

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` → `(logits [B, classes], out)`; `out["attention"]` per layer
        `{"temporal", "spatial", "kept"}` (VidTr as the paper reading; C-VidTr's temporal maps
        are `[B, S, H, τ, T]`, kept `[B, S, H, τ]` per head) or `{"joint": [B, H, N, N]}`."""
        x = self.input_dropout(self.tokens(video), deterministic=not train, rngs=rngs)
        x, weights = self.Transformer.run_blocks(
            x, train=train, rngs=rngs, return_weights=return_attention,
            pos=self.position_embedding().astype(x.dtype))
        pre_logits = self.Transformer.encoder_norm(x[:, 0] if self.compact else x[:, 0, 0])
        t, h, w = self.grid
        frames = (x.shape[1] - 1) // (h * w) if self.compact else x.shape[1] - 1
        out = {"pre_logits": pre_logits, "grid": self.grid, "frames": frames}
        if return_attention:
            out["attention"] = weights
        return self.head(pre_logits), out


# The class the registry (`vivit_jax.models.build_model`) builds for this module.
MODEL = VidTrGluonmm
