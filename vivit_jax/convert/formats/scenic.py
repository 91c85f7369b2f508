"""Scenic ViViT checkpoints (google-research/scenic `projects/vivit`): one Flax msgpack file.

The released files (`scenic-bucket/vivit/{kinetics_400,kinetics_600,epic_kitchens}/…/checkpoint`)
hold Scenic's train state: the weights under `optimizer/target` (2021 releases, flax.optim)
or `params` (optax trainers), beside optimizer moments, `rng` and `global_step`, which are
ignored. The model is read from the tensors alone:

- `SpatialTransformer` / `TemporalTransformer` → Model 2 (`SpaceTimeViViT`), the temporal
  CLS `cls_TemporalTransformer` → our `cls_temporal`, `temporal_layers` counted;
- `LayerNorm_time` / `MultiHeadDotProductAttention_time` in the blocks → Model 3, whose
  sub-layer order the names do not tell: Scenic's default 'time_space' is assumed;
- otherwise Model 1; with no `cls` (classifier 'gap') the parameters are exactly those of
  Model 4 too (Scenic gives the first half of its heads to time: our 'time_space'), and it
  is read as Model 1 with a note saying how to load it as Model 4.

Sizes, tubelet, classes come from the shapes; the token grid from the position embedding
(Model 2: exact; Models 1/3/4: the frames / resolution the user gives where the rows fit them
(`released.fit_grid`), else the 224² crop of every Scenic recipe, else 32 frames).
Scenic's preprocessing and test views go into the config (`protocols.scenic_dataset`), and
its tanh GELU (`nn.gelu`). Names: `_layout`.
"""
from __future__ import annotations

import math
import re

import numpy as np

from vivit_jax.convert import protocols
from vivit_jax.convert.formats import common
from vivit_jax.convert.released import GuessedGrid, Released, ReleasedError
from vivit_jax.convert.vit_layouts import Layout

DESCRIPTION = ("Scenic ViViT Flax msgpack checkpoint (Models 1-4; the Kinetics-400/600 and "
               "Epic-Kitchens releases)")

_PREFIXES = ("optimizer/target/", "params/")

# Scenic block sub-module → ours.
_BLOCK = {"LayerNorm_0": "LayerNorm_0", "MultiHeadDotProductAttention_0":
          "MultiHeadDotProductAttention_1", "LayerNorm_1": "LayerNorm_2",
          "MlpBlock_0": "MlpBlock_3"}
_BLOCK_FSA = {"LayerNorm_space": "LayerNorm_0", "MultiHeadDotProductAttention_space":
              "MultiHeadDotProductAttention_1", "LayerNorm_time": "LayerNorm_temporal",
              "MultiHeadDotProductAttention_time": "MultiHeadDotProductAttention_temporal",
              "LayerNorm_mlp": "LayerNorm_2", "MlpBlock": "MlpBlock_3"}
_SPATIAL = r"(?:Spatial)?Transformer"  # Model 2's spatial encoder is our `Transformer`.


def _as_tubelet(x: np.ndarray, heads: int) -> np.ndarray:
    """A 2D patch kernel (Scenic's `temporal_sampling`) as a one-frame tubelet."""
    return x if x.ndim == 5 else x[None]


def _layout(fe: bool, fsa: bool) -> Layout:
    """Scenic's names → ours for one model type (a tensor of another type is unknown)."""
    cls = ({"cls_SpatialTransformer": "cls", "cls_TemporalTransformer": "cls_temporal"}
           if fe else {"cls": "cls"})
    stacks = ((_SPATIAL, "Transformer", _BLOCK_FSA if fsa else _BLOCK),
              ("TemporalTransformer", "TemporalTransformer", _BLOCK))
    return Layout(name="scenic", gelu="tanh", heads_in_shapes=True, marker="embedding/kernel",
                  prefixes=(), rows=(
        ("embedding/kernel", "embedding/conv/kernel", _as_tubelet),
        ("embedding/bias", "embedding/conv/bias", None),
        ("output_projection/(.*)", r"head/\1", None),
        *((theirs, ours, None) for theirs, ours in cls.items()),
        *((rf"{src}/(posembed_input|encoder_norm)/(.*)", rf"{top}/\1/\2", None)
          for src, top, _ in stacks),
        *((rf"{src}/encoderblock_(\d+)/{theirs}/(.*)", rf"{top}/encoderblock_\1/{ours}/\2", None)
          for src, top, block in stacks for theirs, ours in block.items())))


