"""Hugging Face TimeSformer (`TimesformerForVideoClassification` / `TimesformerModel`).

`model.safetensors` (a Hub `pytorch_model.bin` converted once with `readers.TO_SAFETENSORS`)
and the `config.json` beside it, which this reader needs: the GELU (`hidden_act`), the
LayerNorm epsilon, `qkv_bias`, the head count (fused `qkv` tensors do not carry it), the
attention type and `id2label` (→ `label_map.json`). The tensors are the official model's
under other names (`OFFICIAL_NAMES`), with `timesformer.` before all but `classifier` in a
classification checkpoint (a bare `TimesformerModel` has no prefix); they are renamed into
the official names and read by `timesformer_official`'s table.

HF's divided and joint models compute what the official code does (its forward is a port of
`vit.py`; tokens space-major `(h w t)` there, time-major here: attention does not depend on
the order). **Space-only is refused**: HF's `attention_type="space_only"` runs the frames
independently, as the official model, but then normalises and classifies every frame's CLS
and returns `[B·T, K]` per-frame logits, never averaged over the frames; the official Space
model averages the frame tokens, then normalises, then classifies once per video (ours too,
`models/timesformer.py`). No such checkpoint is released on the Hub; its weights are the
official model's, so an official `.pyth` of it loads through `timesformer_official.py`.

Preprocessing: the `preprocessor_config.json` beside the checkpoint when there is one
(`image_mean`, `image_std`, `size.shortest_edge`, `crop_size`: what HF's processor computes);
otherwise what the weights were trained with — the official TimeSformer's mean 0.45 / std
0.225, short side 224, centre crop of the model's size — which is neither HF's
`TimesformerVideoProcessor` class default (ImageNet's mean/std, close to it) nor the 0.5 / 0.5
its conversion script used (2.2× the scale: the note names both). Frames and test
views: as the official configs (`protocols.timesformer_dataset`).

HF cannot run another frame count than its config's (transformers#38027); ours can:
`--config.dataset.num_frames=16` resizes `time_embed` (`transfer`, 'resize_tile').
"""
from __future__ import annotations

import re

import numpy as np

from vivit_jax.convert import protocols, released
from vivit_jax.convert.formats import common
from vivit_jax.convert.formats import timesformer_official as official

DESCRIPTION = ("Hugging Face TimesformerForVideoClassification / TimesformerModel "
               "model.safetensors + config.json beside it")

PREFIXES = ("timesformer.",)
MARKER = r"encoder\.layer\.0\.attention\.attention\.qkv\.weight"
# HF's names → the official ones (`timesformer_official.LAYOUT`), applied in this order.
OFFICIAL_NAMES = (
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^embeddings\.cls_token$", "cls_token"), (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.time_embeddings$", "time_embed"), (r"^encoder\.layer\.", "blocks."),
    (r"\.layernorm_before\.", ".norm1."), (r"\.layernorm_after\.", ".norm2."),
    (r"\.temporal_layernorm\.", ".temporal_norm1."), (r"\.temporal_dense\.", ".temporal_fc."),
    (r"\.(temporal_)?attention\.attention\.qkv\.", r".\1attn.qkv."),
    (r"\.(temporal_)?attention\.output\.dense\.", r".\1attn.proj."),
    (r"\.intermediate\.dense\.", ".mlp.fc1."), (r"\.output\.dense\.", ".mlp.fc2."),
    (r"^layernorm\.", "norm."), (r"^classifier\.", "head."))


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """A fused `encoder.layer.0.attention.attention.qkv` (HF ViT / ViViT have q, k, v)."""
    return any(re.fullmatch(MARKER, k) for k in common.strip(tensors, PREFIXES)[0])


