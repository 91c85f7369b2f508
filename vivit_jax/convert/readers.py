"""Readers: the one raw-tensor loader (`.npz`, `.safetensors`, Flax msgpack) and ViT files →
the canonical form (Orbax checkpoints are read by `vivit_jax.checkpoint`).

Nothing here unpickles: `.npz` is read with `allow_pickle=False`, torch pickles
(`.bin`/`.pth`/`.pt`) are refused with the one-line command that turns them into safetensors.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re

import numpy as np

from vivit_jax import fileio
from vivit_jax.convert import vit_layouts

PICKLE_SUFFIXES = (".bin", ".pth", ".pyth", ".pt", ".ckpt", ".pkl")
# Released torch checkpoints nest their weights (`model_state` in TimeSformer's .pyth,
# `state_dict` / `model` elsewhere); the command takes the first of these it finds.
TO_SAFETENSORS = (
    "python -c \"import torch; from safetensors.torch import save_file; "
    "s = torch.load('{p}', map_location='cpu', weights_only=True); "
    "s = next((s[k] for k in ('model_state', 'state_dict', 'model') if k in s), s); "
    "save_file({{k: v.contiguous() for k, v in s.items()}}, '{s}')\"")


def to_safetensors_command(path: str) -> str:
    """The one-line command (run where torch is installed) that makes `path` safetensors."""
    path = str(path)
    stem = path.rsplit(".", 1)[0] if path.lower().endswith(PICKLE_SUFFIXES) else path
    return TO_SAFETENSORS.format(p=path, s=stem + ".safetensors")


@dataclasses.dataclass
class ViTCheckpoint:
    """A ViT in canonical form (see `vit_layouts`), with what was learnt while reading it."""
    params: dict[str, np.ndarray]  # Flat canonical names → float32 arrays.
    layout: str
    num_heads: int
    num_layers: int
    patch_size: tuple[int, int]
    grid: tuple[int, int]  # Patch grid (h, w) the position embedding covers.
    has_cls: bool
    gelu: str  # 'tanh' or 'erf': the GELU the checkpoint was trained with.
    ignored: list[str]  # Source tensors no row of the layout matched.

    @property
    def hidden_size(self) -> int:
        return int(self.params["embedding/kernel"].shape[-1])


def read_tensors(path: str | pathlib.Path, *, msgpack: bool = False,
                 error: type[ValueError] = ValueError) -> dict[str, np.ndarray]:
    """Raw name → array of a `.npz` or `.safetensors` file, or with `msgpack` of any other
    file read as a Flax msgpack state (names '/'-joined); local or `gs://…` (safetensors maps
    files: a remote one is read through a local copy).

    Never unpickles: a torch pickle gets the one-line command that makes safetensors of it.
    A file that cannot be read raises `error` (one line naming it).
    """
    shown = str(path)
    if shown.lower().endswith(PICKLE_SUFFIXES):
        raise error(
            f"{shown!r} is a pickled torch checkpoint, which is never unpickled here (it can "
            f"run arbitrary code). Convert it to safetensors once, where torch is installed:\n  "
            + to_safetensors_command(shown))
    if not fileio.exists(shown):
        raise FileNotFoundError(f"checkpoint {shown!r} does not exist")
    if fileio.isdir(shown):
        raise error(f"{shown!r} is a directory; pass the checkpoint file (a .safetensors or "
                    f".npz file, or a Scenic 'checkpoint' msgpack file)")
    suffix = os.path.splitext(shown)[1].lower()
    if suffix not in (".npz", ".safetensors"):
        if msgpack:
            return _msgpack(fileio.read_bytes(shown), shown, error)
        raise error(f"{shown!r}: unsupported checkpoint file type {suffix!r}; expected .npz "
                    f"(vision_transformer, big_vision) or .safetensors (timm, Hugging Face)")
    if not fileio.is_remote(shown):
        return _load_tensors(shown, suffix, shown, error)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vivit_ckpt_") as tmp:
        local = os.path.join(tmp, f"checkpoint{suffix}")
        fileio.copy(shown, local)
        return _load_tensors(local, suffix, shown, error)


def _load_tensors(local: str, suffix: str, shown: str, error: type[ValueError]
                  ) -> dict[str, np.ndarray]:
    """The arrays of the local `.npz` / `.safetensors` file `local`; messages name `shown`."""
    try:
        if suffix == ".npz":
            with np.load(local, allow_pickle=False) as f:
                return {k: np.asarray(f[k]) for k in f.files}
        from safetensors import safe_open
        out = {}
        # 'flax' reads bfloat16 too (numpy has no bf16); arrays become float32 here.
        with safe_open(local, framework="flax") as f:
            for k in f.keys():
                out[k] = np.asarray(f.get_tensor(k), dtype=np.float32)
        return out
    except Exception as e:  # BadZipFile, SafetensorError, EOFError, …: one line naming it.
        raise error(f"{shown!r} is not a readable {suffix} checkpoint ({_why(e)})") from None


def _why(e: Exception) -> str:
    return f"{type(e).__name__}: " + (str(e).splitlines()[0][:200] if str(e)
                                      else "truncated or corrupt")


def flatten_nested(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts (msgpack state) → `{'a/b/c': array}`; non-array leaves are dropped."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(flatten_nested(v, f"{prefix}{k}/"))
    elif isinstance(tree, (np.ndarray, np.generic)) or hasattr(tree, "__array__"):
        out[prefix[:-1]] = np.asarray(tree)
    return out


def _msgpack(data: bytes, shown: str, error: type[ValueError]) -> dict[str, np.ndarray]:
    """A Flax msgpack state's arrays (floating ones as float32) with '/'-joined names."""
    if data[:2] == b"PK" or data[:1] == b"\x80":  # zip (torch.save) or pickle protocol 2+.
        raise error(f"{shown!r} looks like a pickle or zip file (torch.save), not a Flax "
                    f"msgpack checkpoint; convert it to .safetensors:\n  "
                    + to_safetensors_command(shown))
    from flax import serialization
    try:
        tree = serialization.msgpack_restore(data)
    except Exception as e:  # msgpack's ExtraData / OutOfData / ValueError: one line.
        raise error(f"{shown!r} is not a readable Flax msgpack checkpoint ({_why(e)})") from None
    if not isinstance(tree, dict):
        raise error(f"{shown!r}: msgpack content is a {type(tree).__name__}, not the state "
                    f"dict of a Flax checkpoint")
    return {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v
            for k, v in flatten_nested(tree).items()}


