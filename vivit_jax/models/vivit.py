"""ViViT (Arnab et al., ICCV 2021, arXiv:2103.15691).

Model 1, spatio-temporal attention: a tubelet embedding (a 3D convolution with stride =
kernel = t×h×w, kernel `[t, h, w, c, d]`) turns the clip into time-major tokens
(t, h, w); one transformer encoder runs over all of them plus a CLS token; the CLS output
(or the token average) is classified.

Parameter names follow the ViT checkpoints Scenic's ViViT loads from: `embedding`,
`cls`, `Transformer/posembed_input/pos_embedding`, `Transformer/encoderblock_{i}/…`,
`Transformer/encoder_norm`, `head`.
"""
from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from vivit_jax.models import layers

# Sizes of ViT (Dosovitskiy et al. 2021, Table 1) used by ViViT (Section 4.1): width,
# depth, MLP width, heads. Ti and S are the DeiT sizes.
SIZES = {
    "Ti": dict(hidden_size=192, num_layers=12, mlp_dim=768, num_heads=3),
    "S": dict(hidden_size=384, num_layers=12, mlp_dim=1536, num_heads=6),
    "B": dict(hidden_size=768, num_layers=12, mlp_dim=3072, num_heads=12),
    "L": dict(hidden_size=1024, num_layers=24, mlp_dim=4096, num_heads=16),
    "H": dict(hidden_size=1280, num_layers=32, mlp_dim=5120, num_heads=16),
}
_VARIANT_RE = re.compile(r"^(?P<size>[A-Za-z]+)/(?P<patch>\d+)(?:x(?P<t>\d+))?$")


def decode_variant(variant: str) -> dict[str, Any]:
    """`"B/16x2"` → ViT-B sizes, 16×16 patches, tubelets 2 frames deep (`x2` optional)."""
    m = _VARIANT_RE.match(variant)
    if not m or m["size"] not in SIZES:
        raise ValueError(f"model.variant={variant!r}: expected SIZE/PATCH[xT] with SIZE in "
                         f"{sorted(SIZES)}, e.g. 'B/16x2'")
    patch = int(m["patch"])
    return dict(SIZES[m["size"]], patch_size=(patch, patch), tubelet_t=int(m["t"] or 1))


def default_config() -> ml_collections.ConfigDict:
    """Every field the ViViT family reads; a config's `model` section may set any of them."""
    return ml_collections.ConfigDict(dict(
        family="vivit",
        variant="B/16x2",
        # Sizes that override the variant's (0 = take the variant's value).
        hidden_size=0, num_layers=0, mlp_dim=0, num_heads=0,
        classifier="token",  # 'token' (CLS) or 'gap' (mean of the tokens).
        dropout=0.0,
        drop_path=0.0,  # Max stochastic-depth rate; linear over depth.
        remat=False,  # Rematerialise each block in the backward pass.
        attention_impl="",  # '' (XLA picks), 'xla' or 'cudnn' for jax.nn.dot_product_attention.
    ))


