r"""Tiny Compact VidTr (C-VidTr, topK_std pooling) on the embedded synthetic_motion set.

VidTr tiny with the paper's 8×8 frame patches (configs/synthetic/vidtr_tiny.py uses 2-frame
tubelets), 8 frames of 32², hidden 96, 4 layers, whose temporal attention keeps the 6
(layer 1) then 4 (layer 2) frame rows with the largest attention std (Section 3.3, Eq. 5):
8 → 8 → 6 → 4 frames through the 4 layers, the official 8-frame schedule (pool every other
layer, drop 2) fitted to 4 layers.
synthetic_motion classes are only visible through motion (BENCHMARKS.md).

  vivit-train --config configs/synthetic/vidtr_compact_tiny.py --workdir workdirs/cvidtr_tiny

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/vidtr_compact_tiny.py:runlocal --workdir /tmp/cvidtr
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vidtr", variant="Ti/8",  # 8×8 frame patches.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        time_embed_std=1.0,  # Frame order salient from step 0: timesformer_divided_tiny.
        pool_layers=(1, 2), pool_drop=2, pool_type="topk_std"),
        arg, runlocal_model=dict(num_layers=2, pool_layers=(1,)))
