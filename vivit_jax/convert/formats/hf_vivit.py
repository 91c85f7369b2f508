"""Hugging Face ViViT (`VivitForVideoClassification` / `VivitModel`): `model.safetensors` plus
the `config.json` beside it.

The released `google/vivit-b-16x2-kinetics400` is Scenic's Model 1 (ViViT-B/16x2, 32 frames,
224²) converted to torch: Conv3d `[D, 3, t, h, w]`, separate q/k/v `Linear`s, `gelu_fast`
(tanh GELU), LayerNorm eps 1e-6, `classifier` on the CLS token. Both tensor namings are read:
the hub's (`vivit.encoder.layer.{i}.attention.attention.query`, `…intermediate.dense`,
`…output.dense`; what transformers writes) and transformers 5's in-memory one
(`vivit.layers.{i}.attention.q_proj`, `…mlp.fc1`), with or without the `vivit.` prefix (a
bare `VivitModel` has none and no classifier: its head starts at zero). Our layout is
Scenic's, so the model is our Model 1 with `classifier='token'`.

Preprocessing: the weights were trained by Scenic on [-1, 1] pixels (short side 256, 224²
crop, 32 frames at stride 2, 4×3 test views), which is what the config gets. HF's
`VivitImageProcessor` defaults rescale to [-1, 1] (`offset=True`) *and then* normalise with
mean = std = 0.5, giving [-3, 1]; a note says how to reproduce that if wanted.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from vivit_jax.convert.formats import scenic
from vivit_jax.convert.released import Released, ReleasedError, read_bytes

DESCRIPTION = ("Hugging Face ViViT model.safetensors (VivitForVideoClassification / "
               "VivitModel) with its config.json")

# hidden_act → our model.approximate_gelu (tanh approximation or exact erf).
_GELU = {"gelu_fast": True, "gelu_new": True, "gelu_pytorch_tanh": True, "gelu": False}

# Per-layer tensors: HF sub-name (hub naming | transformers-5 naming) → ours, 'linear' /
# 'qkv' / 'out' / 'ln' telling how the torch tensor turns into ours.
_LAYER = [
    (r"layernorm_before", "LayerNorm_0", "ln"),
    (r"layernorm_after", "LayerNorm_2", "ln"),
    (r"attention\.attention\.query|attention\.q_proj", "MultiHeadDotProductAttention_1/query",
     "qkv"),
    (r"attention\.attention\.key|attention\.k_proj", "MultiHeadDotProductAttention_1/key", "qkv"),
    (r"attention\.attention\.value|attention\.v_proj", "MultiHeadDotProductAttention_1/value",
     "qkv"),
    (r"attention\.output\.dense|attention\.o_proj", "MultiHeadDotProductAttention_1/out", "out"),
    (r"intermediate\.dense|mlp\.fc1", "MlpBlock_3/Dense_0", "linear"),
    (r"output\.dense|mlp\.fc2", "MlpBlock_3/Dense_1", "linear"),
]
_LAYER_RE = re.compile(r"(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)")


def _strip(name: str) -> str:
    return name[len("vivit."):] if name.startswith("vivit.") else name


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    # A Conv3d tubelet projection (TimeSformer's, also `embeddings.patch_embeddings`, is 2D).
    names = {_strip(k): v for k, v in tensors.items()}
    proj = names.get("embeddings.patch_embeddings.projection.weight")
    return (proj is not None and proj.ndim == 5 and "embeddings.position_embeddings" in names
            and "embeddings.time_embeddings" not in names)


def _config_path(path: str) -> str:
    if "://" in path:
        return path.rsplit("/", 1)[0] + "/config.json"
    return os.path.join(os.path.dirname(path), "config.json")


def read_config(path: str) -> dict:
    """The `config.json` beside the safetensors file (local or any tf.io.gfile path)."""
    cpath = _config_path(path)
    try:
        text = read_bytes(cpath)
    except FileNotFoundError:
        raise ReleasedError(
            f"{path!r}: a Hugging Face ViViT checkpoint needs the config.json saved beside it "
            f"({cpath!r} does not exist): it holds the hidden_act, layer_norm_eps and label "
            f"names that the tensors do not; download it with the weights") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise ReleasedError(f"{cpath!r} is not valid JSON ({e})") from None


def _square(value, name: str, cpath: str) -> int:
    sizes = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(set(sizes)) != 1:
        raise ReleasedError(f"{cpath!r}: {name}={value} is not square; our ViViT takes square "
                            f"frames and patches")
    return int(sizes[0])


def _config_model(cfg: dict, cpath: str) -> dict:
    """The model the config describes; refuses what ours cannot compute exactly."""
    act = cfg.get("hidden_act", "gelu_fast")
    if act not in _GELU:
        raise ReleasedError(f"{cpath!r}: hidden_act={act!r} is not a GELU our ViViT has "
                            f"(expected one of {sorted(_GELU)})")
    eps = float(cfg.get("layer_norm_eps", 1e-6))
    if abs(eps - 1e-6) > 1e-12:
        raise ReleasedError(f"{cpath!r}: layer_norm_eps={eps} but our ViViT's LayerNorms use "
                            f"1e-6 (Scenic's and the released checkpoint's); the logits would "
                            f"differ")
    if cfg.get("num_channels", 3) != 3:
        raise ReleasedError(f"{cpath!r}: num_channels={cfg['num_channels']}; expected 3 (RGB)")
    tubelet = list(cfg.get("tubelet_size", [2, 16, 16]))
    if len(tubelet) != 3:
        raise ReleasedError(f"{cpath!r}: tubelet_size={tubelet}: expected [t, h, w]")
    hidden, heads = int(cfg.get("hidden_size", 768)), int(cfg.get("num_attention_heads", 12))
    if cfg.get("head_dim") not in (None, hidden // heads):
        raise ReleasedError(f"{cpath!r}: head_dim={cfg['head_dim']} ≠ hidden_size / "
                            f"num_attention_heads = {hidden // heads}; ours derives it")
    return dict(hidden=hidden, heads=heads, layers=int(cfg.get("num_hidden_layers", 12)),
                mlp=int(cfg.get("intermediate_size", 3072)),
                patch=_square(tubelet[1:], "tubelet_size[1:]", cpath), tubelet_t=tubelet[0],
                image=_square(cfg.get("image_size", 224), "image_size", cpath),
                frames=int(cfg.get("num_frames", 32)), approximate=_GELU[act],
                qkv_bias=cfg.get("qkv_bias", True))


def _convert(kind: str, v: np.ndarray, d: int, heads: int) -> np.ndarray:
    """A torch tensor (`Linear.weight` [out, in]) in our layout."""
    if kind == "linear" and v.ndim == 2:
        return v.T
    if kind == "qkv":
        return v.T.reshape(d, heads, d // heads) if v.ndim == 2 else v.reshape(heads, d // heads)
    if kind == "out" and v.ndim == 2:
        return v.T.reshape(heads, d // heads, d)
    return v


def read(tensors: dict[str, np.ndarray], path: str) -> Released:
    cpath = _config_path(path)
    hf = read_config(path)
    m = _config_model(hf, cpath)
    d, heads, mlp, p, tt = m["hidden"], m["heads"], m["mlp"], m["patch"], m["tubelet_t"]
    if m["frames"] % tt or m["image"] % p:
        raise ReleasedError(f"{cpath!r}: num_frames={m['frames']} / image_size={m['image']} "
                            f"are not multiples of tubelet_size {[tt, p, p]}")
    n_tokens = (m["frames"] // tt) * (m["image"] // p) ** 2
    # HF name → (expected torch shape, our name, kind).
    want = {
        "embeddings.cls_token": ((1, 1, d), "cls", ""),
        "embeddings.position_embeddings": ((1, 1 + n_tokens, d),
                                           "Transformer/posembed_input/pos_embedding", ""),
        "embeddings.patch_embeddings.projection.weight": ((d, 3, tt, p, p),
                                                          "embedding/conv/kernel", "conv"),
        "embeddings.patch_embeddings.projection.bias": ((d,), "embedding/conv/bias", ""),
        "layernorm.weight": ((d,), "Transformer/encoder_norm/scale", ""),
        "layernorm.bias": ((d,), "Transformer/encoder_norm/bias", ""),
    }
    params, adapted, ignored, shapes = {}, [], [], []
    for name, v in tensors.items():
        key = _strip(name)
        if key.startswith("pooler."):
            ignored.append(f"{name} (VivitModel's pooler: not used by the classifier)")
            continue
        if key in ("classifier.weight", "classifier.bias"):
            weight = key.endswith("weight")
            ours, kind, exp = ("head/kernel" if weight else "head/bias"), "linear", None
            if v.ndim != (2 if weight else 1) or (weight and v.shape[1] != d):
                shapes.append(f"{name!r} (→ {ours!r}): expected "
                              f"{f'(classes, {d})' if weight else '(classes,)'}, found "
                              f"{tuple(v.shape)}")
                continue
        elif key in want:
            exp, ours, kind = want[key]
        elif lm := _LAYER_RE.fullmatch(key):
            i, sub, wb = int(lm[1]), lm[2], lm[3]
            row = next((r for r in _LAYER if re.fullmatch(r[0], sub)), None)
            if row is None or i >= m["layers"]:
                raise ReleasedError(f"{path!r}: tensor {name!r} is not part of a ViViT of "
                                    f"{m['layers']} layers")
            _, ours_sub, kind = row
            leaf = "bias" if wb == "bias" else ("scale" if kind == "ln" else "kernel")
            ours = f"Transformer/encoderblock_{i}/{ours_sub}/{leaf}"
            width_in, width_out = {"linear": (d, mlp) if "Dense_0" in ours_sub else (mlp, d),
                                   "qkv": (d, d), "out": (d, d), "ln": (d, d)}[kind]
            exp = (width_out,) if wb == "bias" or kind == "ln" else (width_out, width_in)
        else:
            raise ReleasedError(f"{path!r}: tensor {name!r} is not part of a Hugging Face "
                                f"ViViT model")
        if exp is not None and tuple(v.shape) != tuple(exp):
            shapes.append(f"{name!r} (→ {ours!r}): expected {tuple(exp)}, found "
                          f"{tuple(v.shape)}")
            continue
        if kind == "conv":
            v = v.transpose(2, 3, 4, 1, 0)  # [D, C, t, h, w] → [t, h, w, C, D].
        else:
            v = _convert(kind, v, d, heads)
        params[ours] = np.asarray(v, np.float32)
        adapted.append(f"{ours} ← {name}")
    if shapes:
        raise ReleasedError(f"{path!r} does not fit its config.json ({cpath!r}): tensor "
                            + "; ".join(shapes[:6]) + (" …" if len(shapes) > 6 else ""))
    notes = []
    if not m["qkv_bias"]:
        for i in range(m["layers"]):
            for proj in ("query", "key", "value"):
                params[f"Transformer/encoderblock_{i}/MultiHeadDotProductAttention_1/{proj}/"
                       f"bias"] = np.zeros((heads, d // heads), np.float32)
        notes.append("qkv_bias=false: query/key/value biases set to zero (the same function)")
    if "head/kernel" in params and params.get("head/bias", np.zeros(0)).shape != (
            params["head/kernel"].shape[1],):
        raise ReleasedError(f"{path!r}: tensor 'classifier.bias' has shape "
                            f"{params.get('head/bias', np.zeros(0)).shape}, expected "
                            f"({params['head/kernel'].shape[1]},) as classifier.weight's rows")
    labels = hf.get("id2label") or {}
    label_names = [labels[k] for k in sorted(labels, key=int)] if labels else None
    classes = params["head/kernel"].shape[1] if "head/kernel" in params else len(labels) or 2
    if label_names and len(label_names) != classes:
        raise ReleasedError(f"{cpath!r}: id2label has {len(label_names)} names but the "
                            f"classifier has {classes} outputs")
    if "head/kernel" not in params:
        notes.append(f"no classifier (a VivitModel): the {classes}-way head starts at zero")
    notes.append("preprocessing: [-1, 1] pixels, as Scenic trained these weights. HF's "
                 "VivitImageProcessor defaults (offset, then mean = std = 0.5) feed [-3, 1]; "
                 "to reproduce them pass --config.dataset.normalization=mean_std "
                 "--config.dataset.mean=0.75,0.75,0.75 --config.dataset.std=0.25,0.25,0.25")
    model = scenic.model_config(hidden=d, layers=m["layers"], mlp=mlp, heads=heads, patch=p,
                                tubelet_t=tt, model_type="spatio_temporal",
                                classifier="token")
    model["approximate_gelu"] = m["approximate"]
    dataset = scenic.dataset_config(num_classes=classes, num_frames=m["frames"],
                                    image_size=m["image"], stride=2, test_views=(4, 3))
    return Released(format="hf_vivit", source=path, params=params,
                    config={"model": model, "dataset": dataset}, label_names=label_names,
                    adapted=adapted, ignored=ignored, notes=notes)
