"""ViViT (Arnab et al., ICCV 2021, arXiv:2103.15691): Models 1-4 of Section 3.3.

The clip is tokenised (Section 3.2) by `model.tokenizer`: 'tubelet' = a 3D convolution with
stride = kernel = t×h×w (kernel `[t, h, w, c, d]`, the `xT` of the variant), 'frame' =
uniform frame sampling, i.e. the same with t = 1 (per-frame 2D patches, kernel
`[1, h, w, c, d]`). Tokens are time-major (t, h, w). `model.model_type` picks the model:

- `spatio_temporal` (Model 1): one encoder over CLS ⊕ all tokens.
- `factorised_encoder` (Model 2): a spatial encoder per temporal index over CLS ⊕ that
  index's tokens (the per-frame CLS shared by all frames), then a temporal encoder of
  `model.temporal_layers` layers (ViT width) over the frame representations ⊕ a temporal CLS.
  `temporal_layers=0` is the paper's "average pool baseline" (Table 2): no temporal encoder,
  the frame representations are averaged. `model.classifier` picks the frame representation
  (spatial CLS, or mean / max of the frame's tokens), `model.temporal_classifier` the clip one.
- `factorised_self_attention` (Model 3): blocks of spatial MSA, temporal MSA, MLP
  (`model.attention_order`); no CLS: global average pooling head (or max, 'gmp').
- `factorised_dot_product` (Model 4): half the heads attend over space, half over time;
  no CLS: global average pooling head (or max, 'gmp').

Parameter names follow the ViT checkpoints Scenic's ViViT loads from: `embedding/conv`,
`cls`, `Transformer/posembed_input/pos_embedding`, `Transformer/encoderblock_{i}/…`,
`Transformer/encoder_norm`, `head`. Model 2: `Transformer` is the spatial encoder (a ViT
loads into it as is, its `posembed_input` `[1, 1+h·w, D]`), `TemporalTransformer/…` the
temporal one (`posembed_input` `[1, 1+t, D]`) and `cls_temporal` its CLS token. Model 3 adds
`LayerNorm_temporal` and `MultiHeadDotProductAttention_temporal` to every block; Model 4 has
exactly Model 1's parameters (no `cls`). Models 3-4 use one joint position embedding
`[1, t·h·w, D]`, as Table 2's parameter counts imply.

`out["attention"]` (with `return_attention=True`): Model 1 a list over layers of
`[B, H, N, N]`; Models 2-4 `{'spatial': [...], 'temporal': [...]}`, lists over layers of
`[B, t, H', n, n]` (attention within a frame) and `[B, (s,) H', t', t']` (across time).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import einops
import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from vivit_jax.models import layers, tokenizers
from vivit_jax.models.vivit_factorised import (
    ATTENTION_ORDERS,
    TEMPORAL_INITS,
    FactorisedDotProductBlock,
    FactorisedSelfAttentionBlock,
)

MODEL_TYPES = ("spatio_temporal", "factorised_encoder", "factorised_self_attention",
               "factorised_dot_product")
# Models 3 and 4 have no CLS token (Section 3.3); Models 1-2 default to it (as ViT).
_DEFAULT_CLASSIFIER = {"spatio_temporal": "token", "factorised_encoder": "token",
                       "factorised_self_attention": "gap", "factorised_dot_product": "gap"}


def default_config() -> ml_collections.ConfigDict:
    """Every field the ViViT family reads; a config's `model` section may set any of them."""
    return ml_collections.ConfigDict(dict(
        family="vivit",
        variant="B/16x2",
        # Sizes that override the variant's (0 = take the variant's value).
        hidden_size=0, num_layers=0, mlp_dim=0, num_heads=0,
        model_type="spatio_temporal",  # One of MODEL_TYPES (Models 1-4).
        tokenizer="tubelet",  # 'tubelet' (3D patches, variant's xT) or 'frame' (t = 1).
        # 'token' (CLS), 'gap' (mean of the tokens) or 'gmp' (their max, Scenic's option);
        # '' = the model type's: 'token' for Models 1-2, 'gap' for Models 3-4 (no CLS token).
        classifier="",
        # Model 2: layers of the temporal encoder (0 = the average-pool baseline) and its
        # readout (as `classifier`, '' not allowed). Scenic's ViViT-B recipe uses 4 layers;
        # Table 2's parameter count implies 2 (configs/kinetics400/vivit_b16x2_fe2_32x2x1_k400.py).
        temporal_layers=4,
        temporal_classifier="token",
        # Model 2: std of the temporal encoder's position embedding at init (ViT's 0.02). It is
        # the only place frame order enters Model 2; from scratch a larger value makes order
        # salient at step 0 instead of a near-symmetric start (TimeSformer's `time_embed_std`).
        temporal_posemb_std=0.02,
        # Models 3-4: 'space_time' (spatial MSA first; Model 4: first half of the heads
        # spatial; the paper's order, Section 3.3) or 'time_space' (Scenic's Model 3 default
        # and Model 4 head order: its checkpoints need it).
        attention_order="space_time",
        # Model 3: 'copy_spatial' (temporal MSA starts as the spatial one; converters copy the
        # ViT attention into both, as Scenic) or 'zero' (output projection zero: the
        # temporal sub-layer starts as the identity, the paper's Section 3.4 alternative).
        temporal_attention_init="copy_spatial",
        dropout=0.0,
        drop_path=0.0,  # Max stochastic-depth rate; linear over depth.
        remat=False,  # Rematerialise each block in the backward pass.
        remat_policy="nothing",  # What a remat block keeps: layers.REMAT_POLICIES.
        # Stack the blocks (`encoderblock` [L, …] instead of `encoderblock_{i}`) and run them
        # with nnx.scan: one compiled block, much faster compiles for ViViT-L/H.
        scan=False,
        attention_impl="",  # '' (CPU: cpu_kernels.attention, else XLA picks), 'xla' or 'cudnn'.
        # tanh-approximate GELU, as the ViT checkpoints ViViT starts from (Flax `nn.gelu`) and
        # as Table 2 counts it: exact (erf) GELU, which XLA expands into a polynomial, adds
        # ~3.4 GMACs per ViViT-B view (+0.7 % on Model 1, +1.2 % on Model 4).
        approximate_gelu=True,
    ))




