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

import numpy as np

from vivit_jax.convert import protocols
from vivit_jax.convert.formats import common
from vivit_jax.convert.released import Released, ReleasedError
from vivit_jax.convert.vit_layouts import HUGGING_FACE, Layout, tubelet_kernel

DESCRIPTION = ("Hugging Face ViViT model.safetensors (VivitForVideoClassification / "
               "VivitModel) with its config.json")

# HF ViT's table (`vit_layouts.HUGGING_FACE`) with a Conv3d tubelet embedding and without
# the pooler (`VivitModel`'s, which the classifier does not use).
LAYOUT = Layout(
    name="hf_vivit", gelu="tanh", heads_in_shapes=False, prefixes=("vivit.",),
    marker=r"embeddings\.patch_embeddings\.projection\.weight",
    rows=((r"embeddings\.patch_embeddings\.projection\.weight", "embedding/conv/kernel",
           tubelet_kernel),
          (r"embeddings\.patch_embeddings\.projection\.bias", "embedding/conv/bias", None),
          *(row for row in HUGGING_FACE.rows
            if not row[0].startswith((r"embeddings\.patch_embeddings", r"pooler")))))
# transformers 5's in-memory names → the hub's (what transformers writes): read alike.
HUB_NAMES = ((r"^layers\.", "encoder.layer."),
             *((rf"\.attention\.{n[0]}_proj\.", f".attention.attention.{n}.")
               for n in ("query", "key", "value")),
             (r"\.attention\.o_proj\.", ".attention.output.dense."),
             (r"\.mlp\.fc1\.", ".intermediate.dense."), (r"\.mlp\.fc2\.", ".output.dense."))
LAYER = r"encoder\.layer\.\d+\."


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    """A Conv3d tubelet projection (TimeSformer's, also `embeddings.patch_embeddings`, is 2D)."""
    names = common.strip(tensors, LAYOUT.prefixes)[0]
    proj = names.get("embeddings.patch_embeddings.projection.weight")
    return (proj is not None and proj.ndim == 5 and "embeddings.position_embeddings" in names
            and "embeddings.time_embeddings" not in names)


def _tubelet_size(cfg: common.HFConfig) -> tuple[int, int]:
    """`(frames, pixels)` per tubelet from config.json, which must tile its clip."""
    tubelet = list(cfg.raw.get("tubelet_size", [2, 16, 16]))
    if len(tubelet) != 3:
        raise ReleasedError(f"{cfg.path!r}: tubelet_size={tubelet}: expected [t, h, w]")
    tt, p = int(tubelet[0]), cfg.square("tubelet_size[1:]", tubelet[1:])
    if cfg.frames % tt or cfg.image % p:
        raise ReleasedError(f"{cfg.path!r}: num_frames={cfg.frames} / image_size={cfg.image} "
                            f"are not multiples of tubelet_size {[tt, p, p]}")
    return tt, p


def read(tensors: dict[str, np.ndarray], path: str) -> Released:
    """A Hugging Face ViViT checkpoint + its config.json → our Model 1 and Scenic's protocol."""
    cfg = common.hf_config(path, "ViViT", "the hidden_act, layer_norm_eps and label names",
                           hidden_act="gelu_fast", num_frames=32)
    (tt, p), d, mlp = _tubelet_size(cfg), cfg.hidden, cfg.mlp
    src, names = common.strip(tensors, LAYOUT.prefixes, HUB_NAMES)
    head = src.get("classifier.weight")
    if head is not None:
        common.need(src, "classifier.bias", path)
    classes = head.shape[0] if head is not None and head.ndim == 2 else len(cfg.labels or ()) or 2
    common.check_shapes(src, {
        r"embeddings\.cls_token": (1, 1, d),
        r"embeddings\.position_embeddings": (1, 1 + (cfg.frames // tt) * (cfg.image // p) ** 2, d),
        r"embeddings\.patch_embeddings\.projection\.weight": (d, 3, tt, p, p),
        LAYER + r"attention\.(attention\.(query|key|value)|output\.dense)\.weight": (d, d),
        LAYER + r"intermediate\.dense\.weight": (mlp, d),
        LAYER + r"intermediate\.dense\.bias": (mlp,), LAYER + r"output\.dense\.weight": (d, mlp),
        r"classifier\.weight": (classes, d), r"classifier\.bias": (classes,),
        r"pooler\..*": None, r".*\.(weight|bias)": (d,),
    }, path, shown=names, context=f" does not fit its config.json ({cfg.path!r})")
    params, ignored, adapted = common.rename(src, LAYOUT, cfg.heads, path, names)
    common.refuse(path, [f"tensor {names[k]!r} is not part of a Hugging Face ViViT model"
                         for k in ignored if not k.startswith("pooler.")])
    cfg.check_layers(common.depth(list(src), r"encoder\.layer\.(\d+)\."), path, "encoder.layer.N")
    notes = []
    if not cfg.qkv_bias:
        common.zero_qkv_bias(params, cfg.heads)
        notes.append("qkv_bias=false: query/key/value biases set to zero (the same function)")
    if cfg.labels and len(cfg.labels) != classes:
        raise ReleasedError(f"{cfg.path!r}: id2label has {len(cfg.labels)} names but the "
                            f"classifier has {classes} outputs")
    if head is None:
        notes.append(f"no classifier (a VivitModel): the {classes}-way head starts at zero")
    notes.append("preprocessing: [-1, 1] pixels, as Scenic trained these weights. HF's "
                 "VivitImageProcessor defaults (offset, then mean = std = 0.5) feed [-3, 1]; "
                 "to reproduce them pass --config.dataset.normalization=mean_std "
                 "--config.dataset.mean=0.75,0.75,0.75 --config.dataset.std=0.25,0.25,0.25")
    model = protocols.vivit_model(hidden=d, layers=cfg.layers, mlp=mlp, heads=cfg.heads,
                                  patch=p, tubelet_t=tt, model_type="spatio_temporal",
                                  classifier="token")
    model["approximate_gelu"] = cfg.approximate_gelu
    dataset = protocols.vivit_dataset(num_classes=classes, num_frames=cfg.frames,
                                      image_size=cfg.image, stride=2, test_views=(4, 3))
    return Released(format="hf_vivit", source=path, params=params,
                    config={"model": model, "dataset": dataset}, label_names=cfg.labels,
                    adapted=adapted,
                    ignored=[f"{names[k]} (VivitModel's pooler: not used by the classifier)"
                             for k in ignored], notes=notes)
