"""gluonmm VidTr / C-VidTr checkpoints (amazon-science/gluonmm `src/transformers/models/vidtr`).

The released `{vidtr_s_8x8,vidtr_m_16x4,vidtr_l_32x2,cvidtr_s_8x8,cvidtr_m_16x4}_patch16_224_k400
.pth` files are a dict whose `model` holds the DDP state dict (`module.` prefix, stripped
here); `readers.TO_SAFETENSORS` makes a `.safetensors` file of it. Names: `LAYOUT`
(`conv_stem` a Conv3d, `in_proj` fused q, k, v rows), and the class tokens (D = 768):

    VidTr:   cls_t [1, HW+1, D] (temporal class-token row), cls_s [T, 1, D] (spatial column),
             pos_embedding [1, (T+1)·(HW+1), D] (the whole grid, row-major)
    C-VidTr: cls [1, 1, D], pos_embedding [1, 1 + T·HW, D]

They load into `model.reference='gluonmm'` (`models/vidtr_gluonmm.py`, logit parity). The
file does not say everything: VidTr vs C-VidTr follows from the class tokens, frames from
them and the position embedding (the official code hard-codes a 14×14 patch grid, so the
resolution is 14 × the patch), classes from `fc`. Not stored: the head count (fused
`in_proj`: ViT's for standard widths, 12 for 768, else `D / 64`) and C-VidTr's pool schedule
(the released configs', `protocols.vidtr_gluonmm`, which also holds the data settings);
`--config.model.pool_layers/pool_drop/num_heads` change them.
"""
from __future__ import annotations

import numpy as np

from vivit_jax.convert import protocols, released
from vivit_jax.convert.formats import common
from vivit_jax.convert.vit_layouts import (
    BLOCK,
    Layout,
    dense_rows,
    ln_rows,
    out_kernel,
    qkv_rows,
    tubelet_kernel,
)

DESCRIPTION = ("gluonmm VidTr / C-VidTr (amazon-science/gluonmm) .pth state dict, converted "
               "to .safetensors: conv_stem, encoder.layers.N.self_attn.in_proj_weight, …")

GRID = 14  # The official code's hard-coded patch grid side (`14 * 14` in vidtr_*.py).
LAYER, ATTN = r"encoder\.layers\.(\d+)\.", BLOCK + "/MultiHeadDotProductAttention_1"
POSEMBED = "Transformer/posembed_input/pos_embedding"
LAYOUT = Layout(
    name="gluonmm", gelu="erf", heads_in_shapes=False, prefixes=("module.",),
    marker=r"encoder\.layers\.0\.self_attn\.in_proj_weight",
    rows=(
        (r"conv_stem\.weight", "embedding/conv/kernel", tubelet_kernel),
        (r"conv_stem\.bias", "embedding/conv/bias", None),
        (r"cls", "cls", None),  # C-VidTr's; VidTr's class tokens: `_class_token_grid`.
        (r"pos_embedding", POSEMBED, None),
        *dense_rows(r"fc", "head"),
        *ln_rows(r"encoder\.norm", "Transformer/encoder_norm"),
        *ln_rows(LAYER + "norm1", BLOCK + "/LayerNorm_0"),
        *qkv_rows(LAYER + r"self_attn\.in_proj_weight", LAYER + r"self_attn\.in_proj_bias",
                  ATTN),
        *dense_rows(LAYER + r"self_attn\.out_proj", ATTN + "/out", out_kernel),
        *ln_rows(LAYER + "norm2", BLOCK + "/LayerNorm_2"),
        *dense_rows(LAYER + "linear1", BLOCK + "/MlpBlock_3/Dense_0"),
        *dense_rows(LAYER + "linear2", BLOCK + "/MlpBlock_3/Dense_1"),
    ))


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    names = common.strip(tensors, LAYOUT.prefixes)[0]
    return "conv_stem.weight" in names and "encoder.layers.0.self_attn.in_proj_weight" in names


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
    layer = {"self_attn.in_proj_weight": (3 * d, d), "self_attn.in_proj_bias": (3 * d,),
             "self_attn.out_proj.weight": (d, d), "linear1.weight": (mlp, d),
             "linear1.bias": (mlp,), "linear2.weight": (d, mlp),
             **{n: (d,) for n in ("self_attn.out_proj.bias", "linear2.bias", "norm1.weight",
                                  "norm1.bias", "norm2.weight", "norm2.bias")}}
    shapes.update({f"encoder.layers.{i}.{n}": v for i in range(depth) for n, v in layer.items()})
    return shapes