class ViViT(nnx.Module):
    """ViViT Models 1-4 (`model.model_type`), `__call__(video) -> (logits, out)`."""

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        self.model_type = tokenizers.choice("model_type", cfg.model_type, MODEL_TYPES)
        s = tokenizers.resolve_sizes(cfg)
        tubelet = tokenizers.resolve_tubelet(cfg, s)
        self.grid = tokenizers.token_grid(input_shape, tubelet)
        self.classifier = tokenizers.choice("classifier", cfg.classifier or
                                  _DEFAULT_CLASSIFIER[self.model_type], tokenizers.CLASSIFIERS)
        if self.classifier == "token" and self.model_type in ("factorised_self_attention",
                                                               "factorised_dot_product"):
            raise ValueError(f"model.classifier='token' is not available for model.model_type="
                             f"{self.model_type!r} (no CLS token, Section 3.3); use 'gap'")
        self.temporal_classifier = tokenizers.choice(
            "temporal_classifier", cfg.temporal_classifier, tokenizers.CLASSIFIERS)
        attention_order = tokenizers.choice("attention_order", cfg.attention_order,
                                            ATTENTION_ORDERS)
        temporal_init = tokenizers.choice("temporal_attention_init", cfg.temporal_attention_init,
                                TEMPORAL_INITS)
        if cfg.temporal_layers < 0:
            raise ValueError(f"model.temporal_layers={cfg.temporal_layers} must be >= 0 "
                             f"(0 = average-pool baseline)")
        t, h, w = self.grid
        d = s["hidden_size"]
        stack = partial(_Transformer, sizes=s, dropout=cfg.dropout, drop_path=cfg.drop_path,
                        dtype=dtype, attention_impl=cfg.attention_impl or None, remat=cfg.remat,
                        remat_policy=cfg.remat_policy, scan=cfg.scan,
                        approximate_gelu=cfg.approximate_gelu, rngs=rngs)
        cls_init = layers.with_axes(nnx.initializers.zeros, (None, None, "embed"))
        with_cls = int(self.classifier == "token")

        self.embedding = tokenizers.TubeletEmbedding(tubelet, d, dtype=dtype, rngs=rngs)
        if with_cls:
            self.cls = nnx.Param(cls_init(rngs.params(), (1, 1, d)))
        if self.model_type == "spatio_temporal":
            self.Transformer = stack((with_cls + t * h * w,))
        elif self.model_type == "factorised_encoder":
            self.Transformer = stack((with_cls + h * w,))  # Per frame: a ViT as is.
            if cfg.temporal_layers:
                t_cls = int(self.temporal_classifier == "token")
                if t_cls:
                    self.cls_temporal = nnx.Param(cls_init(rngs.params(), (1, 1, d)))
                self.TemporalTransformer = stack((t_cls + t,), depth=cfg.temporal_layers,
                                                 posemb_std=cfg.temporal_posemb_std)
        elif self.model_type == "factorised_self_attention":
            self.Transformer = stack((t, h * w), block=partial(
                FactorisedSelfAttentionBlock, attention_order=attention_order,
                temporal_init=temporal_init))
        else:
            self.Transformer = stack((t, h * w), block=partial(
                FactorisedDotProductBlock, attention_order=attention_order))
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def _with_cls(self, x: jax.Array, cls: nnx.Param) -> jax.Array:
        """CLS ⊕ tokens along axis -2 (`x [..., n, D]`)."""
        cls = jnp.broadcast_to(cls[...].astype(x.dtype), x.shape[:-2] + (1, x.shape[-1]))
        return jnp.concatenate([cls, x], axis=-2)

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` → `(logits [B, classes], out)`."""
        x = self.embedding(video)
        grid = tuple(x.shape[1:4])  # (t, h, w) tokens.
        x_btsd = einops.rearrange(x, "b t h w d -> b t (h w) d")
        kw = dict(train=train, rngs=rngs, return_weights=return_attention)
        if self.model_type == "spatio_temporal":
            x = einops.rearrange(x, "b t h w d -> b (t h w) d")
            if self.classifier == "token":
                x = self._with_cls(x, self.cls)
            x, weights = self.Transformer(x, **kw)
            pre_logits = tokenizers.readout(x, self.classifier)
        elif self.model_type == "factorised_encoder":
            # The frames are the batch-like axis 1: each runs through the spatial encoder alone.
            x = self._with_cls(x_btsd, self.cls) if self.classifier == "token" else x_btsd
            x, spatial = self.Transformer(x, **kw)
            x_btd = tokenizers.readout(x, self.classifier)
            temporal = []
            if hasattr(self, "TemporalTransformer"):
                if self.temporal_classifier == "token":
                    x_btd = self._with_cls(x_btd, self.cls_temporal)
                x_btd, temporal = self.TemporalTransformer(x_btd, **kw)
                pre_logits = tokenizers.readout(x_btd, self.temporal_classifier)
            else:  # Average-pool baseline (Table 2): frame representations averaged.
                pre_logits = x_btd.mean(axis=1)
            weights = {"spatial": spatial, "temporal": temporal}
        else:  # Models 3-4: tokens stay [B, t, s, D] through the factorised blocks.
            x, per_layer = self.Transformer(x_btsd, **kw)
            pre_logits = tokenizers.readout(x, self.classifier, axis=(1, 2))
            weights = {k: [w[k] for w in per_layer] for k in ("spatial", "temporal")}
        out = {"pre_logits": pre_logits, "grid": grid}
        if return_attention:
            out["attention"] = weights
        return self.head(pre_logits), out


class _Transformer(layers.Encoder):
    """`Transformer/`: position embedding + dropout + the encoder stack (ViT layout).

    The embedding `[1, prod(token_shape), D]` covers the trailing token axes of the input:
    `[..., n, D]` (Models 1-2; leading axes batch-like) or `[B, t, s, D]` (Models 3-4).
    """

    def __init__(self, token_shape: tuple[int, ...], *, sizes: dict[str, Any], dropout: float,
                 drop_path: float, dtype, attention_impl, remat: bool, scan: bool,
                 remat_policy: str = "nothing",
                 approximate_gelu: bool, rngs: nnx.Rngs, depth: int | None = None,
                 block=layers.EncoderBlock, posemb_std: float = 0.02):
        super().__init__(sizes["num_layers"] if depth is None else depth, sizes["hidden_size"],
                         sizes["num_heads"], sizes["mlp_dim"], dropout=dropout,
                         drop_path=drop_path, dtype=dtype, attention_impl=attention_impl,
                         remat=remat, remat_policy=remat_policy, scan=scan, rngs=rngs,
                         block=partial(block, approximate_gelu=approximate_gelu))
        self.token_shape = tuple(token_shape)
        self.posembed_input = tokenizers.PositionEmbedding(
            math.prod(token_shape), sizes["hidden_size"], rngs=rngs, std=posemb_std)
        self.input_dropout = nnx.Dropout(dropout)

    def __call__(self, x, *, train=False, rngs=None, return_weights=False):
        pos = self.posembed_input.pos_embedding[...].reshape(self.token_shape + (x.shape[-1],))
        x = self.input_dropout(x + pos.astype(x.dtype), deterministic=not train, rngs=rngs)
        return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights)


# The class the registry (`vivit_jax.models.build_model`) builds for this module.
MODEL = ViViT
