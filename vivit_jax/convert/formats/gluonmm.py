"""gluonmm VidTr / C-VidTr checkpoints (amazon-science/gluonmm `src/transformers/models/vidtr`).

The released `{vidtr_s_8x8,vidtr_m_16x4,vidtr_l_32x2,cvidtr_s_8x8,cvidtr_m_16x4}_patch16_224_k400
.pth` files are a dict whose `model` holds the DDP state dict (`module.` prefix, stripped
here); `released.TO_SAFETENSORS` makes a `.safetensors` file of it. Names (D = 768):

    conv_stem.{weight [D, 3, 1, 16, 16], bias}      fc.{weight [K, D], bias}
    VidTr:   cls_t [1, HW+1, D] (temporal class-token row), cls_s [T, 1, D] (spatial column),
             pos_embedding [1, (T+1)·(HW+1), D] (the whole grid, row-major)
    C-VidTr: cls [1, 1, D], pos_embedding [1, 1 + T·HW, D]
    encoder.layers.{i}.norm1 / self_attn.in_proj_{weight [3D, D], bias} / self_attn.out_proj /
        norm2 / linear1 / linear2           encoder.norm

They load into `model.reference='gluonmm'` (`models/vidtr_gluonmm.py`, logit parity). The
file does not say everything: VidTr vs C-VidTr follows from the class tokens, frames from
them and the position embedding (the official code hard-codes a 14×14 patch grid, so the
resolution is 14 × the patch), classes from `fc`. Not stored: the head count (fused
`in_proj`: ViT's for standard widths, 12 for 768, else `D / 64`) and C-VidTr's pool schedule
(pooling and joint layers hold the same tensors): the released configs' — 8 frames
(C-VidTr-S): layers 1, 3, 5 dropping 2 each; 16 frames (C-VidTr-M): layers 1, 2, 4 dropping
8, 4, 2; other frame counts get layers 1, 3, 5 dropping T/4 each, named in a note
(`--config.model.pool_layers/pool_drop/num_heads` change them). Data (the yaml configs and
`kinetics_datasets.py`): 8×8, 16×4, 32×2 frames × stride, ImageNet mean/std on [0, 1], test
= short side 224, 10 clips × 3 crops (the reference averages the softmax of the 30 views).
"""
from __future__ import annotations

import re

import numpy as np

from vivit_jax.convert import released, vit_layouts
from vivit_jax.convert.vit_layouts import out_kernel, split_qkv_bias, split_qkv_kernel

DESCRIPTION = ("gluonmm VidTr / C-VidTr (amazon-science/gluonmm) .pth state dict, converted "
               "to .safetensors: conv_stem, encoder.layers.N.self_attn.in_proj_weight, …")

PREFIXES = ("module.",)
GRID = 14  # The official code's hard-coded patch grid side (`14 * 14` in vidtr_*.py).
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # timm IMAGENET_DEFAULT_*.
# Released C-VidTr schedules (scripts/action_recognition/config/cvidtr_*.yaml).
POOL_SCHEDULES = {8: ((1, 3, 5), (2, 2, 2)), 16: ((1, 2, 4), (8, 4, 2))}
STRIDES = {8: 8, 16: 4, 32: 2}  # vidtr_{s_8x8, m_16x4, l_32x2}.
BLOCK = "Transformer/encoderblock_{}"
LAYER = "encoder.layers.{}."


