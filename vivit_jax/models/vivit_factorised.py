"""The factorised blocks of ViViT Models 3 and 4 (Arnab et al. 2021, Section 3.3).

Both are `layers.EncoderBlock`s over time-major tokens kept as `x [..., t, s, D]`
(t temporal indices, s = h·w spatial positions). The attention core stays
`layers.dot_product_attention`: the leading axes are batch-like, so spatial attention is
attention over axis -2 of `[..., t, s, D]` and temporal attention the same on the swapped
view `[..., s, t, D]`; nothing is copied from the core.

- `FactorisedSelfAttentionBlock` (Model 3): spatial MSA, temporal MSA, MLP, each a pre-LN
  residual sub-layer. The spatial sub-layer keeps ViT's names (`LayerNorm_0`,
  `MultiHeadDotProductAttention_1`) so a ViT block loads unchanged; the temporal one is
  `LayerNorm_temporal` + `MultiHeadDotProductAttention_temporal`.
- `FactorisedDotProductBlock` (Model 4): one ViT attention whose heads are split in two
  halves; one half attends over space (keys of the same frame), the other over time
  (keys at the same spatial position); outputs concatenated before the shared output
  projection. Parameters are exactly a ViT block's.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from vivit_jax.models import layers, tokenizers

ATTENTION_ORDERS = ("space_time", "time_space")
TEMPORAL_INITS = ("copy_spatial", "zero")


def _swap_st(x: jax.Array, axis: int = -2) -> jax.Array:
    """`[..., t, s, (H,) D]` ↔ `[..., s, t, (H,) D]`; `axis` is the second of the two."""
    return jnp.swapaxes(x, axis - 1, axis)


class FactorisedSelfAttentionBlock(layers.EncoderBlock):
    """ViViT Model 3 block: spatial MSA, temporal MSA (order selectable), then the MLP.

    `temporal_init` (Section 3.4, "Transformer weights for Model 3"): 'copy_spatial' starts the
    temporal MSA as a copy of the spatial one (Scenic copies the ViT attention into both);
    'zero' zero-initialises its output projection so the temporal sub-layer starts as the
    identity (the paper's residual initialisation). The paper zeroes "the weights"; zeroing
    query/key/value too would also zero every gradient but the output bias, so only the
    output projection is zeroed.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *,
                 attention_order: str = "space_time", temporal_init: str = "copy_spatial",
                 dropout: float = 0.0, drop_path: float = 0.0,
                 dtype=jnp.float32, attention_impl: str | None = None, rngs: nnx.Rngs,
                 approximate_gelu: bool = False):
        tokenizers.choice("attention_order", attention_order, ATTENTION_ORDERS)
        tokenizers.choice("temporal_attention_init", temporal_init, TEMPORAL_INITS)
        super().__init__(dim, num_heads, mlp_dim, dropout=dropout, drop_path=drop_path,
                         dtype=dtype, attention_impl=attention_impl, rngs=rngs,
                         approximate_gelu=approximate_gelu)
        self.order = ("spatial", "temporal") if attention_order == "space_time" else (
            "temporal", "spatial")
        self.LayerNorm_temporal = layers.layer_norm(dim, dtype=dtype, rngs=rngs)
        self.MultiHeadDotProductAttention_temporal = layers.Attention(
            dim, num_heads, dtype=dtype, attention_impl=attention_impl, rngs=rngs)
        temporal = self.MultiHeadDotProductAttention_temporal
        if temporal_init == "copy_spatial":
            # Copies values (not Variables: sharing them would tie the two attentions).
            spatial = self.MultiHeadDotProductAttention_1
            for proj in ("query", "key", "value", "out"):
                for name in ("kernel", "bias"):
                    dst = getattr(getattr(temporal, proj), name)
                    dst[...] = getattr(getattr(spatial, proj), name)[...]
        else:
            temporal.out.kernel[...] = jnp.zeros_like(temporal.out.kernel[...])

    def _attention_sublayer(self, axis: str, x: jax.Array, *, train: bool,
                            rngs: nnx.Rngs | None, return_weights: bool, rate):
        """`x + drop_path(dropout(MSA(LN(x))))` over space (per frame) or time (per position)."""
        if axis == "spatial":
            y, w = self.MultiHeadDotProductAttention_1(self.LayerNorm_0(x),
                                                       return_weights=return_weights)
        else:
            x_sd = _swap_st(x)  # [..., s, t, D]: attention over the t frames of each position.
            y, w = self.MultiHeadDotProductAttention_temporal(self.LayerNorm_temporal(x_sd),
                                                              return_weights=return_weights)
            y = _swap_st(y)
        y = self.dropout(y, deterministic=not train, rngs=rngs)
        return x + layers.drop_path(y, rate, train=train, rngs=rngs), w

    def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_weights: bool = False, drop_path_rate=None
                 ) -> tuple[jax.Array, dict[str, Any] | None]:
        """`x [B, t, s, D]` → `(x, {'spatial': [B, t, H, s, s], 'temporal': [B, s, H, t, t]})`.

        `drop_path_rate` overrides the block's own rate (`layers.Encoder(scan=True)` passes it).
        """
        rate = self.drop_path_rate if drop_path_rate is None else drop_path_rate
        weights = {}
        x = layers.constrain(x)  # Block boundary: [batch, t, s, embed].
        for axis in self.order:
            x, weights[axis] = self._attention_sublayer(axis, x, train=train, rngs=rngs,
                                                        return_weights=return_weights, rate=rate)
            x = layers.constrain(x)
        y = self.MlpBlock_3(self.LayerNorm_2(x), train=train, rngs=rngs)
        x = x + layers.drop_path(y, rate, train=train, rngs=rngs)
        return layers.constrain(x), (weights if return_weights else None)


