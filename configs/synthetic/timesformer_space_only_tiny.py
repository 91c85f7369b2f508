r"""Tiny TimeSformer (space_only attention) on the embedded synthetic_motion set.

Frame patches 8×8 on 8 frames of 32² → 8 independent frames of 4×4 patches + their own CLS
(a ViT per frame, tokens averaged over frames at the end); hidden 96, 4 layers.
synthetic_motion classes are only visible through motion (BENCHMARKS.md).

  vivit-train --config configs/synthetic/timesformer_space_only_tiny.py \
      --workdir workdirs/tsf_space_only

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/timesformer_space_only_tiny.py:runlocal --workdir /tmp/tsf
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="timesformer", variant="Ti/8",  # 8×8 frame patches.
        attention_type="space_only",
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192), arg)
