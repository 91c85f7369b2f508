"""The layer every released-checkpoint reader stands on: one copy of each helper.

A format is a `vit_layouts.Layout` table (source regex → our name, with per-tensor hooks)
plus a function that infers the model's sizes from the tensors, or from the Hugging Face
`config.json` saved beside them (`hf_config`). Here is the rest: `strip` the file's
prefixes, `need` one tensor, `check_shapes` (misfits and missing tensors in one message),
`rename` by the table, `depth`, `default_heads`, `zero_qkv_bias`. The `model` and
`dataset` sections each reference builds are `convert/protocols.py`'s.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence

import numpy as np

from vivit_jax import fileio
from vivit_jax.convert import vit_layouts
from vivit_jax.convert.released import ReleasedError
from vivit_jax.convert.vit_layouts import Layout

Shape = "tuple[int, ...] | None"
SHOWN = 6  # Misfits named in one message; the rest counted.


# ---------------------------------------------------------------------------------------
# Tensors.
# ---------------------------------------------------------------------------------------
def strip(tensors: Mapping[str, np.ndarray], prefixes: Sequence[str],
          subs: Sequence[tuple[str, str]] = ()) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`(tensors renamed, new name → the file's)`: the first of `prefixes` each name starts
    with removed, then every `(regex, replacement)` of `subs` applied in turn."""
    names = {}
    for key, short in vit_layouts.strip_prefix(list(tensors), prefixes).items():
        for pattern, replacement in subs:
            short = re.sub(pattern, replacement, short)
        names[short] = key
    return {k: tensors[v] for k, v in names.items()}, names


def need(tensors: Mapping[str, np.ndarray], name: str, path: str, ndim: int | None = None
         ) -> np.ndarray:
    """The tensor `name` (with `ndim` dims when given), or a ReleasedError naming it."""
    if name not in tensors:
        raise ReleasedError(f"{path!r}: tensor {name!r} is missing (first tensors: "
                            f"{sorted(tensors)[:SHOWN]})")
    value = tensors[name]
    if ndim is not None and value.ndim != ndim:
        raise ReleasedError(f"{path!r}: tensor {name!r} has shape {value.shape}, expected "
                            f"{ndim} dims")
    return value


def refuse(path: str, problems: Sequence[str], context: str = "") -> None:
    """Raises one ReleasedError listing the first `SHOWN` problems and counting the rest;
    returns when there are none."""
    if problems:
        more = f"; … and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise ReleasedError(f"{path!r}{context}: " + "; ".join(problems[:SHOWN]) + more)


def check_shapes(tensors: Mapping[str, np.ndarray], expected: Mapping[str, Shape], path: str,
                 *, required: bool = False, shown: Mapping[str, str] | None = None,
                 context: str = "") -> None:
    """Every tensor whose name fully matches a key of `expected` (a regex; the first that
    matches counts; shape None: any) has that shape. With `required`, the keys are exact
    names and each must be present. Every misfit is named with both shapes (a wrong width
    shows in every block); `shown` maps a key to the name the user knows."""
    show = (lambda n: shown.get(n, n)) if shown else (lambda n: n)
    patterns = [(re.escape(k) if required else k, s) for k, s in expected.items()]
    bad = [f"tensor {show(n)!r} is missing (expected {s})" for n, s in expected.items()
           if required and n not in tensors]
    for name, value in sorted(tensors.items()):
        shape = next((s for p, s in patterns if re.fullmatch(p, name)), None)
        if shape is not None and tuple(value.shape) != tuple(shape):
            bad.append(f"tensor {show(name)!r}: expected {tuple(shape)}, found "
                       f"{tuple(value.shape)}")
    refuse(path, bad, context)