def resolve_sizes(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
    """The variant's sizes with the config's explicit overrides applied."""
    sizes = decode_variant(cfg.variant)
    for key in ("hidden_size", "num_layers", "mlp_dim", "num_heads"):
        if cfg.get(key):
            sizes[key] = cfg[key]
    if sizes["hidden_size"] % sizes["num_heads"]:
        raise ValueError(f"model.hidden_size={sizes['hidden_size']} is not divisible by "
                         f"model.num_heads={sizes['num_heads']}")
    return sizes


class PositionEmbedding(nnx.Module):
    """Learned additive position embedding `[1, N, D]` (`posembed_input/pos_embedding`)."""

    def __init__(self, num_tokens: int, dim: int, *, rngs: nnx.Rngs):
        self.pos_embedding = nnx.Param(
            layers.with_axes(nnx.initializers.normal(0.02), (None, None, "embed"))(
                rngs.params(), (1, num_tokens, dim)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.pos_embedding[...].astype(x.dtype)


class TubeletEmbedding(nnx.Module):
    """3D patch embedding; with t=1 it is ViViT's uniform frame sampling."""

    def __init__(self, tubelet: tuple[int, int, int], dim: int, *, dtype, rngs: nnx.Rngs):
        self.conv = nnx.Conv(
            3, dim, kernel_size=tubelet, strides=tubelet, padding="VALID", dtype=dtype,
            kernel_init=layers.with_axes(nnx.initializers.lecun_normal(),
                                         (None, None, None, None, "embed")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("embed",)), rngs=rngs)

    def __call__(self, x_bthwc: jax.Array) -> jax.Array:
        return self.conv(x_bthwc)  # [B, t, h, w, D], time-major.


def token_grid(input_shape: tuple[int, int, int], tubelet: tuple[int, int, int]):
    """Number of tokens along (t, h, w); refuses sizes the tubelet does not divide."""
    names = ("dataset.num_frames", "dataset.image_size", "dataset.image_size")
    grid = []
    for n, k, name in zip(input_shape, tubelet, names):
        if n % k:
            raise ValueError(f"{name}={n} is not divisible by the tubelet/patch size {k} "
                             f"(tubelet t×h×w = {tubelet})")
        grid.append(n // k)
    return tuple(grid)


class ViViT(nnx.Module):
    """ViViT Model 1 (spatio-temporal attention)."""

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        s = resolve_sizes(cfg)
        tubelet = (s["tubelet_t"], *s["patch_size"])
        self.grid = token_grid(input_shape, tubelet)
        if cfg.classifier not in ("token", "gap"):
            raise ValueError(f"model.classifier={cfg.classifier!r}: expected 'token' or 'gap'")
        self.classifier = cfg.classifier
        d = s["hidden_size"]
        self.embedding = TubeletEmbedding(tubelet, d, dtype=dtype, rngs=rngs)
        num_tokens = self.grid[0] * self.grid[1] * self.grid[2]
        if self.classifier == "token":
            self.cls = nnx.Param(layers.with_axes(nnx.initializers.zeros, (None, None, "embed"))(
                rngs.params(), (1, 1, d)))
            num_tokens += 1
        self.Transformer = _TransformerWithPosemb(
            num_tokens, s, dropout=cfg.dropout, drop_path=cfg.drop_path, dtype=dtype,
            attention_impl=cfg.attention_impl or None, remat=cfg.remat, rngs=rngs)
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` → `(logits [B, classes], out)`."""
        x = self.embedding(video)
        b, t, h, w, d = x.shape
        x = x.reshape(b, t * h * w, d)
        if self.classifier == "token":
            x = jnp.concatenate([jnp.broadcast_to(self.cls[...].astype(x.dtype), (b, 1, d)), x], 1)
        x, weights = self.Transformer(x, train=train, rngs=rngs, return_weights=return_attention)
        pre_logits = x[:, 0] if self.classifier == "token" else x.mean(axis=1)
        out = {"pre_logits": pre_logits, "grid": (t, h, w)}
        if return_attention:
            out["attention"] = weights
        return self.head(pre_logits), out


class _TransformerWithPosemb(layers.Encoder):
    """`Transformer/`: position embedding + dropout + the encoder stack (ViT layout)."""

    def __init__(self, num_tokens: int, sizes: dict[str, Any], *, dropout: float,
                 drop_path: float, dtype, attention_impl, remat: bool, rngs: nnx.Rngs):
        super().__init__(sizes["num_layers"], sizes["hidden_size"], sizes["num_heads"],
                         sizes["mlp_dim"], dropout=dropout, drop_path=drop_path, dtype=dtype,
                         attention_impl=attention_impl, remat=remat, rngs=rngs)
        self.posembed_input = PositionEmbedding(num_tokens, sizes["hidden_size"], rngs=rngs)
        self.input_dropout = nnx.Dropout(dropout)

    def __call__(self, x, *, train=False, rngs=None, return_weights=False):
        x = self.input_dropout(self.posembed_input(x), deterministic=not train, rngs=rngs)
        return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights)