def _strip(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in tensors.items():
        for prefix in PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        out[name] = value
    return out


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    names = _strip(tensors)
    return "conv_stem.weight" in names and LAYER.format(0) + "self_attn.in_proj_weight" in names


def _need(t: dict[str, np.ndarray], name: str, ndim: int, path: str) -> np.ndarray:
    if name not in t:
        raise released.ReleasedError(f"{path!r}: tensor {name!r} is missing (first tensors: "
                                     f"{sorted(t)[:6]})")
    if t[name].ndim != ndim:
        raise released.ReleasedError(f"{path!r}: tensor {name!r} has shape {t[name].shape}, "
                                     f"expected {ndim} dims")
    return t[name]


def expected_shapes(*, d: int, mlp: int, depth: int, classes: int, frames: int, patch, compact
                    ) -> dict[str, tuple[int, ...]]:
    """Every tensor of the official model with these sizes → its shape."""
    s = GRID * GRID
    shapes = {"conv_stem.weight": (d, 3, *patch), "conv_stem.bias": (d,),
              "fc.weight": (classes, d), "fc.bias": (classes,),
              "encoder.norm.weight": (d,), "encoder.norm.bias": (d,)}
    if compact:
        shapes.update({"cls": (1, 1, d), "pos_embedding": (1, 1 + frames * s, d)})
    else:
        shapes.update({"cls_t": (1, s + 1, d), "cls_s": (frames, 1, d),
                       "pos_embedding": (1, (frames + 1) * (s + 1), d)})
    for i in range(depth):
        p = LAYER.format(i)
        shapes.update({p + "self_attn.in_proj_weight": (3 * d, d),
                       p + "self_attn.in_proj_bias": (3 * d,),
                       p + "self_attn.out_proj.weight": (d, d), p + "self_attn.out_proj.bias": (d,),
                       p + "linear1.weight": (mlp, d), p + "linear1.bias": (mlp,),
                       p + "linear2.weight": (d, mlp), p + "linear2.bias": (d,)})
        for norm in ("norm1", "norm2"):
            shapes.update({p + norm + ".weight": (d,), p + norm + ".bias": (d,)})
    return shapes


def _check(t: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], path: str) -> None:
    """All tensors present with their shapes, or a ReleasedError naming each misfit."""
    bad = [f"tensor {n!r} is missing (expected {s})" for n, s in shapes.items() if n not in t]
    bad += [f"tensor {n!r}: expected {shapes[n]}, found {tuple(t[n].shape)}"
            for n in sorted(t) if n in shapes and tuple(t[n].shape) != shapes[n]]
    if bad:
        more = f"; … and {len(bad) - 6} more" if len(bad) > 6 else ""
        raise released.ReleasedError(f"{path!r}: " + "; ".join(bad[:6]) + more)