def factorised_dot_product_attend(attn: layers.Attention, x: jax.Array, return_weights: bool,
                                  *, spatial_first: bool = True):
    """Model 4 attention on `x [..., t, s, D]`: half the heads over space, half over time.

    Section 3.3: `Y = Concat(Y_s, Y_t) W_O`; with `spatial_first` the first half of the heads
    is spatial (the paper's order), else temporal (Scenic's `factorized_dot_product_attention`,
    whose checkpoints need it).
    """
    q, k, v = attn.qkv(x)  # [..., t, s, H, Dh]
    half = q.shape[-2] // 2
    first, second = (slice(None, half), slice(half, None))
    sp, tp = (first, second) if spatial_first else (second, first)
    core = partial(layers.dot_product_attention, return_weights=return_weights,
                   implementation=attn.attention_impl)
    y_s, w_s = core(q[..., sp, :], k[..., sp, :], v[..., sp, :])  # Keys of the same frame.
    # Keys at the same spatial position: swap to [..., s, t, H/2, Dh] around the core.
    y_t, w_t = core(*(_swap_st(a[..., tp, :], axis=-3) for a in (q, k, v)))
    y_t = _swap_st(y_t, axis=-3)
    y = jnp.concatenate([y_s, y_t] if spatial_first else [y_t, y_s], axis=-2)
    y = layers.constrain(y, layers.HEADS)
    return attn.out(y), ({"spatial": w_s, "temporal": w_t} if return_weights else None)


class FactorisedDotProductBlock(layers.EncoderBlock):
    """ViViT Model 4 block: a ViT block whose attention runs `factorised_dot_product_attend`."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *,
                 attention_order: str = "space_time", dropout: float = 0.0,
                 drop_path: float = 0.0, dtype=jnp.float32,
                 attention_impl: str | None = None, rngs: nnx.Rngs,
                 approximate_gelu: bool = False):
        if num_heads % 2:
            raise ValueError(f"model.num_heads={num_heads} must be even for "
                             f"model.model_type='factorised_dot_product' (half the heads attend "
                             f"over space, half over time)")
        tokenizers.choice("attention_order", attention_order, ATTENTION_ORDERS)
        super().__init__(dim, num_heads, mlp_dim, dropout=dropout, drop_path=drop_path,
                         dtype=dtype, attention_impl=attention_impl, rngs=rngs,
                         approximate_gelu=approximate_gelu)
        self.spatial_first = attention_order == "space_time"

    def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_weights: bool = False, drop_path_rate=None
                 ) -> tuple[jax.Array, dict[str, Any] | None]:
        """`x [B, t, s, D]` → `(x, {'spatial': [B, t, H/2, s, s], 'temporal': [B, s, H/2, t, t]})`.
        """
        attend = partial(factorised_dot_product_attend, spatial_first=self.spatial_first)
        return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights,
                                attend=attend, drop_path_rate=drop_path_rate)
