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
Scenic's preprocessing goes into the config: pixels in [-1, 1] (`zero_centering`, no
mean/std), short side 256, 224² crop, 4×3 test views (Epic-Kitchens: 32 frames at stride 1,
4×1), and its tanh GELU (`nn.gelu`). Block names map to ours (`LayerNorm_0`,
`MultiHeadDotProductAttention_0`, `LayerNorm_1`, `MlpBlock_0` → `LayerNorm_0`,
`MultiHeadDotProductAttention_1`, `LayerNorm_2`, `MlpBlock_3`; `output_projection` → `head`).
"""
from __future__ import annotations

import math
import re

import numpy as np

from vivit_jax.convert.released import GuessedGrid, Released, ReleasedError

DESCRIPTION = ("Scenic ViViT Flax msgpack checkpoint (Models 1-4; the Kinetics-400/600 and "
               "Epic-Kitchens releases)")

_PREFIXES = ("optimizer/target/", "params/")
# Epic-Kitchens: one 397-way `output_projection`, split by Scenic into nouns then verbs.
EPIC_KITCHENS_SPLITS = {"noun": 300, "verb": 97}

# Scenic block sub-module → ours.
_BLOCK = {"LayerNorm_0": "LayerNorm_0", "MultiHeadDotProductAttention_0":
          "MultiHeadDotProductAttention_1", "LayerNorm_1": "LayerNorm_2",
          "MlpBlock_0": "MlpBlock_3"}
_BLOCK_FSA = {"LayerNorm_space": "LayerNorm_0", "MultiHeadDotProductAttention_space":
              "MultiHeadDotProductAttention_1", "LayerNorm_time": "LayerNorm_temporal",
              "MultiHeadDotProductAttention_time": "MultiHeadDotProductAttention_temporal",
              "LayerNorm_mlp": "LayerNorm_2", "MlpBlock": "MlpBlock_3"}


def _weights(tensors: dict[str, np.ndarray]) -> tuple[str, dict[str, np.ndarray]] | None:
    for prefix in _PREFIXES:
        w = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if w:
            return prefix, w
    return None


def matches(tensors: dict[str, np.ndarray], path: str) -> bool:
    found = _weights(tensors)
    if found is None:
        return False
    w = found[1]
    return "embedding/kernel" in w and any(
        f"{t}/posembed_input/pos_embedding" in w for t in ("Transformer", "SpatialTransformer"))


def _shape(w: dict, name: str, path: str, ndim: int) -> tuple[int, ...]:
    if name not in w:
        raise ReleasedError(f"{path!r}: Scenic ViViT tensor {name!r} is missing")
    if w[name].ndim != ndim:
        raise ReleasedError(f"{path!r}: tensor {name!r} has shape {w[name].shape}, expected "
                            f"{ndim} dimensions")
    return w[name].shape


def _depth(w: dict, encoder: str) -> int:
    return len({m[1] for k in w if (m := re.match(rf"{encoder}/encoderblock_(\d+)/", k))})


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


def dataset_config(*, num_classes: int, num_frames: int, image_size: int, stride: int,
                   test_views: tuple[int, int]) -> dict:
    """Scenic's evaluation preprocessing as our `dataset` section: [-1, 1] pixels (Scenic's
    `zero_centering`, no mean/std), short side 256 for a 224 crop, `test_views` clips × crops."""
    return dict(name="dmvr", num_classes=num_classes, num_frames=num_frames, stride=stride,
                image_size=image_size, min_resize=round(image_size * 256 / 224),
                normalization="minus_one_to_one", test_clips=test_views[0],
                test_crops=test_views[1])


def model_config(*, hidden: int, layers: int, mlp: int, heads: int, patch: int,
                 tubelet_t: int, **more) -> dict:
    """`model` section: the named ViT size when the widths are one, else explicit sizes."""
    from vivit_jax.models import tokenizers
    size = next((k for k, s in tokenizers.SIZES.items() if s == dict(
        hidden_size=hidden, num_layers=layers, mlp_dim=mlp, num_heads=heads)), "B")
    return dict(family="vivit", variant=f"{size}/{patch}x{tubelet_t}", hidden_size=hidden,
                num_layers=layers, mlp_dim=mlp, num_heads=heads,
                tokenizer="tubelet" if tubelet_t > 1 else "frame", approximate_gelu=True,
                **more)


def check_shapes(params: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]],
                 source: dict[str, str], path: str) -> None:
    """Every converted tensor has the shape the inferred model needs; names both."""
    bad = [f"{source[k]!r} (→ {k!r}): expected {expected[k]}, found {params[k].shape}"
           for k in params if k in expected and tuple(params[k].shape) != expected[k]]
    if bad:
        more = f"; … and {len(bad) - 6} more" if len(bad) > 6 else ""
        raise ReleasedError(f"{path!r}: tensor " + "; ".join(bad[:6]) + more)


def _expected_shapes(d: int, heads: int, mlp: int, block_names) -> dict[str, tuple]:
    """Per-block parameter shapes (our sub-module names) of a ViT block of these widths."""
    out = {}
    for ours in block_names:
        if ours.startswith("LayerNorm"):
            out[f"{ours}/scale"] = out[f"{ours}/bias"] = (d,)
        elif ours.startswith("MultiHead"):
            for p in ("query", "key", "value"):
                out[f"{ours}/{p}/kernel"] = (d, heads, d // heads)
                out[f"{ours}/{p}/bias"] = (heads, d // heads)
            out[f"{ours}/out/kernel"], out[f"{ours}/out/bias"] = (heads, d // heads, d), (d,)
        else:
            out[f"{ours}/Dense_0/kernel"], out[f"{ours}/Dense_0/bias"] = (d, mlp), (mlp,)
            out[f"{ours}/Dense_1/kernel"], out[f"{ours}/Dense_1/bias"] = (mlp, d), (d,)
    return out


def read(tensors: dict[str, np.ndarray], path: str) -> Released:
    found = _weights(tensors)
    if found is None:
        raise ReleasedError(f"{path!r}: no Scenic weights (expected them under "
                            f"{' or '.join(p[:-1] for p in _PREFIXES)})")
    prefix, w = found
    if any(k.startswith("pre_logits/") for k in w):
        raise ReleasedError(f"{path!r}: Scenic `pre_logits` (representation_size: a dense + "
                            f"tanh layer before the head) is not part of our ViViT; none of "
                            f"the released ViViT checkpoints has it")
    if "output_projection/kernel" not in w:
        raise ReleasedError(f"{path!r}: Scenic tensor 'output_projection/kernel' (the "
                            f"classifier) is missing; a backbone without a head is not a "
                            f"released classifier")
    kernel = w["embedding/kernel"]
    if kernel.ndim == 4:  # temporal_sampling: per-frame 2D patches = our 'frame' tokenizer.
        kernel = kernel[None]
    if kernel.ndim != 5 or kernel.shape[1] != kernel.shape[2] or kernel.shape[3] != 3:
        raise ReleasedError(f"{path!r}: tensor 'embedding/kernel' has shape "
                            f"{w['embedding/kernel'].shape}; expected [t, p, p, 3, D] (a 3D "
                            f"tubelet) or [p, p, 3, D] (frames), square patches")
    tubelet_t, patch, _, _, d = kernel.shape
    fe = "SpatialTransformer/posembed_input/pos_embedding" in w
    fsa = any(re.search(r"/LayerNorm_time/", k) for k in w)
    encoder = "SpatialTransformer" if fe else "Transformer"
    layers = _depth(w, encoder)
    q = _shape(w, f"{encoder}/encoderblock_0/MultiHeadDotProductAttention_"
               f"{'space' if fsa else '0'}/query/kernel", path, 3)
    heads = q[1]
    mlp = _shape(w, f"{encoder}/encoderblock_0/MlpBlock{'' if fsa else '_0'}/Dense_0/kernel",
                 path, 2)[1]
    classes = _shape(w, "output_projection/kernel", path, 2)[1]
    notes, more, guessed = [], {}, None
    n_pos = _shape(w, f"{encoder}/posembed_input/pos_embedding", path, 3)[1]
    names = {}  # ours → Scenic's
    if fe:
        model_type, cls_name = "factorised_encoder", "cls_SpatialTransformer"
        with_cls = cls_name in w
        g = math.isqrt(n_pos - with_cls)
        if g * g != n_pos - with_cls:
            raise ReleasedError(f"{path!r}: tensor 'SpatialTransformer/posembed_input/"
                                f"pos_embedding' has {n_pos} tokens: not {with_cls} + a square")
        temporal_layers = _depth(w, "TemporalTransformer")
        if temporal_layers:
            t_widths = (_shape(w, "TemporalTransformer/encoderblock_0/"
                               "MultiHeadDotProductAttention_0/query/kernel", path, 3)[1],
                        _shape(w, "TemporalTransformer/encoderblock_0/MlpBlock_0/Dense_0/"
                               "kernel", path, 2)[1])
            if t_widths != (heads, mlp):
                raise ReleasedError(
                    f"{path!r}: the temporal encoder has {t_widths[0]} heads and MLP width "
                    f"{t_widths[1]}, the spatial one {heads} and {mlp}; our Model 2 uses the "
                    f"spatial widths for both (as every Scenic recipe)")
            t = _shape(w, "TemporalTransformer/posembed_input/pos_embedding", path, 3)[1] - (
                "cls_TemporalTransformer" in w)
            grid_how = "read from the position embeddings"
        else:
            t, grid_how = 32 // tubelet_t, "read from the position embeddings"
            notes.append("Scenic `spatial_only_baseline` (no temporal encoder): frame "
                         "representations averaged; 32 frames assumed (the weights fit any)")
        # Scenic's one `classifier` serves both encoders: both CLS tokens or neither.
        more = dict(temporal_layers=temporal_layers, temporal_classifier="token"
                    if "cls_TemporalTransformer" in w else "gap")
        names.update({"cls": cls_name, "cls_temporal": "cls_TemporalTransformer"})
    else:
        with_cls = "cls" in w
        (t, g), grid_how = token_grid(n_pos - with_cls, patch, tubelet_t)
        # Several grids fit the rows: `released.fit_grid` reads them as the user's grid.
        guessed = GuessedGrid(n_pos - with_cls, tubelet_t, patch, (t, g), grid_how)
        names["cls"] = "cls"
        if fsa:
            model_type = "factorised_self_attention"
            more = dict(attention_order="time_space")
            notes.append("Model 3: Scenic's default sub-layer order assumed (temporal MSA "
                         "first, `attention_order='time_space'`); a checkpoint trained with "
                         "'space_time' needs --config.model.attention_order=space_time")
        else:
            model_type = "spatio_temporal"
            if not with_cls:
                notes.append("no `cls` token: Scenic's Model 1 with classifier 'gap' and its "
                             "Model 4 (factorised dot-product attention) have the same "
                             "parameters; read as Model 1. For Model 4 pass "
                             "--config.model.model_type=factorised_dot_product "
                             "--config.model.attention_order=time_space (Scenic gives the "
                             "first half of the heads to time)")
                more = dict(attention_order="time_space")  # Used if the user picks Model 4.
    classifier = "token" if with_cls else "gap"
    if not with_cls:
        notes.append("no `cls` token: classifier 'gap' assumed (Scenic also has 'gmp'/'gsp', "
                     "which leave no trace in the weights; 'gmp' is --config.model.classifier"
                     "=gmp)")
    num_frames, image = t * tubelet_t, g * patch
    if w["embedding/kernel"].ndim == 4:
        if t == 1:
            raise ReleasedError(f"{path!r} looks like an image ViT (2D patch embedding, one "
                                f"frame of tokens), not a ViViT; use vivit-convert --vit")
        notes.append(f"2D patch embedding: Scenic's `temporal_sampling` tokenizer, which "
                     f"samples {t} frames uniformly from its input; ours embeds the "
                     f"{num_frames} frames the data pipeline gives (dataset.num_frames)")

    # Tensors, renamed.
    params, source = {}, {}
    block_map = _BLOCK_FSA if fsa else _BLOCK
    unknown = []
    for k, v in w.items():
        ours = None
        if k == "embedding/kernel":
            ours, v = "embedding/conv/kernel", v.reshape(kernel.shape)
        elif k == "embedding/bias":
            ours = "embedding/conv/bias"
        elif k in names.values():
            ours = next(o for o, s in names.items() if s == k)
        elif k.startswith("output_projection/"):
            ours = "head/" + k.split("/", 1)[1]
        elif m := re.fullmatch(r"(Transformer|SpatialTransformer|TemporalTransformer)/(.*)", k):
            top = "TemporalTransformer" if m[1] == "TemporalTransformer" else "Transformer"
            rest = m[2]
            if b := re.fullmatch(r"(encoderblock_\d+)/([^/]+)/(.*)", rest):
                mapping = _BLOCK if m[1] == "TemporalTransformer" else block_map
                if b[2] in mapping:
                    ours = f"{top}/{b[1]}/{mapping[b[2]]}/{b[3]}"
            elif rest.startswith(("posembed_input/", "encoder_norm/")):
                ours = f"{top}/{rest}"
        if ours is None:
            unknown.append(k)
            continue
        params[ours], source[ours] = np.asarray(v, np.float32), prefix + k
    if unknown:
        raise ReleasedError(f"{path!r}: Scenic tensors that no ViViT model of ours has: "
                            f"{', '.join(prefix + u for u in unknown[:6])}"
                            f"{' …' if len(unknown) > 6 else ''}")

    expected = {"embedding/conv/kernel": (tubelet_t, patch, patch, 3, d),
                "embedding/conv/bias": (d,), "head/kernel": (d, classes),
                "head/bias": (classes,), "cls": (1, 1, d), "cls_temporal": (1, 1, d)}
    if model_type == "factorised_encoder":
        expected["Transformer/posembed_input/pos_embedding"] = (1, with_cls + g * g, d)
    stacks = [("Transformer", layers, block_map)]
    if fe and more["temporal_layers"]:
        stacks.append(("TemporalTransformer", more["temporal_layers"], _BLOCK))
    for top, depth, mapping in stacks:
        block = _expected_shapes(d, heads, mlp, mapping.values())
        for i in range(depth):
            expected.update({f"{top}/encoderblock_{i}/{k}": s for k, s in block.items()})
        expected[f"{top}/encoder_norm/scale"] = expected[f"{top}/encoder_norm/bias"] = (d,)
    check_shapes(params, expected, source, path)

    dataset = dataset_config(num_classes=classes, num_frames=num_frames, image_size=image,
                             stride=2, test_views=(4, 3))
    if classes == sum(EPIC_KITCHENS_SPLITS.values()):
        dataset.update(stride=1, test_crops=1, label_sets=",".join(
            f"{k}:{v}" for k, v in EPIC_KITCHENS_SPLITS.items()))
        notes.append("397 classes: Scenic's Epic-Kitchens model (one output_projection whose "
                     "logits are nouns [0:300] then verbs [300:397], each its own softmax; "
                     "32 frames at stride 1, 4×1 views): dataset.label_sets="
                     f"{dataset['label_sets']!r}, so vivit-eval reports noun, verb and action "
                     "accuracy (another split: --config.dataset.label_sets=NAME:N,…)")
    model = model_config(hidden=d, layers=layers, mlp=mlp, heads=heads, patch=patch,
                         tubelet_t=tubelet_t, model_type=model_type, classifier=classifier,
                         **more)
    groups: dict[str, int] = {}  # Training state, counted per group (optimizer moments, …).
    for k in tensors:
        if not k.startswith(prefix):
            group = "/".join(k.split("/")[:2 if k.startswith("optimizer/") else 1])
            groups[group] = groups.get(group, 0) + 1
    return Released(
        format="scenic", source=path, params=params,
        config={"model": model, "dataset": dataset},
        adapted=[f"{o} ← {source[o]}" + (" (reshaped)" if o == "embedding/conv/kernel"
                                            and kernel.shape != w["embedding/kernel"].shape
                                            else "") for o in sorted(params)],
        ignored=[f"{g} ({n} tensors of training state)" for g, n in sorted(groups.items())],
        notes=notes, guessed_grid=guessed)
