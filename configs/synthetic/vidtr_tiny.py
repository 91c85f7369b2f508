r"""Tiny VidTr (separable attention, no down-sampling) on the embedded synthetic_motion set.

Frame patches 8×8 on 8 frames of 32² → a (8+1) × (4·4+1) token grid (class-token row and
column, VidTr Section 3.2); hidden 96, 4 layers. synthetic_motion classes are only visible
through motion (BENCHMARKS.md).

  vivit-train --config configs/synthetic/vidtr_tiny.py --workdir workdirs/vidtr_tiny

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/vidtr_tiny.py:runlocal --workdir /tmp/vidtr
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vidtr", variant="Ti/8",  # 8×8 frame patches.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        time_embed_std=1.0,  # Frame order salient from step 0: timesformer_divided_tiny.
    ), arg)
