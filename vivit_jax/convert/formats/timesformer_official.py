"""Official TimeSformer checkpoints (facebookresearch/TimeSformer `timesformer/models/vit.py`).

The released `.pyth` files (`TimeSformer_divST_8x32_224_K400.pyth`, …) are a dict whose
`model_state` holds the `VisionTransformer` under the `model.` prefix; `readers.TO_SAFETENSORS`
turns one into a `.safetensors` file of that state dict. Names: `LAYOUT` (fused q, k, v rows
in `attn.qkv [3D, D]`; the temporal_* tensors only in the divided model).

The file does not say everything: the attention type follows from the tensors (temporal_*
→ divided, else time_embed → joint, else space-only), frames from `time_embed`, resolution
from `pos_embed` (square grid), classes from `head`; the head count is not stored (fused
`qkv`), so it is ViT's for the standard widths (768 → 12 heads) and `D / 64` otherwise,
named in a note (`--config.model.num_heads` changes it; `transfer` regroups the heads).
GELU: exact (erf), the official `nn.GELU`; data settings: `protocols.timesformer_dataset`.

The Hugging Face reader (`hf_timesformer.py`), whose checkpoints are conversions of these,
renames its tensors into these names and loads them with `load`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vivit_jax.convert import protocols, released
from vivit_jax.convert.formats import common
from vivit_jax.convert.vit_layouts import (
    BLOCK,
    Layout,
    dense_rows,
    frame_kernel,
    ln_rows,
    out_kernel,
    qkv_rows,
)

DESCRIPTION = ("official TimeSformer (facebookresearch/TimeSformer) .pyth state dict, "
               "converted to .safetensors: model.blocks.N.attn.qkv, model.time_embed, …")

def _attention_rows(src: str, dst: str) -> list:
    """A fused-qkv torch attention (`{src}.qkv`, `{src}.proj`) → our q/k/v/out."""
    return [*qkv_rows(rf"{src}\.qkv\.weight", rf"{src}\.qkv\.bias", dst),
            *dense_rows(rf"{src}\.proj", dst + "/out", out_kernel)]


LAYOUT = Layout(
    name="timesformer", gelu="erf", heads_in_shapes=False,
    marker=r"blocks\.0\.attn\.qkv\.weight", prefixes=("model.",),
    rows=(
        (r"patch_embed\.proj\.weight", "embedding/conv/kernel", frame_kernel),
        (r"patch_embed\.proj\.bias", "embedding/conv/bias", None),
        (r"cls_token", "cls", None),
        (r"pos_embed", "Transformer/posembed_input/pos_embedding", None),
        (r"time_embed", "time_embed", None),
        *ln_rows(r"blocks\.(\d+)\.norm1", BLOCK + "/LayerNorm_0"),
        *_attention_rows(r"blocks\.(\d+)\.attn", BLOCK + "/MultiHeadDotProductAttention_1"),
        *ln_rows(r"blocks\.(\d+)\.temporal_norm1", BLOCK + "/temporal_norm"),
        *_attention_rows(r"blocks\.(\d+)\.temporal_attn", BLOCK + "/temporal_attn"),
        *dense_rows(r"blocks\.(\d+)\.temporal_fc", BLOCK + "/temporal_fc"),
        *ln_rows(r"blocks\.(\d+)\.norm2", BLOCK + "/LayerNorm_2"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc1", BLOCK + "/MlpBlock_3/Dense_0"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc2", BLOCK + "/MlpBlock_3/Dense_1"),
        *ln_rows(r"norm", "Transformer/encoder_norm"),
        *dense_rows(r"head", "head"),
    ))


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """Fused `blocks.0.attn.qkv` with a time embedding or temporal attention (divided /
    joint), or under the `model.` prefix of a `.pyth` state (space-only has neither)."""
    plain = common.strip(tensors, LAYOUT.prefixes)[0]
    if "blocks.0.attn.qkv.weight" not in plain or "cls_token" not in plain:
        return False
    return ("time_embed" in plain or "blocks.0.temporal_attn.qkv.weight" in plain
            or "model.blocks.0.attn.qkv.weight" in tensors)


def _timesformer_sizes(src: dict[str, np.ndarray], path: str) -> dict[str, Any]:
    """What the tensors tell: widths, depth, grid, frames, classes, attention type."""
    kernel = common.need(src, "patch_embed.proj.weight", path, 4)
    n_tokens = common.need(src, "pos_embed", path, 3).shape[1]
    side = int(round((n_tokens - 1) ** 0.5))
    if n_tokens < 2 or side * side != n_tokens - 1:
        raise released.ReleasedError(f"{path!r}: tensor 'model.pos_embed' has {n_tokens} "
                                     f"rows, not 1 CLS + a square patch grid")
    layers = common.depth(list(src), r"blocks\.(\d+)\.")
    if not layers:
        raise released.ReleasedError(f"{path!r}: no blocks.N tensors")
    attention_type = ("divided_space_time" if any(k.startswith("blocks.0.temporal_") for k in src)
                      else "joint_space_time" if "time_embed" in src else "space_only")
    head = src.get("head.weight")
    return dict(d=kernel.shape[0], patch=kernel.shape[-1], n_tokens=n_tokens, side=side,
                layers=layers, mlp=common.need(src, "blocks.0.mlp.fc1.weight", path, 2).shape[0],
                attention_type=attention_type, classes=head.shape[0] if head is not None else 400,
                frames=(common.need(src, "time_embed", path, 3).shape[1]
                        if "time_embed" in src else 8))


def load(src: dict[str, np.ndarray], names: dict[str, str], path: str, s: dict[str, Any],
         heads: int) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """`common.rename` by `LAYOUT` after checking every shape against the sizes `s` (`d`,
    `mlp`, `n_tokens`, `frames`, `patch`, `classes`); `names`: the file's names."""
    d, mlp, blk = s["d"], s["mlp"], r"blocks\.\d+\."
    common.check_shapes(src, {
        r"cls_token": (1, 1, d), r"pos_embed": (1, s["n_tokens"], d),
        r"time_embed": (1, s["frames"], d),
        r"patch_embed\.proj\.weight": (d, 3, s["patch"], s["patch"]),
        blk + r"(temporal_)?attn\.qkv\.weight": (3 * d, d),
        blk + r"(temporal_)?attn\.qkv\.bias": (3 * d,),
        blk + r"((temporal_)?attn\.proj|temporal_fc)\.weight": (d, d),
        blk + r"mlp\.fc1\.weight": (mlp, d), blk + r"mlp\.fc1\.bias": (mlp,),
        blk + r"mlp\.fc2\.weight": (d, mlp), r"head\.weight": (s["classes"], d),
        r"head\.bias": (s["classes"],), r".*\.(weight|bias)": (d,)}, path, shown=names)
    return common.rename(src, LAYOUT, heads, path, names)


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """An official TimeSformer state dict → our params and the reference's config."""
    src, names = common.strip(tensors, LAYOUT.prefixes)
    s = _timesformer_sizes(src, path)
    (d, patch), (heads, heads_note) = (s["d"], s["patch"]), common.default_heads(s["d"])
    params, ignored, adapted = load(src, names, path, s, heads)
    notes = [heads_note]
    if s["attention_type"] == "space_only":
        notes.append("no time embedding: 8 frames assumed (the official Space model; any "
                     "dataset.num_frames runs)")
    if "head.weight" not in src:
        notes.append("no classifier head in the checkpoint: it stays freshly initialised")
    size = s["side"] * patch
    config = dict(
        model=protocols.timesformer_model(
            hidden=d, layers=s["layers"], mlp=s["mlp"], heads=heads, patch=patch,
            attention_type=s["attention_type"], approximate_gelu=False),
        dataset=protocols.timesformer_dataset(
            num_classes=s["classes"], num_frames=s["frames"], image_size=size, min_resize=size))
    return released.Released(format="timesformer", source=path, params=params, config=config,
                             adapted=adapted, ignored=ignored, notes=notes)
