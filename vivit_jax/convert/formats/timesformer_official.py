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
The reference's data settings (its `configs/Kinetics/TimeSformer_*_8x32_224.yaml`): frames at
sampling rate 32 for 8 frames (16x16 for the 448² HR model, 96x4 for L: 256 frames of 30 fps
each time, so `stride = 256 / T`), short side 224 then 3 crops of 224 (`TEST_CROP_SIZE`,
`NUM_SPATIAL_CROPS: 3`, one clip), mean 0.45 / std 0.225 on [0, 1]; Something-Something v2
(174 classes): one frame per segment (`sampling='tsn'`), no flips. GELU: exact (erf), the
official `nn.GELU`.

The Hugging Face reader (`hf_timesformer.py`), whose checkpoints are conversions of these,
renames its tensors into these names and uses the rest of this module.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from vivit_jax.convert import released
from vivit_jax.convert.formats import common
from vivit_jax.convert.vit_layouts import BLOCK, Layout, dense_rows, ln_rows, out_kernel, qkv_rows

DESCRIPTION = ("official TimeSformer (facebookresearch/TimeSformer) .pyth state dict, "
               "converted to .safetensors: model.blocks.N.attn.qkv, model.time_embed, …")

SSV2_CLASSES = 174
OFFICIAL_MEAN, OFFICIAL_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


def _attention_rows(src: str, dst: str) -> list:
    """A fused-qkv torch attention (`{src}.qkv`, `{src}.proj`) → our q/k/v/out."""
    return [*qkv_rows(rf"{src}\.qkv\.weight", rf"{src}\.qkv\.bias", dst),
            *dense_rows(rf"{src}\.proj", dst + "/out", out_kernel)]


