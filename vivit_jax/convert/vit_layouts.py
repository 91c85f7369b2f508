"""Declarative name maps from published ViT checkpoint layouts to ONE canonical form.

The canonical form is google-research/vision_transformer's (flat `/`-joined names, numpy,
attention kernels `[D, heads, head_dim]`), which is also the naming of our video models:

    embedding/{kernel [p, p, 3, D], bias}        cls [1, 1, D]
    Transformer/posembed_input/pos_embedding [1, 1 + h·w, D]   (CLS slot first, always)
    Transformer/encoderblock_{i}/LayerNorm_0/{scale, bias}
    Transformer/encoderblock_{i}/MultiHeadDotProductAttention_1/{query,key,value}/
        {kernel [D, H, Dh], bias [H, Dh]},  …/out/{kernel [H, Dh, D], bias [D]}
    Transformer/encoderblock_{i}/LayerNorm_2/…, MlpBlock_3/Dense_{0,1}/{kernel, bias}
    Transformer/encoder_norm/{scale, bias}       head/{kernel [D, K], bias}
    pre_logits/{kernel, bias}                    (optional representation layer; unused)

A layout is one `Layout` row: how to recognise it, the prefixes to strip, and a table of
`(source regex, canonical target(s), hook)`. Hooks are small per-tensor functions (transpose
a torch Linear, split a fused qkv, reshape into heads). Adding a layout = adding one table
(../shared/STYLE.md: MaxText-style declarative map). Sources of the names: vision_transformer
`checkpoint.py`/`models_vit.py`, big_vision `models/vit.py`, timm `vision_transformer.py`
(`_convert_openai_clip`/`checkpoint_filter_fn`, `_load_weights` for npz) and Hugging Face
`convert_vit_timm_to_pytorch.py`.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np

Hook = Callable[[np.ndarray, int], "np.ndarray | tuple[np.ndarray, ...]"]
BLOCK = "Transformer/encoderblock_{0}"
ATTN = BLOCK + "/MultiHeadDotProductAttention_1"

# Standard ViT widths → heads (Dosovitskiy et al. 2021 Table 1; DeiT Ti/S): used only when a
# layout's shapes do not carry the head count (fused torch projections) and none is given.
DEFAULT_HEADS = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}


# ---------------------------------------------------------------------------------------
# Per-tensor hooks. `heads` is the number of attention heads.
# ---------------------------------------------------------------------------------------
def transpose(x: np.ndarray, heads: int) -> np.ndarray:
    """torch Linear `[out, in]` → Flax Dense `[in, out]`."""
    return x.T


def conv_oihw(x: np.ndarray, heads: int) -> np.ndarray:
    """torch Conv2d `[D, 3, p, p]` → Flax `[p, p, 3, D]`."""
    return x.transpose(2, 3, 1, 0)


def frame_kernel(x: np.ndarray, heads: int) -> np.ndarray:
    """torch Conv2d `[D, 3, p, p]` → our video models' frame-patch kernel `[1, p, p, 3, D]`."""
    return conv_oihw(x, heads)[None]


def tubelet_kernel(x: np.ndarray, heads: int) -> np.ndarray:
    """torch Conv3d `[D, 3, t, p, p]` → our tubelet kernel `[t, p, p, 3, D]`."""
    return x.transpose(2, 3, 4, 1, 0)


def to_heads_kernel(x: np.ndarray, heads: int) -> np.ndarray:
    """torch q/k/v Linear `[D_out, D_in]` → `[D_in, H, Dh]`."""
    return x.T.reshape(x.shape[1], heads, -1)


def to_heads_bias(x: np.ndarray, heads: int) -> np.ndarray:
    return x.reshape(heads, -1)


def out_kernel(x: np.ndarray, heads: int) -> np.ndarray:
    """torch output projection `[D, D_in]` → `[H, Dh, D]`."""
    return x.T.reshape(heads, -1, x.shape[0])


def split_qkv_kernel(x: np.ndarray, heads: int) -> tuple[np.ndarray, ...]:
    """timm fused `attn.qkv.weight [3·D, D]` (rows q, k, v) → three `[D, H, Dh]`."""
    return tuple(to_heads_kernel(w, heads) for w in np.split(x, 3, axis=0))


def split_qkv_bias(x: np.ndarray, heads: int) -> tuple[np.ndarray, ...]:
    return tuple(to_heads_bias(b, heads) for b in np.split(x, 3))


