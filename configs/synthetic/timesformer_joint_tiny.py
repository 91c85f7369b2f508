r"""Tiny TimeSformer (joint space-time attention), 8 frames × 32² at stride 2, synthetic_motion.

TimeSformer's joint scheme scaled down: 2×8×8 tubelets on 8 frames of 32² → 4 temporal
indices × 4×4 patches + CLS under one attention; hidden 96, 4 layers, 6000 steps of
`recipes.synthetic_tiny`. Target: ≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/timesformer_joint_tiny.py --workdir workdirs/tsf_joint
  vivit-train --config configs/synthetic/timesformer_joint_tiny.py:runlocal --workdir /tmp/tsf

Departures, for this tiny CPU run only (the Kinetics config keeps the paper's frame patches and
CLS readout): 2-frame tubelets instead of frame patches and the max-pool readout
`classifier='gmp'`, as vidtr_tiny.py, and a random temporal branch with a time embedding of std
1.0 (timesformer_divided_tiny.py says why).
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="timesformer", variant="Ti/8x2",  # 8×8 patches, 2-frame tubelets (docstring).
        attention_type="joint_space_time",
        classifier="gmp",  # Max of the final patch tokens, not the CLS (docstring).
        # From scratch: random time_embed/temporal_fc (zero init is for starting from a ViT and
        # leaves the frames interchangeable at step 0, a saddle the tiny run sits on).
        zero_init_temporal=False,
        # Order salient from step 0: configs/synthetic/timesformer_divided_tiny.py.
        time_embed_std=1.0,
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192), arg, num_train_steps=6000)