def _expected(s: dict) -> dict[str, tuple[int, ...]]:
    """Source regex → shape in a ViViT of these widths (Model 2's temporal encoder has the
    spatial one's: checked in `_factorised_encoder`)."""
    d, heads, mlp, classes = s["d"], s["heads"], s["mlp"], s["classes"]
    blk = r"(?:Spatial|Temporal)?Transformer/encoderblock_\d+/"
    mha, dense = blk + r"MultiHeadDotProductAttention_[^/]+/", blk + r"MlpBlock[^/]*/Dense_"
    return {
        r"cls(_SpatialTransformer|_TemporalTransformer)?": (1, 1, d),
        r"embedding/bias|(?:Spatial|Temporal)?Transformer/encoder_norm/(scale|bias)": (d,),
        r"output_projection/kernel": (d, classes), r"output_projection/bias": (classes,),
        blk + r"LayerNorm_[^/]+/(scale|bias)": (d,),
        mha + r"(query|key|value)/kernel": (d, heads, d // heads),
        mha + r"(query|key|value)/bias": (heads, d // heads),
        mha + r"out/kernel": (heads, d // heads, d), mha + r"out/bias": (d,),
        dense + r"0/kernel": (d, mlp), dense + r"0/bias": (mlp,),
        dense + r"1/kernel": (mlp, d), dense + r"1/bias": (d,)}


def _weights(tensors: dict[str, np.ndarray]):
    """`(prefix, the weights under it, name → the file's)` for the first of `_PREFIXES` the
    file uses, else None."""
    prefix = next((p for p in _PREFIXES if any(k.startswith(p) for k in tensors)), None)
    if prefix is not None:
        return prefix, *common.strip(
            {k: v for k, v in tensors.items() if k.startswith(prefix)}, (prefix,))


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    w = (_weights(tensors) or ("", {}))[1]
    return "embedding/kernel" in w and any(
        f"{t}/posembed_input/pos_embedding" in w for t in ("Transformer", "SpatialTransformer"))


def token_grid(n: int, patch: int, tubelet_t: int) -> tuple[tuple[int, int], str]:
    """`((t, g), how)`: `n = t·g²` split as Scenic's recipes would have it (224² crop, else
    32 frames, else the finest spatial grid)."""
    splits = [(n // (g * g), g) for g in range(1, math.isqrt(n) + 1) if n % (g * g) == 0]
    for t, g in splits:
        if g * patch == 224:
            return (t, g), "224² crop, as every Scenic ViViT recipe"
    for t, g in splits:
        if t * tubelet_t == 32:
            return (t, g), "32 frames, as every Scenic ViViT recipe"
    t, g = splits[-1]
    return (t, g), "the finest square spatial grid (neither 224² nor 32 frames fits)"


def _vivit_sizes(w: dict[str, np.ndarray], path: str) -> dict:
    """Widths, tubelet, depth, classes and model kind, from the shapes."""
    if any(k.startswith("pre_logits/") for k in w):
        raise ReleasedError(f"{path!r}: Scenic `pre_logits` (representation_size: a dense + "
                            f"tanh layer before the head) is not part of our ViViT; none of "
                            f"the released ViViT checkpoints has it")
    if "output_projection/kernel" not in w:
        raise ReleasedError(f"{path!r}: Scenic tensor 'output_projection/kernel' (the "
                            f"classifier) is missing; a backbone without a head is not a "
                            f"released classifier")
    kernel = _as_tubelet(common.need(w, "embedding/kernel", path), 0)
    if kernel.ndim != 5 or kernel.shape[1] != kernel.shape[2] or kernel.shape[3] != 3:
        raise ReleasedError(f"{path!r}: tensor 'embedding/kernel' has shape "
                            f"{w['embedding/kernel'].shape}; expected [t, p, p, 3, D] (a 3D "
                            f"tubelet) or [p, p, 3, D] (frames), square patches")
    fe = "SpatialTransformer/posembed_input/pos_embedding" in w
    fsa = any(re.search(r"/LayerNorm_time/", k) for k in w)
    enc = "SpatialTransformer" if fe else "Transformer"
    block = f"{enc}/encoderblock_0/"
    return dict(
        tubelet_t=kernel.shape[0], patch=kernel.shape[1], d=kernel.shape[4], fe=fe, fsa=fsa,
        layers=common.depth(list(w), rf"{enc}/encoderblock_(\d+)/"),
        heads=common.need(w, block + f"MultiHeadDotProductAttention_{'space' if fsa else '0'}"
                          "/query/kernel", path, 3).shape[1],
        mlp=common.need(w, block + f"MlpBlock{'' if fsa else '_0'}/Dense_0/kernel", path,
                        2).shape[1],
        classes=common.need(w, "output_projection/kernel", path, 2).shape[1],
        n_pos=common.need(w, f"{enc}/posembed_input/pos_embedding", path, 3).shape[1])


def _factorised_encoder(w: dict, s: dict, path: str, notes: list[str]):
    """Model 2: `(t, g, with_cls, model extras)`, exact from the position embeddings."""
    with_cls = "cls_SpatialTransformer" in w
    g = math.isqrt(s["n_pos"] - with_cls)
    if g * g != s["n_pos"] - with_cls:
        raise ReleasedError(f"{path!r}: tensor 'SpatialTransformer/posembed_input/"
                            f"pos_embedding' has {s['n_pos']} tokens: not {with_cls} + a square")
    temporal_layers = common.depth(list(w), r"TemporalTransformer/encoderblock_(\d+)/")
    if temporal_layers:
        block = "TemporalTransformer/encoderblock_0/"
        t_widths = (
            common.need(w, block + "MultiHeadDotProductAttention_0/query/kernel", path, 3).shape[1],
            common.need(w, block + "MlpBlock_0/Dense_0/kernel", path, 2).shape[1])
        if t_widths != (s["heads"], s["mlp"]):
            raise ReleasedError(
                f"{path!r}: the temporal encoder has {t_widths[0]} heads and MLP width "
                f"{t_widths[1]}, the spatial one {s['heads']} and {s['mlp']}; our Model 2 uses "
                f"the spatial widths for both (as every Scenic recipe)")
        t = common.need(w, "TemporalTransformer/posembed_input/pos_embedding", path,
                        3).shape[1] - ("cls_TemporalTransformer" in w)
    else:
        t = 32 // s["tubelet_t"]
        notes.append("Scenic `spatial_only_baseline` (no temporal encoder): frame "
                     "representations averaged; 32 frames assumed (the weights fit any)")
    # Scenic's one `classifier` serves both encoders: both CLS tokens or neither.
    return t, g, with_cls, dict(temporal_layers=temporal_layers, temporal_classifier="token"
                                if "cls_TemporalTransformer" in w else "gap")


def _joint(w: dict, s: dict, notes: list[str]):
    """Models 1, 3, 4: `(model_type, t, g, with_cls, model extras, GuessedGrid)`."""
    with_cls = "cls" in w
    (t, g), how = token_grid(s["n_pos"] - with_cls, s["patch"], s["tubelet_t"])
    # Several grids fit the rows: `released.fit_grid` reads them as the user's grid.
    guessed = GuessedGrid(s["n_pos"] - with_cls, s["tubelet_t"], s["patch"], (t, g), how)
    if s["fsa"]:
        notes.append("Model 3: Scenic's default sub-layer order assumed (temporal MSA "
                     "first, `attention_order='time_space'`); a checkpoint trained with "
                     "'space_time' needs --config.model.attention_order=space_time")
        return ("factorised_self_attention", t, g, with_cls,
                dict(attention_order="time_space"), guessed)
    more = {}
    if not with_cls:
        notes.append("no `cls` token: Scenic's Model 1 with classifier 'gap' and its "
                     "Model 4 (factorised dot-product attention) have the same "
                     "parameters; read as Model 1. For Model 4 pass "
                     "--config.model.model_type=factorised_dot_product "
                     "--config.model.attention_order=time_space (Scenic gives the "
                     "first half of the heads to time)")
        more = dict(attention_order="time_space")  # Used if the user picks Model 4.
    return "spatio_temporal", t, g, with_cls, more, guessed


def _training_state(tensors: dict[str, np.ndarray], prefix: str) -> list[str]:
    """What the file holds besides the weights, counted per group (optimizer moments, …)."""
    groups: dict[str, int] = {}
    for k in tensors:
        if not k.startswith(prefix):
            group = "/".join(k.split("/")[:2 if k.startswith("optimizer/") else 1])
            groups[group] = groups.get(group, 0) + 1
    return [f"{g} ({n} tensors of training state)" for g, n in sorted(groups.items())]


def read(tensors: dict[str, np.ndarray], path: str) -> Released:
    """A Scenic ViViT train state → our params and Scenic's config for the model it holds."""
    found = _weights(tensors)
    if found is None:
        raise ReleasedError(f"{path!r}: no Scenic weights (expected them under "
                            f"{' or '.join(p[:-1] for p in _PREFIXES)})")
    prefix, w, names = found
    s, notes, guessed = _vivit_sizes(w, path), [], None
    if s["fe"]:
        model_type = "factorised_encoder"
        t, g, with_cls, more = _factorised_encoder(w, s, path, notes)
    else:
        model_type, t, g, with_cls, more, guessed = _joint(w, s, notes)
    if not with_cls:
        notes.append("no `cls` token: classifier 'gap' assumed (Scenic also has 'gmp'/'gsp', "
                     "which leave no trace in the weights; 'gmp' is --config.model.classifier"
                     "=gmp)")
    num_frames, image = t * s["tubelet_t"], g * s["patch"]
    frames_2d = w["embedding/kernel"].ndim == 4
    if frames_2d:
        if t == 1:
            raise ReleasedError(f"{path!r} looks like an image ViT (2D patch embedding, one "
                                f"frame of tokens), not a ViViT; use vivit-convert --vit")
        notes.append(f"2D patch embedding: Scenic's `temporal_sampling` tokenizer, which "
                     f"samples {t} frames uniformly from its input; ours embeds the "
                     f"{num_frames} frames the data pipeline gives (dataset.num_frames)")
    params, unknown, adapted = common.rename(w, _layout(s["fe"], s["fsa"]), s["heads"], path,
                                             names)
    common.refuse(path, [f"tensor {names[u]!r} is in no ViViT model of ours" for u in unknown])
    common.check_shapes(w, _expected(s), path, shown=names)
    model = protocols.vivit_model(
        hidden=s["d"], layers=s["layers"], mlp=s["mlp"], heads=s["heads"], patch=s["patch"],
        tubelet_t=s["tubelet_t"], model_type=model_type,
        classifier="token" if with_cls else "gap", **more)
    dataset = protocols.scenic_dataset(s["classes"], num_frames, image, notes)
    return Released(
        format="scenic", source=path, params=params, config={"model": model, "dataset": dataset},
        adapted=adapted,
        ignored=_training_state(tensors, prefix), notes=notes, guessed_grid=guessed)
