"""Parameter groups of the fine-tuning recipes, chosen by regexes over parameter paths.

A parameter's path is its '/'-joined name in the pure-dict tree (`Transformer/encoderblock_3/
MlpBlock_3/Dense_0/kernel`, `head/bias`), as `optim.no_decay` and `init_from.dont_load` match
it. From `config.optim`:

- `frozen`: parameters matching one of these are not trained; `train_only`, if set, freezes
  every parameter that matches none of its patterns (a linear probe: `(r"^head/",)`). Frozen
  parameters are left out of the gradient and of the optimiser: the state holds no moments
  for them, and they leave training bit-identical (`split` / `merge`).
- `lr_mult`: `(regex, factor)` pairs; every pattern a path matches multiplies its learning
  rate (and so its decoupled weight decay, as per-group learning rates do in PyTorch).
- `layer_decay`: layer-wise learning-rate decay (BEiT, MAE fine-tuning): with L blocks, block
  i (from 0) gets `layer_decay ** (L - i)`, the embeddings `layer_decay ** (L + 1)`, the
  final norm and head 1 (`layer_ids`). 1.0 is off.

The multipliers scale the optimiser's final update (`scale_updates`): the same as a learning
rate of `lr × factor` for SGD (momentum accumulates gradients) and for AdamW (the Adam step and
the decoupled decay are both multiplied by the learning rate).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

LAYOUTS = "ViViT (every model type), TimeSformer and VidTr"


def path_name(path) -> str:
    """The '/'-joined name of a key path of a pure-dict tree."""
    return "/".join(str(getattr(k, "key", k)) for k in path)


def _names(tree) -> list[str]:
    return [path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _map_names(fn: Callable[[str, Any], Any], tree):
    return jax.tree_util.tree_map_with_path(lambda p, x: fn(path_name(p), x), tree)


def _check_matches(patterns, names: list[str], key: str) -> None:
    """A pattern that matches no parameter is a typo (or another model's name): refused."""
    for p in patterns:
        try:
            regex = re.compile(p)
        except re.error as e:
            raise ValueError(f"config.optim.{key}: {p!r} is not a regex: {e}") from None
        if not any(regex.search(n) for n in names):
            raise ValueError(f"config.optim.{key}: pattern {p!r} matches no parameter of this "
                             f"model (names look like {names[0]!r}, {names[-1]!r})")


def trainable_mask(params, optim) -> Any:
    """True for the parameters `optim.frozen` / `optim.train_only` leave trainable."""
    frozen, only = tuple(optim.get("frozen", ())), tuple(optim.get("train_only", ()))
    names = _names(params)
    _check_matches(frozen, names, "frozen")
    _check_matches(only, names, "train_only")

    def trainable(name, _):
        if any(re.search(p, name) for p in frozen):
            return False
        return not only or any(re.search(p, name) for p in only)
    mask = _map_names(trainable, params)
    if not any(jax.tree.leaves(mask)):
        raise ValueError("config.optim.frozen / train_only freeze every parameter: nothing "
                         "is left to train")
    return mask


def _select(tree, mask, keep: bool):
    """The sub-dict of `tree` whose `mask` leaves equal `keep` (empty dicts dropped)."""
    if not isinstance(tree, dict):
        return tree if mask == keep else None
    out = {}
    for k, v in tree.items():
        sub = _select(v, mask[k], keep)
        if sub is not None and not (isinstance(sub, dict) and not sub):
            out[k] = sub
    return out


def split(tree, optim, params=None) -> tuple[dict, dict]:
    """(trainable, frozen): `tree` (params, gradients or shardings, a pure dict shaped like
    the params) cut by `trainable_mask`; `params` gives the names if `tree` is not them.
    Without frozen groups the first is `tree` itself and the second empty."""
    mask = trainable_mask(tree if params is None else params, optim)
    if all(jax.tree.leaves(mask)):
        return tree, {}
    return _select(tree, mask, True), _select(tree, mask, False)


def merge(trainable: dict, frozen: dict) -> dict:
    """Inverse of `split`: one tree holding both."""
    if not frozen:
        return trainable
    out = dict(frozen)
    for k, v in trainable.items():
        out[k] = merge(v, out[k]) if isinstance(v, dict) and k in out else v
    return out


# Layer ids for layer-wise decay. `Transformer` is the encoder of every layout here (ViViT
# Models 1, 3, 4, TimeSformer, VidTr; Model 2's spatial encoder); Model 2's
# `TemporalTransformer` continues the count after it. Position/class/time embeddings and the
# tokeniser are level 0; Model 2's temporal inputs (the spatial `encoder_norm`, `cls_temporal`,
# the temporal position embedding) sit one level below the first temporal block, as the
# embeddings sit below the first block; the last norm and the head are level L + 1.
_STACKS = ("Transformer", "TemporalTransformer")
_EMBEDDINGS = re.compile(r"^(embedding|cls|time_embed|Transformer/posembed_input)(/|$)")
_TEMPORAL_INPUTS = re.compile(
    r"^(cls_temporal|TemporalTransformer/posembed_input)(/|$)")
_BLOCK = re.compile(r"^(Transformer|TemporalTransformer)/encoderblock(?:_(\d+))?/")


def _depths(params) -> dict[str, int]:
    """Blocks per stack: `encoderblock_{i}` sub-dicts, or the leading axis of a stacked
    `encoderblock` (`model.scan=True`)."""
    depths = {}
    for stack in _STACKS:
        node = params.get(stack, {}) if isinstance(params, dict) else {}
        if "encoderblock" in node:
            depths[stack] = int(jax.tree.leaves(node["encoderblock"])[0].shape[0])
        else:
            depths[stack] = sum(1 for k in node if re.fullmatch(r"encoderblock_\d+", k))
    return depths


def layer_ids(params) -> tuple[Any, int]:
    """Each parameter's layer id, 0 (embeddings) … L + 1 (head): an int, or for a stacked
    `encoderblock` (`model.scan=True`) an int array over its leading layer axis; and L."""
    depths = _depths(params)
    spatial, total = depths["Transformer"], depths["Transformer"] + depths["TemporalTransformer"]
    two_stacks = depths["TemporalTransformer"] > 0

    def layer(name: str, leaf):
        block = _BLOCK.match(name)
        if block:
            first = 1 if block[1] == "Transformer" else spatial + 1
            if block[2] is None:  # Stacked: one id per slice of the leading axis.
                return first + np.arange(leaf.shape[0])
            return first + int(block[2])
        if _EMBEDDINGS.match(name):
            return 0
        if two_stacks and (_TEMPORAL_INPUTS.match(name)
                           or name.startswith("Transformer/encoder_norm/")):
            return spatial
        if re.match(r"^(head|(Temporal)?Transformer/encoder_norm)/", name):
            return total + 1
        raise ValueError(f"config.optim.layer_decay: parameter {name!r} has no layer id "
                         f"(layer-wise decay knows the {LAYOUTS} layouts)")
    return _map_names(layer, params), total


def lr_multipliers(params, optim) -> Any | None:
    """Each parameter's learning-rate factor (a float, or an array broadcasting over a stacked
    layer axis), from `optim.lr_mult` and `optim.layer_decay`; None when all are 1."""
    pairs = tuple(optim.get("lr_mult", ()))
    decay = float(optim.get("layer_decay", 1.0))
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"config.optim.layer_decay={decay}: expected a factor in (0, 1] "
                         f"(1 = off)")
    for pair in pairs:
        if len(pair) != 2 or not isinstance(pair[0], str) or float(pair[1]) <= 0:
            raise ValueError(f"config.optim.lr_mult: {pair!r} must be (regex, factor > 0); "
                             f"freeze parameters with config.optim.frozen")
    if not pairs and decay == 1.0:
        return None
    _check_matches([p for p, _ in pairs], _names(params), "lr_mult")
    ids, total = layer_ids(params) if decay != 1.0 else (None, 0)

    def factor(name: str, leaf, layer=None):
        f = np.float32(np.prod([m for p, m in pairs if re.search(p, name)] or [1.0]))
        if layer is None:
            return f
        f = f * np.float32(decay) ** (total + 1 - np.asarray(layer)).astype(np.float32)
        # A per-layer factor of a stacked leaf broadcasts over the rest of its axes.
        return f.reshape(f.shape + (1,) * (leaf.ndim - f.ndim)) if f.ndim else f
    if ids is None:
        return _map_names(factor, params)
    return jax.tree_util.tree_map_with_path(
        lambda p, leaf, layer: factor(path_name(p), leaf, layer), params, ids)


def scale_updates(multipliers) -> optax.GradientTransformation:
    """Multiplies each update by its factor in `multipliers` (a tree like the updates)."""
    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u, m: u * m.astype(u.dtype), updates, multipliers), state
    return optax.GradientTransformation(lambda _: optax.EmptyState(), update)