def _attention_type(cfg: common.HFConfig, src: dict[str, np.ndarray], path: str) -> str:
    """config.json's attention type, refused where HF's model is not the official one."""
    attention_type = cfg.raw.get("attention_type", "divided_space_time")
    if attention_type == "space_only":
        raise released.ReleasedError(
            f"{cfg.path!r}: attention_type='space_only' is not loaded: Hugging Face's space-only "
            f"TimeSformer classifies every frame separately ([B·T, K] logits, normed per frame), "
            f"while the official Space model (and ours) averages the frame tokens, then norms, "
            f"then classifies the video; the weights would load but the logits would not be "
            f"HF's. Load the official .pyth of that model instead (format 'timesformer')")
    if attention_type not in ("divided_space_time", "joint_space_time"):
        raise released.ReleasedError(f"{cfg.path!r}: attention_type={attention_type!r}")
    divided = attention_type == "divided_space_time"
    if divided != any(".temporal_attn." in k for k in src):
        raise released.ReleasedError(
            f"{path!r}: config.json says attention_type={attention_type!r} but the checkpoint "
            f"{'has no' if divided else 'has'} temporal_attention tensors")
    return attention_type


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """A Hugging Face TimeSformer checkpoint + its config.json → our params and config."""
    cfg = common.hf_config(path, "TimeSformer", "hidden_act, layer_norm_eps, the head count, "
                           "attention_type and id2label", hidden_act="gelu", num_frames=8)
    src, names = common.strip(tensors, PREFIXES, OFFICIAL_NAMES)
    attention_type = _attention_type(cfg, src, path)
    labels, head = cfg.labels, src.get("head.weight")
    patch = cfg.square("patch_size", cfg.raw.get("patch_size", 16))
    classes = head.shape[0] if head is not None else (len(labels) if labels else 400)
    sizes = dict(d=cfg.hidden, mlp=cfg.mlp, n_tokens=1 + (cfg.image // patch) ** 2,
                 frames=cfg.frames, patch=patch, classes=classes)
    params, ignored, adapted = official.load(src, names, path, sizes, cfg.heads)
    cfg.check_layers(common.depth(list(src), r"blocks\.(\d+)\."), path, "encoder.layer.N")
    if not cfg.qkv_bias:  # No q/k/v biases in the file: ours are zero.
        common.zero_qkv_bias(params, cfg.heads)
    notes, mean, std, min_resize, crop = _preprocessing(path, cfg.image)
    if head is None:
        notes.append("no classifier in the checkpoint (TimesformerModel): the head stays "
                     "freshly initialised")
    config = dict(
        model=protocols.timesformer_model(
            hidden=cfg.hidden, layers=cfg.layers, mlp=cfg.mlp, heads=cfg.heads, patch=patch,
            attention_type=attention_type, approximate_gelu=cfg.approximate_gelu),
        dataset=protocols.timesformer_dataset(
            num_classes=classes, num_frames=cfg.frames, image_size=crop, min_resize=min_resize,
            mean=mean, std=std))
    return released.Released(
        format="hf_timesformer", source=path, params=params, config=config,
        label_names=labels if labels and len(labels) == classes else None,
        adapted=adapted, ignored=[names[k] for k in ignored], notes=notes)


def _preprocessing(path: str, size: int):
    """`(notes, mean, std, min_resize, crop)` from preprocessor_config.json beside the
    checkpoint, else HF's conversion defaults (module docstring)."""
    pp_path = common.sibling(path, "preprocessor_config.json")
    pp = common.read_json(pp_path)
    if pp is None:
        return ([f"no preprocessor_config.json beside the checkpoint: the official training "
                 f"normalisation (mean 0.45, std 0.225), short side {size}, centre crop "
                 f"{size}; HF's processor class defaults to ImageNet's mean/std and its "
                 f"conversion script used 0.5 / 0.5 (--config.dataset.mean / std)"],
                protocols.TIMESFORMER_MEAN, protocols.TIMESFORMER_STD, size, size)
    mean = tuple(pp.get("image_mean", protocols.TIMESFORMER_MEAN))
    std = tuple(pp.get("image_std", protocols.TIMESFORMER_STD))
    short = (pp.get("size") or {}).get("shortest_edge", size)
    crop = pp.get("crop_size") or {}
    crop = crop.get("height", size) if isinstance(crop, dict) else int(crop)
    if crop != size:
        raise released.ReleasedError(f"{pp_path!r}: crop_size {crop} differs from the model's "
                                     f"image_size {size}")
    if len(mean) != 3 or len(std) != 3:
        raise released.ReleasedError(f"{pp_path!r}: image_mean / image_std need 3 channels")
    return ([f"preprocessing from {pp_path}: mean {mean}, std {std}, short side {short}"],
            mean, std, int(short), int(crop))
