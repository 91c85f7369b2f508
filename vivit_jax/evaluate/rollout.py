"""Attention rollout (Abnar & Zuidema 2020) for joint, divided and separable attention.

  vivit-rollout --checkpoint WORKDIR VIDEO --out PNG [--layers 4,8,12] [--config FILE]

The math is pure numpy so that tests can check it by hand:

- `affinity(A)`: per layer, `0.5 · mean_heads(A) + 0.5 · I` (the residual connection), rows
  renormalised (Abnar & Zuidema §3).
- `rollout([Â_1 … Â_L])` = `Â_L · … · Â_1`; every row of a product of row-stochastic
  matrices sums to 1.
- Separable (VidTr appendix §4, Eqs. 1–3): the temporal rollout `mask_t [S+1, T+1, T+1]`
  (per spatial position) and the spatial one `mask_s [T+1, S+1, S+1]` (per temporal row);
  `mask_t' = mask_t[1:, 0, 1:] ∈ R^{S×T}`, `mask_s' = mask_s[1:, 0, 1:] ∈ R^{T×S}`, and
  `mask_st' = Re(mask_t') ⊙ mask_s'`. The paper calls `Re` "a reshape"; we read it as the
  transpose S×T → T×S (a plain reshape would pair frames with unrelated positions).
- Divided (TimeSformer): the temporal attention runs over patch tokens only (no CLS row), so
  `mask_t'[n, t]` is the mean over query frames of the temporal rollout's column t (how much
  an average frame of position n draws from frame t); the spatial rollout's CLS row gives
  `mask_s'`; combined as for VidTr. Space-only: the spatial part alone.
- Joint (ViViT model 1, TimeSformer joint): the CLS row of the rollout over all tokens (the
  mean row for a GAP classifier), reshaped to the token grid.
- ViViT Models 2-4 (`factorised_masks`), exact on their token graphs, the readout row pushed
  back through the layers as a row vector on the `[t, s]` grid (`r · Â`; no N×N product):
  Model 3 (factorised self-attention) chains its spatial (per frame) and temporal (per
  position) sub-layers in the block's order; Model 4 (factorised dot-product) averages its
  spatial and temporal heads, so a layer's affinity is `½·Â_s + ½·Â_t`; both read out by
  the mean row (GAP). Model 2 (factorised encoder): the temporal encoder's readout row over
  the frame tokens weights each frame's spatial rollout (its CLS row, or mean row with
  GAP); `--layers` counts the spatial encoder's layers.
- Pooled readouts (`classifier` 'gap' or 'gmp', e.g. the tiny TimeSformer and VidTr
  configs): the mean of the patch rows stands wherever a CLS row is read above
  (`readout_row`); the max has no rollout of its own.
- `threshold_top(mask, 0.3)`: keep the top 30 % of values (VidTr appendix §4), zero the rest.
C-VidTr with temporal pooling changes the number of temporal rows between layers; its
rollout is refused (the per-layer matrices no longer chain).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np


def affinity(attn: np.ndarray) -> np.ndarray:
    """`[..., H, N, N]` attention → `[..., N, N]`: 0.5·mean over heads + 0.5·I, rows sum to 1."""
    a = np.asarray(attn, np.float64).mean(axis=-3)
    a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
    return a / a.sum(-1, keepdims=True)


def rollout(affinities: Sequence[np.ndarray]) -> np.ndarray:
    """`Â_L · … · Â_1` of per-layer affinities `[..., N, N]` (layer 1 first in the list)."""
    if not len(affinities):
        raise ValueError("rollout of zero layers")
    out = np.asarray(affinities[0], np.float64)
    for a in affinities[1:]:
        out = np.asarray(a, np.float64) @ out
    return out


def readout_row(r: np.ndarray, token: bool = True, has_cls: bool = True) -> np.ndarray:
    """The row of a rollout `r [..., N, N]` that the readout sees, over the patch columns:
    the CLS row without the CLS column (`token`), else the mean of the patch rows (GAP; GMP
    too, whose max has no rollout of its own), with or without a CLS token (`has_cls`)."""
    r = np.asarray(r)
    if token:
        return r[..., 0, 1:]
    return r[..., 1:, 1:].mean(-2) if has_cls else r.mean(-2)


def combine_separable(mask_t: np.ndarray, mask_s: np.ndarray, token: bool = True
                      ) -> np.ndarray:
    """VidTr Eq. 1–3: `mask_t [S+1, T+1, T+1]`, `mask_s [T+1, S+1, S+1]` → `[T, S]`.

    `token=False` (a pooled readout): the mean patch row in place of each CLS row.
    """
    mt = readout_row(mask_t, token)[1:]  # [S, T]: CLS row of each spatial position.
    ms = readout_row(mask_s, token)[1:]  # [T, S]: CLS row of each frame.
    return mt.T * ms


def combine_divided(mask_t: np.ndarray, mask_s: np.ndarray, token: bool = True) -> np.ndarray:
    """TimeSformer: `mask_t [N, T, T]` (no CLS), `mask_s [T, 1+N, 1+N]` → `[T, N]`."""
    mt = np.asarray(mask_t).mean(axis=1)  # [N, T]: column means = average query frame.
    ms = readout_row(mask_s, token)  # [T, N]
    return mt.T * ms


def threshold_top(mask: np.ndarray, fraction: float = 0.3) -> np.ndarray:
    """`mask` with all but its `round(fraction · size)` largest values set to 0 (ties: first)."""
    mask = np.asarray(mask)
    flat = mask.reshape(-1)
    k = int(round(fraction * flat.size))
    out = np.zeros_like(flat)
    if k:
        keep = np.argsort(-flat, kind="stable")[:k]
        out[keep] = flat[keep]
    return out.reshape(mask.shape)


def _check_layers(layers: Sequence[int], n_layers: int) -> None:
    for layer in layers:
        if not 1 <= layer <= n_layers:
            raise ValueError(f"--layers {layer}: the model has layers 1..{n_layers}")


def _first(x) -> np.ndarray:
    return np.asarray(x)[0]  # Batch element 0.


def token_masks(attention: list[Any], grid: tuple[int, int, int], layers: Sequence[int],
                classifier_token: bool = True) -> dict[int, np.ndarray]:
    """Per requested layer (1-based), the combined rollout on the token grid `[t, h, w]`.

    `attention` is a model's `out["attention"]` for a batch of one video.
    """
    t, h, w = grid
    if not isinstance(attention, (list, tuple)) or not len(attention):
        raise ValueError("rollout needs per-layer attention (ViViT model 1, TimeSformer, VidTr); "
                         "this model returns " + type(attention).__name__)
    _check_layers(layers, len(attention))
    first = attention[0]
    out = {}
    if isinstance(first, dict) and "kept" in first:  # VidTr separable.
        if any(a.get("kept") is not None or np.shape(a["temporal"])[-1] !=
               np.shape(a["temporal"])[-2] for a in attention):
            raise ValueError("rollout of C-VidTr with temporal pooling is not supported: the "
                             "temporal rows change between layers")
        aff_t = [affinity(_first(a["temporal"])) for a in attention]  # [S+1, T+1, T+1]
        aff_s = [affinity(_first(a["spatial"])) for a in attention]  # [T+1, S+1, S+1]
        for layer in layers:
            st = combine_separable(rollout(aff_t[:layer]), rollout(aff_s[:layer]),
                                   classifier_token)
            out[layer] = st.reshape(t, h, w)
    elif isinstance(first, dict):  # TimeSformer divided / space-only.
        aff_s = [affinity(_first(a["spatial"])) for a in attention]  # [T, 1+N, 1+N]
        has_t = "temporal" in first and first["temporal"] is not None
        aff_t = [affinity(_first(a["temporal"])) for a in attention] if has_t else None
        for layer in layers:
            ms = rollout(aff_s[:layer])
            if aff_t is None:
                st = readout_row(ms, classifier_token)
            else:
                st = combine_divided(rollout(aff_t[:layer]), ms, classifier_token)
            out[layer] = st.reshape(t, h, w)
    else:  # Joint attention over all tokens: [B, H, N, N].
        aff = [affinity(_first(a)) for a in attention]
        has_cls = aff[0].shape[-1] == t * h * w + 1  # TimeSformer keeps its CLS under GAP.
        for layer in layers:
            row = readout_row(rollout(aff[:layer]), classifier_token, has_cls)
            out[layer] = row.reshape(t, h, w)
    return out


def factorised_masks(attention: dict[str, list], grid: tuple[int, int, int],
                     layers: Sequence[int], *, model_type: str, classifier_token: bool = False,
                     temporal_token: bool = True, spatial_first: bool = True
                     ) -> dict[int, np.ndarray]:
    """ViViT Models 2-4: per requested layer (1-based), the rollout on the token grid `[t, h, w]`.

    `attention` is the model's `out["attention"]` for one video: `{'spatial': [...],
    'temporal': [...]}`, lists over layers (see `vivit_jax.models.vivit`).
    """
    t, h, w = grid
    spatial = [affinity(_first(a)) for a in attention["spatial"]]
    _check_layers(layers, len(spatial))
    # Model 2: [t', t'] per temporal-encoder layer; Models 3-4: [s, t, t] per layer.
    temporal = [affinity(_first(a)) for a in attention["temporal"]]
    out = {}
    if model_type == "factorised_encoder":
        frames = (readout_row(rollout(temporal), temporal_token, temporal_token) if temporal
                  else np.full(t, 1 / t))  # No temporal encoder: frames averaged.
        for layer in layers:
            per_frame = readout_row(rollout(spatial[:layer]), classifier_token,
                                    classifier_token)  # [t, s]
            out[layer] = (frames[:, None] * per_frame).reshape(t, h, w)
        return out
    through_s = lambda r, a: np.einsum("ts,tsu->tu", r, a)  # Row · block-diag over frames.
    through_t = lambda r, a: np.einsum("ts,stu->us", r, a)  # Row · block-diag over positions.
    for layer in layers:
        r = np.full((t, h * w), 1 / (t * h * w))  # GAP's mean row.
        for a_s, a_t in zip(spatial[layer - 1::-1], temporal[layer - 1::-1]):
            if model_type == "factorised_dot_product":
                r = 0.5 * through_s(r, a_s) + 0.5 * through_t(r, a_t)
            elif spatial_first:  # Layer = Â_t · Â_s: the row meets Â_t first.
                r = through_s(through_t(r, a_t), a_s)
            else:
                r = through_t(through_s(r, a_s), a_t)
        out[layer] = r.reshape(t, h, w)
    return out


def to_frames(mask: np.ndarray, num_frames: int, size: int) -> np.ndarray:
    """Token-grid mask `[t, h, w]` → per-pixel `[num_frames, size, size]` (nearest)."""
    t, h, w = mask.shape
    m = np.repeat(mask, num_frames // t, axis=0)
    return np.repeat(np.repeat(m, size // h, axis=1), size // w, axis=2)


def run(video: str, *, checkpoint: str, out: str, layers: Sequence[int] | None = None,
        config: str | None = None, overrides=(), fraction: float = 0.3,
        fps: float = 10.0) -> dict[int, np.ndarray]:
    """Rollout of the centre view of `video`; writes the PNG grid; returns the pixel masks."""
    from vivit_jax import outputs
    from vivit_jax.evaluate import plots, predict

    outputs.writable_file(out)  # Before any work: one line naming the path.
    cfg, model, step, _ = predict.load(checkpoint, config, list(overrides))
    try:
        frames = predict.decode(video, cfg.dataset.min_resize, fps)
    except ValueError as e:
        raise ValueError(f"{video}: {e}") from None
    view = predict.make_views(frames, cfg.dataset, 1, 1)
    shown = predict.make_views(frames, cfg.dataset, 1, 1, normalize=False)[0]
    _, res = predict.forward(model, cfg, view, return_attention=True)
    attention = res.get("attention")
    if not attention or "grid" not in res:
        raise ValueError(f"model.family={cfg.model.family!r} returns no attention to roll out")
    to_np = lambda v: None if v is None else np.asarray(v, np.float32)
    grid = tuple(int(g) for g in res["grid"])
    token = getattr(model, "classifier", "token") == "token"  # As resolved by the model.
    factorised = isinstance(attention, dict)  # ViViT Models 2-4: {'spatial', 'temporal'}.
    n = len(attention["spatial"] if factorised else attention)
    layers = list(layers) if layers else sorted({max(1, n // 3), max(1, 2 * n // 3), n})
    if factorised:
        mc = cfg.model
        masks = factorised_masks(
            {k: [to_np(a) for a in v] for k, v in attention.items()}, grid, layers,
            model_type=mc.model_type, classifier_token=token,
            temporal_token=mc.get("temporal_classifier", "token") == "token",
            spatial_first=mc.get("attention_order", "space_time") == "space_time")
    else:
        attention = [{k: to_np(v) for k, v in a.items()} if isinstance(a, dict) else to_np(a)
                     for a in attention]
        masks = token_masks(attention, grid, layers, token)
    pixel = {}
    for layer, m in masks.items():
        top = threshold_top(m, fraction)
        pixel[layer] = to_frames(top / max(float(top.max()), 1e-12), len(shown), shown.shape[1])
    plots.rollout_png(np.clip(shown, 0, 255).astype(np.uint8), pixel, out,
                      f"{os.path.basename(video)}: rollout (top {fraction:.0%}), step {step}")
    return pixel


def main(argv: list[str] | None = None) -> int:
    """Console entry of `vivit-rollout`."""
    from vivit_jax.cli import exit_code, split_args

    rest, overrides = split_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="vivit-rollout",
                                description="Attention-rollout overlays of a video (PNG).")
    p.add_argument("video")
    p.add_argument("--checkpoint", required=True, help="training workdir or step directory")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--layers", help="1-based layers, e.g. 4,8,12 (default: L/3, 2L/3, L)")
    p.add_argument("--config", help="config file[:ARG] (default: WORKDIR/config.json)")
    p.add_argument("--fraction", type=float, default=0.3, help="share of values kept")
    p.add_argument("--fps", type=float, default=10.0)
    args = p.parse_args(rest)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        layers = None
        if args.layers:
            try:
                layers = [int(x) for x in args.layers.split(",")]
            except ValueError:
                raise ValueError(f"--layers {args.layers!r}: expected numbers like 4,8,12") \
                    from None
        run(args.video, checkpoint=args.checkpoint, out=args.out, layers=layers,
            config=args.config, overrides=overrides, fraction=args.fraction, fps=args.fps)
    except (ValueError, OSError) as e:  # OSError: an output that fails after the check.
        msg = (f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename
               and e.strerror else e)
        print(f"vivit-rollout: error: {msg}", file=sys.stderr, flush=True)
        return exit_code(e)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
