r"""Tiny ViViT Model 1 (spatio-temporal attention) on the embedded synthetic_motion set.

The default experiment: trains on a CPU in a few minutes and must reach >= 90 % validation
top-1 (BENCHMARKS.md). synthetic_motion is generated on first use (no download).

  vivit-train --config configs/synthetic/vivit_tiny.py --workdir workdirs/vivit_tiny

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/vivit_tiny.py:runlocal --workdir /tmp/vt
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vivit",
        variant="Ti/8x2",  # 8×8 patches, tubelets 2 frames deep → 4×4×4 tokens.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192, classifier="token"), arg)