# ---------------------------------------------------------------------------------------
# Row builders: one torch module → its canonical tensors.
# ---------------------------------------------------------------------------------------
Row = tuple[str, "str | tuple[str, ...]", "Hook | None"]


def ln_rows(src: str, dst: str) -> list[Row]:
    """torch LayerNorm `{src}.weight/bias` → `{dst}/scale, bias`."""
    return [(src + r"\.weight", dst + "/scale", None), (src + r"\.bias", dst + "/bias", None)]


def dense_rows(src: str, dst: str, kernel_hook: Hook = transpose, bias_hook: Hook | None = None
               ) -> list[Row]:
    """torch Linear `{src}.weight/bias` → `{dst}/kernel` (transposed by default), `bias`."""
    return [(src + r"\.weight", dst + "/kernel", kernel_hook),
            (src + r"\.bias", dst + "/bias", bias_hook)]


def qkv_rows(weight: str, bias: str, dst: str) -> list[Row]:
    """A fused torch q/k/v projection (`weight` `[3·D, D]`, `bias` patterns) → `{dst}/
    {query,key,value}/{kernel,bias}`."""
    kernels, biases = (tuple(f"{dst}/{n}/{leaf}" for n in ("query", "key", "value"))
                       for leaf in ("kernel", "bias"))
    return [(weight, kernels, split_qkv_kernel), (bias, biases, split_qkv_bias)]


@dataclasses.dataclass(frozen=True)
class Layout:
    """One published checkpoint layout: how to recognise it and how to rename it."""
    name: str
    marker: str  # A key (after stripping `prefixes`) only this layout has; regex.
    prefixes: tuple[str, ...]  # Optional leading prefixes, stripped (first that matches).
    rows: tuple[Row, ...]
    gelu: str  # 'tanh' (Flax nn.gelu) or 'erf' (torch nn.GELU): informs the converter's note.
    heads_in_shapes: bool  # q/k/v kernels already `[D, H, Dh]`.


VISION_TRANSFORMER = Layout(
    name="vision_transformer", gelu="tanh", heads_in_shapes=True,
    marker=r"Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel",
    prefixes=("opt/target/",),  # Old checkpoints store the optimizer target.
    rows=((r"(.*)", r"\1", None),))  # Already canonical.

BIG_VISION = Layout(
    name="big_vision", gelu="tanh", heads_in_shapes=True,
    # Scanned checkpoints are unstacked (`encoderblock/…` → `encoderblock_{i}/…`) first.
    marker=r"Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel",
    prefixes=("params/",),
    rows=(
        (r"embedding/(kernel|bias)", r"embedding/\1", None),
        (r"cls", "cls", None),
        # big_vision adds the embedding before prepending CLS: no CLS slot (added as zeros).
        (r"pos_embedding", "Transformer/posembed_input/pos_embedding", None),
        (r"Transformer/encoderblock_(\d+)/LayerNorm_0/(.*)", BLOCK + r"/LayerNorm_0/{1}", None),
        (r"Transformer/encoderblock_(\d+)/MultiHeadDotProductAttention_0/(.*)",
         ATTN + "/{1}", None),
        (r"Transformer/encoderblock_(\d+)/LayerNorm_1/(.*)", BLOCK + "/LayerNorm_2/{1}", None),
        (r"Transformer/encoderblock_(\d+)/MlpBlock_0/(.*)", BLOCK + "/MlpBlock_3/{1}", None),
        (r"Transformer/encoder_norm/(.*)", "Transformer/encoder_norm/{0}", None),
        (r"(head|pre_logits)/(kernel|bias)", "{0}/{1}", None),
    ))

