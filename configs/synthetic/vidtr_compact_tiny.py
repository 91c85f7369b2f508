r"""Tiny Compact VidTr (C-VidTr, topK_std pooling), 8 frames × 32² at stride 2, synthetic_motion.

vidtr_tiny.py (with its departures: 2-frame tubelets, max-pool readout, time embedding std 1.0;
6000 steps of `recipes.synthetic_tiny`) whose temporal attention keeps the 3 (layer 1) then 2
(layer 2) temporal rows with the largest attention std (Section 3.3, Eq. 5): 4 → 4 → 3 → 2
temporal indices through the 4 layers. Target: ≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/vidtr_compact_tiny.py --workdir workdirs/cvidtr_tiny
  vivit-train --config configs/synthetic/vidtr_compact_tiny.py:runlocal --workdir /tmp/cvidtr

Departure: that schedule is the official "pool every other layer" fitted to 4 layers and 4
indices (the official 8-frame one drops 2 frames at layers 1, 3, 5).
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vidtr", variant="Ti/8x2",  # 8×8 patches, 2-frame tubelets (vidtr_tiny.py).
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        classifier="gmp",  # Max of the final patch tokens, not the corner token.
        time_embed_std=1.0,  # Frame order salient from step 0: timesformer_divided_tiny.
        pool_layers=(1, 2), pool_drop=1, pool_type="topk_std"),
        arg, num_train_steps=6000, runlocal_model=dict(num_layers=2, pool_layers=(1,)))