def _infer_heads(tensors: dict[str, np.ndarray], layout: vit_layouts.Layout,
                 num_heads: int | None) -> int:
    if layout.heads_in_shapes:
        for k, v in tensors.items():
            if re.search(r"MultiHeadDotProductAttention_\d/query/kernel$", k):
                return int(v.shape[1])
    if num_heads:
        return num_heads
    width = next(v.shape[0] for k, v in tensors.items()
                 if k.endswith(("proj.weight", "projection.weight")))
    if width not in vit_layouts.DEFAULT_HEADS:
        raise ValueError(f"cannot infer the number of attention heads of a width-{width} "
                         f"{layout.name} checkpoint; set it (model.num_heads)")
    return vit_layouts.DEFAULT_HEADS[width]


def canonical_pos_embedding(pos: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """`[1, (1+)h·w, D]` → with a CLS slot first (zeros when absent) and the square grid.

    Checkpoints whose embedding skips CLS (big_vision; timm `no_embed_class`) add it to the
    patches only, which is the same as a zero CLS slot. ViT grids are square, and `n` and
    `n + 1` cannot both be squares, so the slot is recognised without ambiguity.
    """
    n = pos.shape[1]
    side = math.isqrt(n)
    if side * side == n:
        return np.concatenate([np.zeros_like(pos[:, :1]), pos], axis=1), (side, side)
    side = math.isqrt(n - 1)
    if side * side != n - 1:
        raise ValueError(f"tensor 'Transformer/posembed_input/pos_embedding': {n} tokens are "
                         f"neither a square patch grid nor CLS + a square grid")
    return pos, (side, side)


def read_vit(path: str | pathlib.Path, *, num_heads: int | None = None) -> ViTCheckpoint:
    """Reads any supported ViT checkpoint into the canonical (vision_transformer) form.

    `num_heads` is used where the layout does not store heads in its shapes (timm/HF fuse
    them); default: the standard ViT head count of the width.
    """
    from vivit_jax.convert.transfer import unstack_flat
    tensors = unstack_flat(read_tensors(path))
    layout = vit_layouts.detect(list(tensors))
    heads = _infer_heads(tensors, layout, num_heads)
    params, ignored = vit_layouts.rename(tensors, layout, heads)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    for need in ("embedding/kernel", "Transformer/posembed_input/pos_embedding",
                 "Transformer/encoder_norm/scale"):
        if need not in params:
            raise ValueError(f"{layout.name} checkpoint {str(path)!r} has no tensor for "
                             f"canonical {need!r}; keys found: {sorted(tensors)[:20]}")
    pos = "Transformer/posembed_input/pos_embedding"
    params[pos], grid = canonical_pos_embedding(params[pos])
    depth = len({k.split("/")[1] for k in params if k.startswith("Transformer/encoderblock_")})
    kernel = params["embedding/kernel"]
    return ViTCheckpoint(params=params, layout=layout.name, num_heads=heads, num_layers=depth,
                         patch_size=tuple(kernel.shape[:2]), grid=grid, has_cls="cls" in params,
                         gelu=layout.gelu, ignored=ignored)
