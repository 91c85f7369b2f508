"""Matplotlib (Agg) figures of the evaluation tools: confusion matrix, gains, rollout overlays."""
from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from vivit_jax import fileio


def _save(fig, path) -> None:
    """PNG at `path`; a remote one (`gs://…`) rendered in memory and written in one piece."""
    if not fileio.is_remote(path):
        fig.savefig(path, dpi=100)
        return
    import io

    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    fileio.write_bytes(path, buf.getvalue())


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # Files only; never needs a display.
    import matplotlib.pyplot as plt

    return plt


def confusion_png(cm: np.ndarray, names: Sequence[str], path: str | pathlib.Path,
                  title: str = "") -> pathlib.Path:
    """Row-normalised confusion matrix (true class rows, predicted columns) with a colour bar
    (share of the true class); the video counts are written in the cells, as large as the
    cells allow."""
    plt = _plt()
    k = len(cm)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = min(4 + 0.5 * k, 40)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the true class's videos")
    if k <= 40:  # Labels and counts only where they stay readable.
        # ~40 % of a cell's height (the axes take ~70 % of the figure), 7-14 pt.
        digits = float(np.clip(0.7 * size / k * 72 * 0.4, 7, 14))
        ax.set_xticks(range(k), names, rotation=90, fontsize=min(digits, 10))
        ax.set_yticks(range(k), names, fontsize=min(digits, 10))
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=digits,
                            color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (counts: videos)" if title else "counts: videos")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return fileio.native(path)


def gains_png(names: Sequence[str], gains: Sequence[float], path: str | pathlib.Path,
              title: str = "") -> pathlib.Path:
    """Horizontal bars of per-class accuracy gains (green: B better, red: A better); with no
    class gained or lost, a figure that says so. `title` may hold several lines."""
    import textwrap

    plt = _plt()
    gains = np.asarray(gains, float) * 100
    title = "\n".join(textwrap.fill(line, 70) for line in title.splitlines())
    lines = title.count("\n") + 1 if title else 0
    height = 0.4 * lines + (1.2 + 0.3 * len(gains) if len(gains) else 1.0)
    fig, ax = plt.subplots(figsize=(7, height))
    if len(gains):
        ax.barh(range(len(gains)), gains,
                color=["tab:green" if g >= 0 else "tab:red" for g in gains])
        ax.set_yticks(range(len(gains)), names, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("top-1 accuracy gain (percentage points)")
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no class gained or lost: every class has the same top-1 accuracy",
                ha="center", va="center", fontsize=10, transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return fileio.native(path)


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
    _save(fig, path)
    plt.close(fig)
    return fileio.native(path)
