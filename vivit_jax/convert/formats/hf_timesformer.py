"""Hugging Face TimeSformer (`TimesformerForVideoClassification` / `TimesformerModel`).

`model.safetensors` (a Hub `pytorch_model.bin` converted once with `released.TO_SAFETENSORS`)
and the `config.json` beside it, which this reader needs: the GELU (`hidden_act`), the
LayerNorm epsilon, `qkv_bias`, the head count (fused `qkv` tensors do not carry it), the
attention type and `id2label` (→ `label_map.json`). Names, with `timesformer.` before all but
`classifier` in a classification checkpoint (a bare `TimesformerModel` has no prefix):

    embeddings.{cls_token, position_embeddings, time_embeddings},
    embeddings.patch_embeddings.projection [D, 3, p, p]
    encoder.layer.{i}.{layernorm_before, attention.attention.qkv, attention.output.dense,
        temporal_layernorm, temporal_attention.attention.qkv, temporal_attention.output.dense,
        temporal_dense, layernorm_after, intermediate.dense, output.dense}
    layernorm    classifier [K, D]

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
views: as the official configs (`timesformer_official.dataset_config`).

HF cannot run another frame count than its config's (transformers#38027); ours can:
`--config.dataset.num_frames=16` resizes `time_embed` (`transfer`, 'resize_tile').
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from vivit_jax.convert import released
from vivit_jax.convert.formats import timesformer_official as official
from vivit_jax.convert.vit_layouts import BLOCK, Layout

DESCRIPTION = ("Hugging Face TimesformerForVideoClassification / TimesformerModel "
               "model.safetensors + config.json beside it")

PREFIX = "timesformer."
# What the facebook/timesformer-* weights were trained with (official DATA.MEAN / DATA.STD).
HF_MEAN, HF_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
# hidden_act → model.approximate_gelu (ACT2FN: 'gelu' is torch's erf GELU; these are tanh).
GELU = {"gelu": False, "gelu_python": False, "gelu_new": True, "gelu_pytorch_tanh": True,
        "gelu_fast": True}


LAYER = r"encoder\.layer\.(\d+)"
LAYOUT = Layout(
    name="hf_timesformer", gelu="erf", heads_in_shapes=False,
    marker=r"encoder\.layer\.0\.attention\.attention\.qkv\.weight", prefixes=(PREFIX,),
    rows=(
        (r"embeddings\.patch_embeddings\.projection\.weight", "embedding/conv/kernel",
         official.video_kernel),
        (r"embeddings\.patch_embeddings\.projection\.bias", "embedding/conv/bias", None),
        (r"embeddings\.cls_token", "cls", None),
        (r"embeddings\.position_embeddings", "Transformer/posembed_input/pos_embedding", None),
        (r"embeddings\.time_embeddings", "time_embed", None),
        *official.ln_rows(LAYER + r"\.layernorm_before", BLOCK + "/LayerNorm_0"),
        *official.attention_rows(LAYER + r"\.attention", BLOCK + "/MultiHeadDotProductAttention_1",
                                 r"attention\.qkv", r"output\.dense"),
        *official.ln_rows(LAYER + r"\.temporal_layernorm", BLOCK + "/temporal_norm"),
        *official.attention_rows(LAYER + r"\.temporal_attention", BLOCK + "/temporal_attn",
                                 r"attention\.qkv", r"output\.dense"),
        *official.dense_rows(LAYER + r"\.temporal_dense", BLOCK + "/temporal_fc"),
        *official.ln_rows(LAYER + r"\.layernorm_after", BLOCK + "/LayerNorm_2"),
        *official.dense_rows(LAYER + r"\.intermediate\.dense", BLOCK + "/MlpBlock_3/Dense_0"),
        *official.dense_rows(LAYER + r"\.output\.dense", BLOCK + "/MlpBlock_3/Dense_1"),
        *official.ln_rows(r"layernorm", "Transformer/encoder_norm"),
        *official.dense_rows(r"classifier", "head"),
    ))


def _strip(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in tensors.items()}


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """A fused `encoder.layer.0.attention.attention.qkv` (HF ViT / ViViT have q, k, v)."""
    return any(re.fullmatch(LAYOUT.marker, k) for k in _strip(tensors))


# ---------------------------------------------------------------------------------------
# The JSON files beside the checkpoint (any tf.io.gfile path).
# ---------------------------------------------------------------------------------------
def sibling(path: str, name: str) -> str:
    """The file `name` in the directory of `path` (local or a URL such as gs://…)."""
    path = str(path)
    if "://" in path:
        return path.rsplit("/", 1)[0] + "/" + name
    return os.path.join(os.path.dirname(path) or ".", name)


def _read_json(path: str) -> dict | None:
    """The parsed file, or None when it does not exist."""
    try:
        data = released.read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        return json.loads(data)
    except ValueError as e:
        raise released.ReleasedError(f"{path!r} is not valid JSON ({e})") from None


def _hf_config(path: str) -> dict:
    cfg_path = sibling(path, "config.json")
    cfg = _read_json(cfg_path)
    if cfg is None:
        raise released.ReleasedError(
            f"{path!r}: a Hugging Face TimeSformer checkpoint needs the config.json saved with "
            f"it ({cfg_path!r} does not exist): it gives hidden_act, layer_norm_eps, the head "
            f"count, attention_type and id2label, which the tensors do not. Download it from "
            f"the model's Hub page into the same directory")
    return cfg


def _get(cfg: dict, key: str, default, cfg_path: str):
    value = cfg.get(key, default)
    if isinstance(value, (list, tuple)):  # image_size / patch_size may be (h, w).
        if len(set(value)) != 1:
            raise released.ReleasedError(f"{cfg_path!r}: {key}={value}: only square sizes")
        value = value[0]
    return value


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """A Hugging Face TimeSformer checkpoint + its config.json → our params and config."""
    cfg = _hf_config(path)
    cfg_path = sibling(path, "config.json")
    attention_type = cfg.get("attention_type", "divided_space_time")
    if attention_type == "space_only":
        raise released.ReleasedError(
            f"{cfg_path!r}: attention_type='space_only' is not loaded: Hugging Face's space-only "
            f"TimeSformer classifies every frame separately ([B·T, K] logits, normed per frame), "
            f"while the official Space model (and ours) averages the frame tokens, then norms, "
            f"then classifies the video; the weights would load but the logits would not be "
            f"HF's. Load the official .pyth of that model instead (format 'timesformer')")
    if attention_type not in ("divided_space_time", "joint_space_time"):
        raise released.ReleasedError(f"{cfg_path!r}: attention_type={attention_type!r}")
    act = cfg.get("hidden_act", "gelu")
    if act not in GELU:
        raise released.ReleasedError(f"{cfg_path!r}: hidden_act={act!r}: expected one of "
                                     f"{sorted(GELU)}")
    eps = float(cfg.get("layer_norm_eps", 1e-6))
    if abs(eps - 1e-6) > 1e-12:
        raise released.ReleasedError(f"{cfg_path!r}: layer_norm_eps={eps}: our TimeSformer's "
                                     f"LayerNorms use 1e-6 (the official and HF default)")
    d = int(cfg.get("hidden_size", 768))
    heads = int(cfg.get("num_attention_heads", 12))
    layers = int(cfg.get("num_hidden_layers", 12))
    mlp = int(cfg.get("intermediate_size", 3072))
    frames = int(cfg.get("num_frames", 8))
    size = int(_get(cfg, "image_size", 224, cfg_path))
    patch = int(_get(cfg, "patch_size", 16, cfg_path))
    if cfg.get("num_channels", 3) != 3:
        raise released.ReleasedError(f"{cfg_path!r}: num_channels={cfg['num_channels']}: "
                                     f"only RGB (3)")
    id2label = cfg.get("id2label") or {}
    labels = [id2label[k] for k in sorted(id2label, key=int)] if id2label else None
    src = _strip(tensors)
    head = src.get("classifier.weight")
    classes = head.shape[0] if head is not None else (len(labels) if labels else 400)
    n_tokens = 1 + (size // patch) ** 2
    divided = attention_type == "divided_space_time"
    if divided != any(".temporal_attention." in k for k in src):
        raise released.ReleasedError(
            f"{path!r}: config.json says attention_type={attention_type!r} but the checkpoint "
            f"{'has no' if divided else 'has'} temporal_attention tensors")
    expected = [
        (r"embeddings\.cls_token", (1, 1, d)),
        (r"embeddings\.position_embeddings", (1, n_tokens, d)),
        (r"embeddings\.time_embeddings", (1, frames, d)),
        (r"embeddings\.patch_embeddings\.projection\.weight", (d, 3, patch, patch)),
        (LAYER + r"\.(temporal_)?attention\.attention\.qkv\.weight", (3 * d, d)),
        (LAYER + r"\.(temporal_)?attention\.attention\.qkv\.bias", (3 * d,)),
        (LAYER + r"\.((temporal_)?attention\.output\.dense|temporal_dense)\.weight", (d, d)),
        (LAYER + r"\.intermediate\.dense\.weight", (mlp, d)),
        (LAYER + r"\.intermediate\.dense\.bias", (mlp,)),
        (LAYER + r"\.output\.dense\.weight", (d, mlp)),
        (r"classifier\.weight", (classes, d)), (r"classifier\.bias", (classes,)),
        (r".*\.(weight|bias)", (d,)),
    ]
    official.check_shapes(tensors, [(rf"(?:{re.escape(PREFIX)})?" + p, s) for p, s in expected],
                          path)
    found_layers = len({m[1] for k in src if (m := re.match(LAYER + r"\.", k))})
    if found_layers != layers:
        raise released.ReleasedError(f"{path!r}: {found_layers} encoder.layer.N blocks, "
                                     f"config.json num_hidden_layers={layers}")
    params, ignored = official.rename(src, LAYOUT, heads, path)
    if not cfg.get("qkv_bias", True):  # No q/k/v biases in the file: ours are zero.
        for name in list(params):
            if re.search(r"/(query|key|value)/kernel$", name):
                params[name[:-len("kernel")] + "bias"] = np.zeros((heads, d // heads), np.float32)
    notes, mean, std, min_resize, crop = _preprocessing(path, size)
    if head is None:
        notes.append("no classifier in the checkpoint (TimesformerModel): the head stays "
                     "freshly initialised")
    config = dict(
        model=official.model_config(hidden=d, layers=layers, mlp=mlp, heads=heads, patch=patch,
                                    attention_type=attention_type,
                                    approximate_gelu=GELU[act]),
        dataset=official.dataset_config(num_classes=classes, num_frames=frames,
                                        image_size=crop, min_resize=min_resize, mean=mean,
                                        std=std))
    return released.Released(
        format="hf_timesformer", source=path, params=params, config=config,
        label_names=labels if labels and len(labels) == classes else None,
        adapted=official.adapted_names(tensors), ignored=ignored, notes=notes)


def _preprocessing(path: str, size: int):
    """`(notes, mean, std, min_resize, crop)` from preprocessor_config.json beside the
    checkpoint, else HF's conversion defaults (module docstring)."""
    pp_path = sibling(path, "preprocessor_config.json")
    pp = _read_json(pp_path)
    if pp is None:
        return ([f"no preprocessor_config.json beside the checkpoint: the official training "
                 f"normalisation (mean 0.45, std 0.225), short side {size}, centre crop "
                 f"{size}; HF's processor class defaults to ImageNet's mean/std and its "
                 f"conversion script used 0.5 / 0.5 (--config.dataset.mean / std)"],
                HF_MEAN, HF_STD, size, size)
    mean = tuple(pp.get("image_mean", HF_MEAN))
    std = tuple(pp.get("image_std", HF_STD))
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