LAYOUT = Layout(
    name="timesformer", gelu="erf", heads_in_shapes=False,
    marker=r"blocks\.0\.attn\.qkv\.weight", prefixes=("model.",),
    rows=(
        (r"patch_embed\.proj\.weight", "embedding/conv/kernel", common.frame_kernel),
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


def timesformer_model(*, hidden: int, layers: int, mlp: int, heads: int, patch: int,
                      attention_type: str, approximate_gelu: bool) -> dict[str, Any]:
    """Our `model` section for a TimeSformer of these sizes (variant named when standard)."""
    name = common.size_name(hidden=hidden, layers=layers, mlp=mlp, heads=heads)
    return dict(family="timesformer", variant=f"{name}/{patch}", attention_type=attention_type,
                approximate_gelu=approximate_gelu, hidden_size=hidden, num_layers=layers,
                mlp_dim=mlp, num_heads=heads)


def timesformer_dataset(*, num_classes: int, num_frames: int, image_size: int,
                        min_resize: int, mean=OFFICIAL_MEAN, std=OFFICIAL_STD
                        ) -> dict[str, Any]:
    """Our `dataset` section for the official test protocol (module docstring)."""
    ssv2 = num_classes == SSV2_CLASSES
    return dict(name="dmvr", num_classes=num_classes, num_frames=num_frames,
                sampling="tsn" if ssv2 else "dense",
                stride=1 if ssv2 else max(1, 256 // num_frames),
                image_size=image_size, min_resize=min_resize, random_flip=not ssv2,
                normalization="mean_std", mean=tuple(float(m) for m in mean),
                std=tuple(float(s) for s in std), test_clips=1, test_crops=3,
                test_aggregate="probs")


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """Fused `blocks.0.attn.qkv` with a time embedding or temporal attention (divided /
    joint), or under the `model.` prefix of a `.pyth` state (space-only has neither)."""
    plain = common.strip(tensors, LAYOUT.prefixes)[0]
    if "blocks.0.attn.qkv.weight" not in plain or "cls_token" not in plain:
        return False
    return ("time_embed" in plain or "blocks.0.temporal_attn.qkv.weight" in plain
            or "model.blocks.0.attn.qkv.weight" in tensors)


def _sizes(src: dict[str, np.ndarray], path: str) -> dict[str, Any]:
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
    if any(k.startswith("blocks.0.temporal_") for k in src):
        attention_type = "divided_space_time"
    elif "time_embed" in src:
        attention_type = "joint_space_time"
    else:
        attention_type = "space_only"
    head = src.get("head.weight")
    return dict(d=kernel.shape[0], patch=kernel.shape[-1], n_tokens=n_tokens, side=side,
                layers=layers, mlp=common.need(src, "blocks.0.mlp.fc1.weight", path, 2).shape[0],
                attention_type=attention_type, classes=head.shape[0] if head is not None else 400,
                frames=(common.need(src, "time_embed", path, 3).shape[1]
                        if "time_embed" in src else 8))


def expected_shapes(*, d: int, mlp: int, n_tokens: int, frames: int, patch: int,
                    classes: int) -> dict[str, tuple[int, ...]]:
    """Name regex → shape of every tensor of an official TimeSformer of these sizes."""
    blk = r"blocks\.\d+\."
    return {
        r"cls_token": (1, 1, d), r"pos_embed": (1, n_tokens, d), r"time_embed": (1, frames, d),
        r"patch_embed\.proj\.weight": (d, 3, patch, patch),
        blk + r"(temporal_)?attn\.qkv\.weight": (3 * d, d),
        blk + r"(temporal_)?attn\.qkv\.bias": (3 * d,),
        blk + r"((temporal_)?attn\.proj|temporal_fc)\.weight": (d, d),
        blk + r"mlp\.fc1\.weight": (mlp, d), blk + r"mlp\.fc1\.bias": (mlp,),
        blk + r"mlp\.fc2\.weight": (d, mlp), r"head\.weight": (classes, d),
        r"head\.bias": (classes,), r".*\.(weight|bias)": (d,)}


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """An official TimeSformer state dict → our params and the reference's config."""
    src, names = common.strip(tensors, LAYOUT.prefixes)
    s = _sizes(src, path)
    d, patch = s["d"], s["patch"]
    common.check_shapes(src, expected_shapes(
        d=d, mlp=s["mlp"], n_tokens=s["n_tokens"], frames=s["frames"], patch=patch,
        classes=s["classes"]), path, shown=names)
    heads = common.default_heads(d)
    params, ignored = common.rename(src, LAYOUT, heads, path)
    notes = [f"the checkpoint does not store the head count: {heads} heads of "
             f"{d // heads} for width {d} (set --config.model.num_heads if it was trained "
             f"with another)"]
    if s["attention_type"] == "space_only":
        notes.append("no time embedding: 8 frames assumed (the official Space model; any "
                     "dataset.num_frames runs)")
    if "head.weight" not in src:
        notes.append("no classifier head in the checkpoint: it stays freshly initialised")
    size = s["side"] * patch
    config = dict(
        model=timesformer_model(hidden=d, layers=s["layers"], mlp=s["mlp"], heads=heads,
                                patch=patch, attention_type=s["attention_type"],
                                approximate_gelu=False),
        dataset=timesformer_dataset(num_classes=s["classes"], num_frames=s["frames"],
                                    image_size=size, min_resize=size))
    return released.Released(
        format="timesformer", source=path, params=params, config=config,
        adapted=adapted_names(tensors), ignored=ignored, notes=notes)


def adapted_names(tensors: dict[str, np.ndarray]) -> list[str]:
    """'ours ← theirs: how' for the tensors that are more than renamed (torch Linear kernels
    are transposed too, everywhere: not listed)."""
    out = []
    for k in sorted(tensors):
        m = re.search(r"(?:blocks|layer)\.(\d+)\.(temporal_)?attn(?:ention)?(?:\.attention)?"
                      r"\.qkv\.weight$", k)
        if m:
            attn = "temporal_attn" if m[2] else "MultiHeadDotProductAttention_1"
            out.append(f"{BLOCK.format(m[1])}/{attn}/{{query,key,value}} ← {k}: fused qkv "
                       f"rows split, heads made an axis")
        elif re.search(r"patch_embed(dings)?\.proj(ection)?\.weight$", k):
            out.append(f"embedding/conv/kernel ← {k}: [D, 3, p, p] → [1, p, p, 3, D]")
    return out
