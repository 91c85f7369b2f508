r"""Tiny VidTr (separable attention, no down-sampling), 8 frames × 32², synthetic_motion.

VidTr (Li et al. 2021) scaled down: 2×8×8 tubelets on 8 frames of 32² at stride 2 → a
(4+1) × (4·4+1) token grid with the class-token row and column (Section 3.2); hidden 96, 4
layers; 6000 steps of `recipes.synthetic_tiny`. Target: ≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/vidtr_tiny.py --workdir workdirs/vidtr_tiny
  vivit-train --config configs/synthetic/vidtr_tiny.py:runlocal --workdir /tmp/vidtr

Departures, for this tiny CPU run only (the Kinetics configs keep the paper's frame patches and
corner-token readout): 2-frame tubelets instead of frame patches (a rotation's direction is a
sub-patch change across frames, which a 2-frame token carries in itself), the max-pool readout
`classifier='gmp'` over the final patch tokens, and a time embedding of std 1.0
(timesformer_divided_tiny.py).
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vidtr", variant="Ti/8x2",  # 8×8 patches, 2-frame tubelets (docstring).
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        classifier="gmp",  # Max of the final patch tokens, not the corner token (docstring).
        time_embed_std=1.0,  # Frame order salient from step 0: timesformer_divided_tiny.
    ), arg, num_train_steps=6000)
