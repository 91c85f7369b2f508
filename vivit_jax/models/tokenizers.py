"""The pieces every family shares: ViT sizes and variant names, the tubelet / frame
tokenizer, learned position embeddings, the readouts, and the check of a config choice.

ViViT (Arnab et al. 2021, Section 3.2) defines the two tokenizers; TimeSformer (frame
patches, i.e. 1-frame tubelets) and VidTr reuse them, as they reuse ViT's sizes (Dosovitskiy
et al. 2021, Table 1; Ti and S are DeiT's) and its `posembed_input/pos_embedding` and
`embedding` parameter names, so that a ViT checkpoint loads into any family.
"""
from __future__ import annotations

import re
from typing import Any

import jax
import ml_collections
from flax import nnx

from vivit_jax.models import layers

TOKENIZERS = ("tubelet", "frame")
# Readouts, as Scenic's ViViT: the CLS token, or global average / max pooling of the tokens.
CLASSIFIERS = ("token", "gap", "gmp")

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

    def __init__(self, num_tokens: int, dim: int, *, rngs: nnx.Rngs, std: float = 0.02):
        self.pos_embedding = nnx.Param(
            layers.with_axes(nnx.initializers.normal(std), (None, None, "embed"))(
                rngs.params(), (1, num_tokens, dim)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.pos_embedding[...].astype(x.dtype)


class TubeletEmbedding(nnx.Module):
    """3D patch embedding; with t=1 it is ViViT's uniform frame sampling."""

    def __init__(self, tubelet: tuple[int, int, int], dim: int, *, dtype, rngs: nnx.Rngs):
        self.conv = layers.Conv(
            3, dim, tubelet, tubelet, padding="VALID", dtype=dtype,
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


def readout(x: jax.Array, classifier: str, axis=-2) -> jax.Array:
    """The CLS token (first along axis -2) or the mean / max of the tokens over `axis`."""
    if classifier == "token":
        return x[..., 0, :]
    return x.mean(axis=axis) if classifier == "gap" else x.max(axis=axis)


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"model.{field}={value!r}: expected one of {allowed}")
    return value


def resolve_tubelet(cfg: ml_collections.ConfigDict, sizes: dict[str, Any]) -> tuple[int, int, int]:
    """(t, h, w) of the token embedding for `model.tokenizer` (Section 3.2)."""
    tokenizer = choice("tokenizer", cfg.get("tokenizer", "tubelet"), TOKENIZERS)
    if tokenizer == "frame" and sizes["tubelet_t"] != 1:
        # Uniform frame sampling embeds each frame alone; a deeper tubelet contradicts it.
        raise ValueError(f"model.tokenizer='frame' embeds single frames but model.variant="
                         f"{cfg.variant!r} asks for {sizes['tubelet_t']}-frame tubelets; use a "
                         f"variant without 'x{sizes['tubelet_t']}' or model.tokenizer='tubelet'")
    return (sizes["tubelet_t"], *sizes["patch_size"])