def _params(t: dict[str, np.ndarray], depth: int, heads: int, compact: bool
            ) -> dict[str, np.ndarray]:
    """Official names → ours (`models/vidtr_gluonmm.py`)."""
    d = t["conv_stem.weight"].shape[0]
    pos = t["pos_embedding"][0]
    p = {"embedding/conv/kernel": t["conv_stem.weight"].transpose(2, 3, 4, 1, 0),
         "embedding/conv/bias": t["conv_stem.bias"],
         "head/kernel": t["fc.weight"].T, "head/bias": t["fc.bias"],
         "Transformer/encoder_norm/scale": t["encoder.norm.weight"],
         "Transformer/encoder_norm/bias": t["encoder.norm.bias"]}
    posembed = "Transformer/posembed_input/pos_embedding"
    if compact:
        p.update({"cls": t["cls"], posembed: pos[None]})
    else:  # The (T+1) × (HW+1) tables split into corner + row + column + patch grid.
        frames = t["cls_s"].shape[0]
        grid = pos.reshape(frames + 1, -1, d)
        p.update({"cls": t["cls_t"][:, :1], "cls_row": t["cls_t"][:, 1:],
                  "cls_col": t["cls_s"].reshape(1, frames, d),
                  posembed: np.concatenate([grid[:1, :1], grid[1:, 1:].reshape(1, -1, d)], 1),
                  "posembed_row": grid[None, 0, 1:], "posembed_col": grid[None, 1:, 0]})
    for i in range(depth):
        src, dst = LAYER.format(i), BLOCK.format(i)
        attn = dst + "/MultiHeadDotProductAttention_1/"
        for name, w in zip(("query", "key", "value"),
                           split_qkv_kernel(t[src + "self_attn.in_proj_weight"], heads)):
            p[attn + name + "/kernel"] = w
        for name, b in zip(("query", "key", "value"),
                           split_qkv_bias(t[src + "self_attn.in_proj_bias"], heads)):
            p[attn + name + "/bias"] = b
        p[attn + "out/kernel"] = out_kernel(t[src + "self_attn.out_proj.weight"], heads)
        p[attn + "out/bias"] = t[src + "self_attn.out_proj.bias"]
        for ours, theirs in (("LayerNorm_0", "norm1"), ("LayerNorm_2", "norm2")):
            p[f"{dst}/{ours}/scale"] = t[src + theirs + ".weight"]
            p[f"{dst}/{ours}/bias"] = t[src + theirs + ".bias"]
        for ours, theirs in (("Dense_0", "linear1"), ("Dense_1", "linear2")):
            p[f"{dst}/MlpBlock_3/{ours}/kernel"] = t[src + theirs + ".weight"].T
            p[f"{dst}/MlpBlock_3/{ours}/bias"] = t[src + theirs + ".bias"]
    return {k: np.asarray(v, np.float32) for k, v in p.items()}


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    t = _strip(tensors)
    stem = _need(t, "conv_stem.weight", 5, path)
    d, patch = stem.shape[0], tuple(stem.shape[2:])
    if patch[1] != patch[2]:
        raise released.ReleasedError(f"{path!r}: tensor 'conv_stem.weight' {stem.shape}: a "
                                     f"{patch[1]}×{patch[2]} patch is not square")
    compact = "cls" in t
    if compact:
        n = _need(t, "pos_embedding", 3, path).shape[1]
        if (n - 1) % (GRID * GRID):
            raise released.ReleasedError(
                f"{path!r}: tensor 'pos_embedding' has {n} rows, not 1 + T·{GRID}·{GRID}")
        frames = (n - 1) // (GRID * GRID)
    else:
        frames = _need(t, "cls_s", 3, path).shape[0]
    depth = 1 + max((int(m[1]) for k in t if (m := re.match(r"encoder\.layers\.(\d+)\.", k))),
                    default=-1)
    mlp = _need(t, LAYER.format(0) + "linear1.weight", 2, path).shape[0]
    classes = _need(t, "fc.weight", 2, path).shape[0]
    _check(t, expected_shapes(d=d, mlp=mlp, depth=depth, classes=classes, frames=frames,
                              patch=patch, compact=compact), path)
    heads = vit_layouts.DEFAULT_HEADS.get(d) or max(1, d // 64)
    notes = [f"the head count is not stored (fused in_proj_weight): {heads} assumed "
             f"(--config.model.num_heads changes it)"]
    model = dict(family="vidtr", reference="gluonmm", variant=f"B/{patch[1]}"
                 + (f"x{patch[0]}" if patch[0] > 1 else ""), hidden_size=d, num_layers=depth,
                 mlp_dim=mlp, num_heads=heads, classifier="token")
    if compact:
        default = ((1, 3, 5), (max(1, frames // 4),) * 3)
        layers, drops = POOL_SCHEDULES.get(frames, default)
        if frames not in POOL_SCHEDULES:
            notes.append(f"C-VidTr pool schedule not stored and no released one for {frames} "
                         f"frames: layers {layers} dropping {drops} assumed "
                         f"(--config.model.pool_layers / pool_drop change it)")
        model.update(pool_layers=layers, pool_drop=drops, pool_type="topk_std")
    image = GRID * patch[1]
    dataset = dict(name="dmvr", num_classes=classes, num_frames=frames * patch[0],
                   stride=STRIDES.get(frames, 1), image_size=image, min_resize=image,
                   normalization="mean_std", mean=MEAN, std=STD, test_clips=10, test_crops=3,
                   test_aggregate="probs")
    kind = "C-VidTr" if compact else "VidTr"
    notes.append(f"{kind}: {frames} frames at stride {dataset['stride']}, {image}², width {d}, "
                 f"{depth} layers, {classes} classes")
    return released.Released(
        format="gluonmm", source=str(path), params=_params(t, depth, heads, compact),
        config=dict(model=model, dataset=dataset), notes=notes,
        adapted=[f"{kind} official names → vivit_jax (in_proj split into query/key/value, "
                 f"class tokens and position table split into cls/cls_row/cls_col/posembed_*)"],
        ignored=sorted(k for k in t if k not in expected_shapes(
            d=d, mlp=mlp, depth=depth, classes=classes, frames=frames, patch=patch,
            compact=compact)))