def rename(tensors: Mapping[str, np.ndarray], layout: Layout, heads: int, path: str,
           shown: Mapping[str, str] | None = None
           ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """`(float32 params, source names no row matched, 'ours ← theirs' for each param)` by
    `layout`'s table (`vit_layouts.rename`); a tensor its hook cannot reshape is named."""
    sources: dict[str, str] = {}
    try:
        params, ignored = vit_layouts.rename(dict(tensors), layout, heads, sources)
    except ValueError as e:  # A reshape into heads that does not divide.
        raise ReleasedError(f"{path!r}: {e}") from None
    shown = shown or {}
    return ({k: np.asarray(v, np.float32) for k, v in params.items()}, ignored,
            [f"{ours} ← {shown.get(src, src)}" for ours, src in sources.items()])


def depth(names: Sequence[str], block: str) -> int:
    """1 + the highest block index: `block` is a regex whose group 1 is the index."""
    return 1 + max((int(m[1]) for k in names if (m := re.match(block, k))), default=-1)


# ---------------------------------------------------------------------------------------
# Sizes the file does not store.
# ---------------------------------------------------------------------------------------
def default_heads(hidden: int) -> tuple[int, str]:
    """`(heads, note)` where fused q/k/v do not store the head count: ViT's for a standard
    width, else 64-wide heads (1 when D < 64)."""
    heads = vit_layouts.DEFAULT_HEADS.get(hidden) or max(1, hidden // 64)
    return heads, (f"the checkpoint does not store the head count (fused q/k/v): {heads} heads "
                   f"of {hidden // heads} for width {hidden} assumed (--config.model.num_heads "
                   f"changes it)")


def zero_qkv_bias(params: dict[str, np.ndarray], heads: int) -> None:
    """Zero query/key/value biases beside every q/k/v kernel (a model saved without them
    computes the same function)."""
    for name in [n for n in params if re.search(r"/(query|key|value)/kernel$", n)]:
        d = params[name].shape[0]
        params[name[:-len("kernel")] + "bias"] = np.zeros((heads, d // heads), np.float32)


# ---------------------------------------------------------------------------------------
# Hugging Face: the JSON files saved beside `model.safetensors` (any fileio path).
# ---------------------------------------------------------------------------------------
# hidden_act → model.approximate_gelu, as transformers' ACT2FN defines them: 'gelu' is torch's
# exact (erf) GELU and 'gelu_python' the same formula in Python; the others are the tanh form.
GELU = {"gelu": False, "gelu_python": False, "gelu_new": True, "gelu_pytorch_tanh": True,
        "gelu_fast": True}


def sibling(path: str, name: str) -> str:
    """The file `name` in the directory of `path` (local or a URL such as gs://…)."""
    return fileio.join(fileio.dirname(str(path)) or ".", name)


def read_json(path: str) -> dict | None:
    """The parsed file, or None when it does not exist."""
    if not fileio.isfile(path):
        return None
    try:
        return json.loads(fileio.read_bytes(path))
    except ValueError as e:
        raise ReleasedError(f"{path!r} is not valid JSON ({e})") from None


@dataclasses.dataclass(frozen=True)
class HFConfig:
    """A Hugging Face `config.json`, checked against what our models compute."""
    raw: dict
    path: str
    hidden: int
    heads: int
    layers: int
    mlp: int
    frames: int
    image: int
    approximate_gelu: bool
    qkv_bias: bool
    labels: list[str] | None  # id2label in id order.

    def square(self, key: str, value) -> int:
        """`value` (an int or a list of equal ints, e.g. image_size) as one int."""
        sizes = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(set(sizes)) != 1:
            raise ReleasedError(f"{self.path!r}: {key}={value} is not square; our models "
                                f"take square frames and patches")
        return int(sizes[0])

    def check_layers(self, found: int, path: str, block: str) -> None:
        if found != self.layers:
            raise ReleasedError(f"{path!r}: {found} {block} blocks, config.json "
                                f"num_hidden_layers={self.layers}")


def hf_config(path: str, model: str, gives: str, *, hidden_act: str, num_frames: int
              ) -> HFConfig:
    """The `config.json` beside the checkpoint `path`; refuses what our `model` cannot compute
    exactly. `gives`: what the file holds that the tensors do not (for the message when it is
    missing); `hidden_act`, `num_frames`: the HF class's defaults."""
    cpath = sibling(path, "config.json")
    cfg = read_json(cpath)
    if cfg is None:
        raise ReleasedError(
            f"{path!r}: a Hugging Face {model} checkpoint needs the config.json saved beside it "
            f"({cpath!r} does not exist): it gives {gives}, which the tensors do not; download "
            f"it from the model's Hub page into the same directory")
    act = cfg.get("hidden_act", hidden_act)
    if act not in GELU:
        raise ReleasedError(f"{cpath!r}: hidden_act={act!r} is not a GELU our {model} has "
                            f"(expected one of {sorted(GELU)})")
    eps = float(cfg.get("layer_norm_eps", 1e-6))
    if abs(eps - 1e-6) > 1e-12:
        raise ReleasedError(f"{cpath!r}: layer_norm_eps={eps} but our {model}'s LayerNorms "
                            f"use 1e-6 (the reference's and the released checkpoints'); the "
                            f"logits would differ")
    if cfg.get("num_channels", 3) != 3:
        raise ReleasedError(f"{cpath!r}: num_channels={cfg['num_channels']}; expected 3 (RGB)")
    hidden, heads = int(cfg.get("hidden_size", 768)), int(cfg.get("num_attention_heads", 12))
    if cfg.get("head_dim") not in (None, hidden // heads):
        raise ReleasedError(f"{cpath!r}: head_dim={cfg['head_dim']} ≠ hidden_size / "
                            f"num_attention_heads = {hidden // heads}; ours derives it")
    id2label = cfg.get("id2label") or {}
    out = HFConfig(
        raw=cfg, path=cpath, hidden=hidden, heads=heads,
        layers=int(cfg.get("num_hidden_layers", 12)), mlp=int(cfg.get("intermediate_size", 3072)),
        frames=int(cfg.get("num_frames", num_frames)), image=0, approximate_gelu=GELU[act],
        qkv_bias=bool(cfg.get("qkv_bias", True)),
        labels=[id2label[k] for k in sorted(id2label, key=int)] if id2label else None)
    return dataclasses.replace(out, image=out.square("image_size", cfg.get("image_size", 224)))
