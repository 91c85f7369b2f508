"""Matplotlib (Agg) figures of the evaluation tools: confusion matrix, gains, rollout overlays."""
from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # Files only; never needs a display.
    import matplotlib.pyplot as plt

    return plt


def confusion_png(cm: np.ndarray, names: Sequence[str], path: str | pathlib.Path,
                  title: str = "") -> pathlib.Path:
    """Row-normalised confusion matrix (true class rows, predicted columns); counts in cells."""
    plt = _plt()
    k = len(cm)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = min(4 + 0.35 * k, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    if k <= 40:  # Labels and counts only where they stay readable.
        ax.set_xticks(range(k), names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), names, fontsize=7)
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return pathlib.Path(path)


def gains_png(names: Sequence[str], gains: Sequence[float], path: str | pathlib.Path,
              title: str = "") -> pathlib.Path:
    """Horizontal bars of per-class accuracy gains (green: B better, red: A better)."""
    plt = _plt()
    gains = np.asarray(gains, float) * 100
    fig, ax = plt.subplots(figsize=(7, 1 + 0.3 * len(gains)))
    ax.barh(range(len(gains)), gains, color=["tab:green" if g >= 0 else "tab:red" for g in gains])
    ax.set_yticks(range(len(gains)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("top-1 accuracy gain (percentage points)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return pathlib.Path(path)


def rollout_png(frames: np.ndarray, masks: dict[int, np.ndarray], path: str | pathlib.Path,
                title: str = "") -> pathlib.Path:
    """Grid: row 0 the frames [T, H, W, 3] (uint8), then one row per layer with the mask
    [T, H, W] (values in [0, 1], e.g. a thresholded rollout) overlaid in red."""
    plt = _plt()
    t = len(frames)
    rows = 1 + len(masks)
    fig, axes = plt.subplots(rows, t, figsize=(1.6 * t, 1.6 * rows), squeeze=False)
    for j in range(t):
        axes[0, j].imshow(frames[j])
        axes[0, j].set_title(f"frame {j}", fontsize=7)
    for i, (layer, mask) in enumerate(sorted(masks.items()), start=1):
        for j in range(t):
            axes[i, j].imshow(frames[j])
            axes[i, j].imshow(mask[j], cmap="Reds", alpha=0.5 * (mask[j] > 0), vmin=-0.5, vmax=1,
                              interpolation="nearest")
        axes[i, 0].set_ylabel(f"layer {layer}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return pathlib.Path(path)
