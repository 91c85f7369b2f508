"""2D → 3D initialisers (ViViT Section 3.4) and position-embedding tiling / resizing.

All numpy, on host: conversion runs once, before training.
"""
from __future__ import annotations

import dataclasses

import numpy as np

KERNEL_INITS = ("central_frame", "inflate", "random")
POSEMB_MODES = ("tile", "resize", "resize_tile")


def inflate_kernel(kernel: np.ndarray, t: int, method: str,
                   fresh: np.ndarray | None = None) -> np.ndarray:
    """ViT patch kernel `[p, p, 3, D]` → tubelet kernel `[t, p, p, 3, D]`.

    'central_frame' (ViViT Section 3.4, Eq. 9): zeros except index t//2 = the ViT kernel,
    so a tubelet embeds its central frame exactly as the ViT embeds an image.
    'inflate' (filter inflation, I3D; Eq. 8): the kernel tiled over t and divided by t, so a
    static tubelet embeds like the ViT. 'random': `fresh` (the model's own init).
    """
    if method == "central_frame":
        out = np.zeros((t,) + kernel.shape, kernel.dtype)
        out[t // 2] = kernel
        return out
    if method == "inflate":
        return np.repeat(kernel[None], t, axis=0) / t
    if method == "random":
        return fresh
    raise ValueError(f"--init={method!r}: expected one of {KERNEL_INITS}")


@dataclasses.dataclass(frozen=True)
class TokenLayout:
    """How a position-embedding tensor `[1, prefix + t·h·w, D]` maps onto the token grid.

    `prefix` class-token slots come first, then the grid time-major (t, h, w).
    """
    prefix: int
    grid: tuple[int, int, int]

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return self.prefix + t * h * w


def _resize(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Half-pixel linear interpolation (bilinear on 2 axes), no antialiasing."""
    import jax
    if x.shape == shape:
        return x
    return np.asarray(jax.image.resize(x, shape, "linear", antialias=False))


def adapt_posemb(name: str, pos: np.ndarray, src: TokenLayout, dst: TokenLayout,
                 mode: str, fresh: np.ndarray) -> np.ndarray:
    """Position embedding of token layout `src` → `dst` (`[1, N, D]` both).

    Class-token slots: copied where both have them, taken from `fresh` (the new model's
    init) where only the destination has them, dropped where only the source has them.
    Space: equal grids are kept; otherwise resized bilinearly ('resize', 'resize_tile');
    'tile' refuses a resolution change. Time: a single-frame source (a ViT) is tiled over
    time ("same spatial index, same embedding", ViViT Section 3.4); otherwise 'tile' repeats
    the sequence when the target is a multiple of it (Scenic) and the resize modes
    interpolate linearly.
    """
    if mode not in POSEMB_MODES:
        raise ValueError(f"posemb={mode!r}: expected one of {POSEMB_MODES}")
    d = pos.shape[-1]
    if pos.shape[1] != src.num_tokens:
        raise ValueError(f"tensor {name!r}: {pos.shape[1]} tokens, expected {src.num_tokens} "
                         f"for {src.prefix} class token(s) + grid {src.grid}")
    (ts, hs, ws), (td, hd, wd) = src.grid, dst.grid
    grid = pos[0, src.prefix:].reshape(ts, hs, ws, d)
    if (hs, ws) != (hd, wd):
        if mode == "tile":
            raise ValueError(
                f"tensor {name!r}: the patch grid changes from {hs}×{ws} to {hd}×{wd} "
                f"(another resolution or patch size); tiling cannot do that, use "
                f"posemb 'resize' or 'resize_tile' (--posemb resize / "
                f"--config.init_from.posemb=resize)")
        grid = _resize(grid, (ts, hd, wd, d)) if hs * ws > 1 else np.broadcast_to(
            grid, (ts, hd, wd, d))
    if ts != td:
        if ts == 1 or (mode == "tile" and td % ts == 0):
            grid = np.tile(grid, (td // ts, 1, 1, 1))
        elif mode == "tile":
            raise ValueError(f"tensor {name!r}: cannot tile {ts} temporal positions to {td}; "
                             f"use posemb 'resize' or 'resize_tile'")
        else:
            grid = _resize(grid, (td, hd, wd, d))
    cls = np.concatenate([pos[:, :min(src.prefix, dst.prefix)],
                          fresh[:, src.prefix:dst.prefix]], axis=1)
    return np.concatenate([cls, grid.reshape(1, -1, d)], axis=1).astype(pos.dtype)