TIMM = Layout(
    name="timm", gelu="erf", heads_in_shapes=False,
    marker=r"patch_embed\.proj\.weight", prefixes=(),
    rows=(
        (r"patch_embed\.proj\.weight", "embedding/kernel", conv_oihw),
        (r"patch_embed\.proj\.bias", "embedding/bias", None),
        (r"cls_token", "cls", None),
        (r"pos_embed", "Transformer/posembed_input/pos_embedding", None),
        *ln_rows(r"blocks\.(\d+)\.norm1", BLOCK + "/LayerNorm_0"),
        *qkv_rows(r"blocks\.(\d+)\.attn\.qkv\.weight", r"blocks\.(\d+)\.attn\.qkv\.bias", ATTN),
        *dense_rows(r"blocks\.(\d+)\.attn\.proj", ATTN + "/out", out_kernel),
        *ln_rows(r"blocks\.(\d+)\.norm2", BLOCK + "/LayerNorm_2"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc1", BLOCK + "/MlpBlock_3/Dense_0"),
        *dense_rows(r"blocks\.(\d+)\.mlp\.fc2", BLOCK + "/MlpBlock_3/Dense_1"),
        *ln_rows(r"norm", "Transformer/encoder_norm"),
        *dense_rows(r"head", "head"),
        *dense_rows(r"pre_logits\.fc", "pre_logits"),
    ))

HUGGING_FACE = Layout(
    name="hugging_face", gelu="erf", heads_in_shapes=False,
    marker=r"embeddings\.patch_embeddings\.projection\.weight",
    prefixes=("vit.",),  # ViTForImageClassification has it, a bare ViTModel does not.
    rows=(
        (r"embeddings\.patch_embeddings\.projection\.weight", "embedding/kernel", conv_oihw),
        (r"embeddings\.patch_embeddings\.projection\.bias", "embedding/bias", None),
        (r"embeddings\.cls_token", "cls", None),
        (r"embeddings\.position_embeddings", "Transformer/posembed_input/pos_embedding", None),
        *ln_rows(r"encoder\.layer\.(\d+)\.layernorm_before", BLOCK + "/LayerNorm_0"),
        *[row for n in ("query", "key", "value") for row in dense_rows(
            rf"encoder\.layer\.(\d+)\.attention\.attention\.{n}", ATTN + f"/{n}",
            to_heads_kernel, to_heads_bias)],
        *dense_rows(r"encoder\.layer\.(\d+)\.attention\.output\.dense", ATTN + "/out", out_kernel),
        *ln_rows(r"encoder\.layer\.(\d+)\.layernorm_after", BLOCK + "/LayerNorm_2"),
        *dense_rows(r"encoder\.layer\.(\d+)\.intermediate\.dense", BLOCK + "/MlpBlock_3/Dense_0"),
        *dense_rows(r"encoder\.layer\.(\d+)\.output\.dense", BLOCK + "/MlpBlock_3/Dense_1"),
        *ln_rows(r"layernorm", "Transformer/encoder_norm"),
        *dense_rows(r"classifier", "head"),
        *dense_rows(r"pooler\.dense", "pre_logits"),  # ViTModel's tanh pooler = pre_logits.
    ))

# Checked in this order; the first whose marker matches a key wins.
LAYOUTS: tuple[Layout, ...] = (TIMM, HUGGING_FACE, BIG_VISION, VISION_TRANSFORMER)


def strip_prefix(keys: Sequence[str], prefixes: Sequence[str]) -> dict[str, str]:
    """original key → key without the first of `prefixes` it starts with."""
    out = {}
    for k in keys:
        for p in prefixes:
            if k.startswith(p):
                k2 = k[len(p):]
                break
        else:
            k2 = k
        out[k] = k2
    return out


def detect(keys: Sequence[str]) -> Layout:
    """The layout of a checkpoint from its key names; unknown → a message listing them."""
    for layout in LAYOUTS:
        stripped = strip_prefix(keys, layout.prefixes).values()
        if any(re.fullmatch(layout.marker, k) for k in stripped):
            return layout
    tops = sorted({k.split("/")[0].split(".")[0] for k in keys})
    raise ValueError(
        f"unknown ViT checkpoint layout: top-level keys found {tops[:30]}"
        f"{' …' if len(tops) > 30 else ''}; expected one of "
        f"{[lay.name for lay in LAYOUTS]} (e.g. 'Transformer/encoderblock_0/MlpBlock_3/…' "
        f"(vision_transformer), 'params/Transformer/…' (big_vision), 'blocks.0.attn.qkv.weight' "
        f"(timm), '(vit.)encoder.layer.0.attention…' (Hugging Face))")


def rename(tensors: dict[str, np.ndarray], layout: Layout, heads: int,
           sources: dict[str, str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Applies a layout's table: `(canonical tensors, source keys no row matched)`; `sources`,
    when given, is filled with canonical name → source key."""
    out, ignored = {}, []
    for key, src in strip_prefix(list(tensors), layout.prefixes).items():
        for pattern, target, hook in layout.rows:
            m = re.fullmatch(pattern, src)
            if m is None:
                continue
            value = tensors[key] if hook is None else hook(tensors[key], heads)
            if isinstance(target, str):
                target, value = (target,), (value,)
            for t, v in zip(target, value):
                name = m.expand(t) if "\\" in t else t.format(*m.groups())
                out[name] = np.asarray(v)
                if sources is not None:
                    sources[name] = key
            break
        else:
            ignored.append(key)
    return out, ignored
