"""Official TimeSformer checkpoints (facebookresearch/TimeSformer `timesformer/models/vit.py`).

The released `.pyth` files (`TimeSformer_divST_8x32_224_K400.pyth`, …) are a dict whose
`model_state` holds the `VisionTransformer` under the `model.` prefix; `released.TO_SAFETENSORS`
turns one into a `.safetensors` file of that state dict. Names:

    model.cls_token [1, 1, D]     model.pos_embed [1, 1+N, D]     model.time_embed [1, T, D]
    model.patch_embed.proj.{weight [D, 3, p, p], bias}
    model.blocks.{i}.norm1 / attn.qkv [3D, D] (fused q, k, v rows) / attn.proj / norm2 /
        mlp.fc1 / mlp.fc2, plus temporal_norm1 / temporal_attn.{qkv, proj} / temporal_fc
        (divided only)
    model.norm    model.head [K, D]

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

`model_config`, `dataset_config` and `check_shapes` serve the Hugging Face reader too
(`hf_timesformer.py`), whose checkpoints are conversions of these.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from vivit_jax.convert import released, vit_layouts
from vivit_jax.convert.vit_layouts import (
    Layout,
    conv_oihw,
    out_kernel,
    split_qkv_bias,
    split_qkv_kernel,
    transpose,
)

DESCRIPTION = ("official TimeSformer (facebookresearch/TimeSformer) .pyth state dict, "
               "converted to .safetensors: model.blocks.N.attn.qkv, model.time_embed, …")

BLOCK = vit_layouts.BLOCK
SSV2_CLASSES = 174
OFFICIAL_MEAN, OFFICIAL_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


def video_kernel(x: np.ndarray, heads: int) -> np.ndarray:
    """torch Conv2d `[D, 3, p, p]` → our frame-patch kernel `[1, p, p, 3, D]`."""
    return conv_oihw(x, heads)[None]


def ln_rows(src: str, dst: str) -> list:
    """torch LayerNorm `{src}.weight/bias` → `{dst}/scale, bias`."""
    return [(src + r"\.weight", dst + "/scale", None), (src + r"\.bias", dst + "/bias", None)]


def dense_rows(src: str, dst: str, kernel_hook=transpose) -> list:
    """torch Linear `{src}.weight/bias` → `{dst}/kernel (transposed), bias`."""
    return [(src + r"\.weight", dst + "/kernel", kernel_hook), (src + r"\.bias", dst + "/bias",
                                                                  None)]


def attention_rows(src: str, dst: str, qkv: str, proj: str) -> list:
    """A fused-qkv torch attention (`{src}.{qkv}`, `{src}.{proj}`) → our q/k/v/out."""
    qkv_names = lambda leaf: tuple(f"{dst}/{n}/{leaf}" for n in ("query", "key", "value"))
    return [(rf"{src}\.{qkv}\.weight", qkv_names("kernel"), split_qkv_kernel),
            (rf"{src}\.{qkv}\.bias", qkv_names("bias"), split_qkv_bias),
            *dense_rows(rf"{src}\.{proj}", dst + "/out", out_kernel)]


LAYOUT = Layout(
    name="timesformer", gelu="erf", heads_in_shapes=False,
    marker=r"blocks\.0\.attn\.qkv\.weight", prefixes=("model.",),
    rows=(
        (r"patch_embed\.proj\.weight", "embedding/conv/kernel", video_kernel),
        (r"patch_embed\.proj\.bias", "embedding/conv/bias", None),
        (r"cls_token", "cls", None),
        (r"pos_embed", "Transformer/posembed_input/pos_embedding", None),
        (r"time_embed", "time_embed", None),
        *ln_rows(r"blocks\.(\d+)\.norm1", BLOCK + "/LayerNorm_0"),
        *attention_rows(r"blocks\.(\d+)\.attn", BLOCK + "/MultiHeadDotProductAttention_1",
                        "qkv", "proj"),
        *ln_rows(r"blocks\.(\d+)\.temporal_norm1", BLOCK + "/temporal_norm"),
        *attention_rows(r"blocks\.(\d+)\.temporal_attn", BLOCK + "/temporal_attn", "qkv",
                        "proj"),
        *dense_rows(r"blocks\.(\d+)\.temporal_fc", BLOCK + "/temporal_fc"),
        *ln_rows(r"blocks\.(\d+)\.norm2", BLOCK + "/LayerNorm_2"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc1", BLOCK + "/MlpBlock_3/Dense_0"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc2", BLOCK + "/MlpBlock_3/Dense_1"),
        *ln_rows(r"norm", "Transformer/encoder_norm"),
        *dense_rows(r"head", "head"),
    ))


# ---------------------------------------------------------------------------------------
# Shared with hf_timesformer.
# ---------------------------------------------------------------------------------------
def check_shapes(tensors: dict[str, np.ndarray], expected: list[tuple[str, tuple]],
                 path: str) -> None:
    """Every tensor whose name fully matches a regex of `expected` has that shape; else a
    ReleasedError naming the tensors with both shapes (all of them: a wrong width shows in
    every block)."""
    bad = []
    for name, value in sorted(tensors.items()):
        for pattern, shape in expected:
            if re.fullmatch(pattern, name):
                if tuple(value.shape) != tuple(shape):
                    bad.append(f"tensor {name!r}: expected {tuple(shape)}, found "
                               f"{tuple(value.shape)}")
                break
    if bad:
        more = f"; … and {len(bad) - 6} more" if len(bad) > 6 else ""
        raise released.ReleasedError(f"{path!r}: " + "; ".join(bad[:6]) + more)


def need(tensors: dict[str, np.ndarray], name: str, path: str, ndim: int) -> np.ndarray:
    """The tensor `name` with `ndim` dims, or a ReleasedError naming it."""
    if name not in tensors:
        raise released.ReleasedError(f"{path!r}: tensor {name!r} is missing (first tensors: "
                                     f"{sorted(tensors)[:6]})")
    value = tensors[name]
    if value.ndim != ndim:
        raise released.ReleasedError(f"{path!r}: tensor {name!r} has shape {value.shape}, "
                                     f"expected {ndim} dims")
    return value


def grid_side(num_tokens: int, name: str, path: str) -> int:
    """`1 + h·w` position-embedding rows with a square grid → h."""
    side = int(round((num_tokens - 1) ** 0.5))
    if num_tokens < 2 or side * side != num_tokens - 1:
        raise released.ReleasedError(f"{path!r}: tensor {name!r} has {num_tokens} rows, not 1 "
                                     f"CLS + a square patch grid")
    return side


def model_config(*, hidden: int, layers: int, mlp: int, heads: int, patch: int,
                 attention_type: str, approximate_gelu: bool) -> dict[str, Any]:
    """Our `model` section for a TimeSformer of these sizes (variant named when standard)."""
    from vivit_jax.models import tokenizers
    sizes = dict(hidden_size=hidden, num_layers=layers, mlp_dim=mlp, num_heads=heads)
    name = next((k for k, v in tokenizers.SIZES.items() if v == sizes), "B")
    return dict(family="timesformer", variant=f"{name}/{patch}", attention_type=attention_type,
                approximate_gelu=approximate_gelu, **sizes)


def dataset_config(*, num_classes: int, num_frames: int, image_size: int, min_resize: int,
                   mean=OFFICIAL_MEAN, std=OFFICIAL_STD) -> dict[str, Any]:
    """Our `dataset` section for the official test protocol (module docstring)."""
    ssv2 = num_classes == SSV2_CLASSES
    return dict(name="dmvr", num_classes=num_classes, num_frames=num_frames,
                sampling="tsn" if ssv2 else "dense",
                stride=1 if ssv2 else max(1, 256 // num_frames),
                image_size=image_size, min_resize=min_resize, random_flip=not ssv2,
                normalization="mean_std", mean=tuple(float(m) for m in mean),
                std=tuple(float(s) for s in std), test_clips=1, test_crops=3,
                test_aggregate="probs")


def default_heads(hidden: int) -> int:
    """ViT's head count for a standard width, else 64-wide heads (1 when D < 64)."""
    return vit_layouts.DEFAULT_HEADS.get(hidden) or max(1, hidden // 64)


def rename(tensors: dict[str, np.ndarray], layout: Layout, heads: int, path: str
           ) -> tuple[dict[str, np.ndarray], list[str]]:
    """`vit_layouts.rename` with float32 arrays; a tensor its hook cannot reshape is named."""
    try:
        params, ignored = vit_layouts.rename(tensors, layout, heads)
    except ValueError as e:  # A reshape into heads that does not divide.
        raise released.ReleasedError(f"{path!r}: {e}") from None
    return {k: np.asarray(v, np.float32) for k, v in params.items()}, ignored


# ---------------------------------------------------------------------------------------
# The format.
# ---------------------------------------------------------------------------------------
def _strip(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k[len("model."):] if k.startswith("model.") else k: v for k, v in tensors.items()}


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """Fused `blocks.0.attn.qkv` with a time embedding or temporal attention (divided /
    joint), or under the `model.` prefix of a `.pyth` state (space-only has neither)."""
    keys = set(tensors)
    plain = set(_strip(tensors))
    if "blocks.0.attn.qkv.weight" not in plain or "cls_token" not in plain:
        return False
    return ("time_embed" in plain or "blocks.0.temporal_attn.qkv.weight" in plain
            or "model.blocks.0.attn.qkv.weight" in keys)


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """An official TimeSformer state dict → our params and the reference's config."""
    src = _strip(tensors)
    kernel = need(src, "patch_embed.proj.weight", path, 4)
    d, patch = kernel.shape[0], kernel.shape[-1]
    n_tokens = need(src, "pos_embed", path, 3).shape[1]
    side = grid_side(n_tokens, "model.pos_embed", path)
    layers = len({m[1] for k in src if (m := re.match(r"blocks\.(\d+)\.", k))})
    if not layers:
        raise released.ReleasedError(f"{path!r}: no blocks.N tensors")
    mlp = need(src, "blocks.0.mlp.fc1.weight", path, 2).shape[0]
    if any(k.startswith("blocks.0.temporal_") for k in src):
        attention_type = "divided_space_time"
    elif "time_embed" in src:
        attention_type = "joint_space_time"
    else:
        attention_type = "space_only"
    frames = need(src, "time_embed", path, 3).shape[1] if "time_embed" in src else 8
    head = src.get("head.weight")
    classes = head.shape[0] if head is not None else 400
    expected = [
        (r"cls_token", (1, 1, d)), (r"pos_embed", (1, n_tokens, d)),
        (r"time_embed", (1, frames, d)), (r"patch_embed\.proj\.weight", (d, 3, patch, patch)),
        (r"blocks\.\d+\.(temporal_)?attn\.qkv\.weight", (3 * d, d)),
        (r"blocks\.\d+\.(temporal_)?attn\.qkv\.bias", (3 * d,)),
        (r"blocks\.\d+\.((temporal_)?attn\.proj|temporal_fc)\.weight", (d, d)),
        (r"blocks\.\d+\.mlp\.fc1\.weight", (mlp, d)), (r"blocks\.\d+\.mlp\.fc1\.bias", (mlp,)),
        (r"blocks\.\d+\.mlp\.fc2\.weight", (d, mlp)), (r"head\.weight", (classes, d)),
        (r"head\.bias", (classes,)),
        (r"patch_embed\.proj\.bias|blocks\.\d+\..*\.(weight|bias)|norm\.(weight|bias)", (d,)),
    ]
    check_shapes(tensors, [(r"(?:model\.)?" + p, shape) for p, shape in expected], path)
    heads = default_heads(d)
    params, ignored = rename(src, LAYOUT, heads, path)
    notes = [f"the checkpoint does not store the head count: {heads} heads of "
             f"{d // heads} for width {d} (set --config.model.num_heads if it was trained "
             f"with another)"]
    if attention_type == "space_only":
        notes.append("no time embedding: 8 frames assumed (the official Space model; any "
                     "dataset.num_frames runs)")
    if head is None:
        notes.append("no classifier head in the checkpoint: it stays freshly initialised")
    config = dict(
        model=model_config(hidden=d, layers=layers, mlp=mlp, heads=heads, patch=patch,
                           attention_type=attention_type, approximate_gelu=False),
        dataset=dataset_config(num_classes=classes, num_frames=frames,
                               image_size=side * patch, min_resize=side * patch))
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
