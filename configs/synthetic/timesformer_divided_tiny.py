r"""Tiny TimeSformer (divided space-time attention), 8 frames × 32² at stride 2, synthetic_motion.

TimeSformer (Bertasius et al. 2021) scaled down: 4×8×8 tubelets on 8 frames of 32² → 2 temporal
indices × 4×4 patches + CLS; hidden 96, 4 layers; 6000 steps of `recipes.synthetic_tiny`.
Target: ≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/timesformer_divided_tiny.py --workdir workdirs/tsf_divided
  vivit-train --config configs/synthetic/timesformer_divided_tiny.py:runlocal --workdir /tmp/tsf

Departures, for this tiny CPU run only (the Kinetics config keeps the paper's frame patches and
CLS readout, and the official zero-initialised temporal branch): 4-frame tubelets, since divided
attention needs two hops between neighbouring patches at different times and a 4-frame token
holds most of a rotation step; the max-pool readout `classifier='gmp'`; a random temporal branch
(`zero_init_temporal=False`) and time embedding of std 1.0, so that frame order is salient from
step 0 when training from scratch.
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="timesformer", variant="Ti/8x4",  # 8×8 patches, 4-frame tubelets (docstring).
        attention_type="divided_space_time",
        classifier="gmp",  # Max of the final patch tokens, not the CLS (docstring).
        # From scratch: random time_embed/temporal_fc (zero init is for starting from a ViT and
        # leaves the frames interchangeable at step 0, a saddle the tiny run sits on).
        zero_init_temporal=False,
        # Order must be salient from step 0: with std 0.02 (the patches' scale is ~1) the run
        # learns the motion's kind, not its direction (BENCHMARKS.md).
        time_embed_std=1.0,
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192), arg, num_train_steps=6000)