def _class_token_grid(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """VidTr's `(T+1) × (HW+1)` class tokens and position table → our corner `cls`, class-token
    row and column, patch-grid position embedding and its row and column."""
    d, frames = t["conv_stem.weight"].shape[0], t["cls_s"].shape[0]
    grid = t["pos_embedding"][0].reshape(frames + 1, -1, d)
    return {"cls": t["cls_t"][:, :1], "cls_row": t["cls_t"][:, 1:],
            "cls_col": t["cls_s"].reshape(1, frames, d),
            POSEMBED: np.concatenate([grid[:1, :1], grid[1:, 1:].reshape(1, -1, d)], 1),
            "posembed_row": grid[None, 0, 1:], "posembed_col": grid[None, 1:, 0]}


def _vidtr_sizes(t: dict[str, np.ndarray], path: str) -> dict:
    """The keyword arguments of `expected_shapes`, from the shapes."""
    stem = common.need(t, "conv_stem.weight", path, 5)
    patch = tuple(stem.shape[2:])
    if patch[1] != patch[2]:
        raise released.ReleasedError(f"{path!r}: tensor 'conv_stem.weight' {stem.shape}: a "
                                     f"{patch[1]}×{patch[2]} patch is not square")
    compact = "cls" in t
    if compact:
        n = common.need(t, "pos_embedding", path, 3).shape[1]
        if (n - 1) % (GRID * GRID):
            raise released.ReleasedError(
                f"{path!r}: tensor 'pos_embedding' has {n} rows, not 1 + T·{GRID}·{GRID}")
        frames = (n - 1) // (GRID * GRID)
    else:
        frames = common.need(t, "cls_s", path, 3).shape[0]
    return dict(d=stem.shape[0], patch=patch, compact=compact, frames=frames,
                depth=common.depth(list(t), LAYER),
                mlp=common.need(t, "encoder.layers.0.linear1.weight", path, 2).shape[0],
                classes=common.need(t, "fc.weight", path, 2).shape[0])


def read(tensors: dict[str, np.ndarray], path: str) -> released.Released:
    """A gluonmm VidTr / C-VidTr state dict → `model.reference='gluonmm'` and its protocol."""
    t = common.strip(tensors, LAYOUT.prefixes)[0]
    s = _vidtr_sizes(t, path)
    d, frames, patch, compact = s["d"], s["frames"], s["patch"], s["compact"]
    shapes = expected_shapes(**s)
    common.check_shapes(t, shapes, path, required=True)
    heads, heads_note = common.default_heads(d)
    params, _, adapted = common.rename(t, LAYOUT, heads, path)
    kind, image = "C-VidTr" if compact else "VidTr", GRID * patch[1]
    if not compact:
        params.update({k: np.asarray(v, np.float32) for k, v in _class_token_grid(t).items()})
        adapted.append("cls, cls_row, cls_col, posembed_{input,row,col} ← cls_t, cls_s, "
                       "pos_embedding: the (T+1) × (HW+1) grid split")
    model, dataset, notes = protocols.vidtr_gluonmm(
        d=d, depth=s["depth"], mlp=s["mlp"], heads=heads, patch=patch, frames=frames,
        classes=s["classes"], image=image, compact=compact)
    notes = [heads_note, *notes,
             f"{kind}: {frames} frames at stride {dataset['stride']}, {image}², width {d}, "
             f"{s['depth']} layers, {s['classes']} classes"]
    return released.Released(
        format="gluonmm", source=str(path), params=params,
        config=dict(model=model, dataset=dataset), notes=notes, adapted=adapted,
        ignored=sorted(k for k in t if k not in shapes))
