r"""Tiny TimeSformer (space attention only), 8 frames × 32² at stride 2, synthetic_motion.

TimeSformer's Space model scaled down: 8×8 frame patches, 8 independent frames of 4×4
patches + their own CLS (a ViT per frame, tokens averaged over frames at the end); hidden 96, 4
layers, `recipes.synthetic_tiny`. A control: it cannot see frame order, and synthetic_motion's
classes differ only in motion, so it must stay near chance.

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/timesformer_space_only_tiny.py \
      --workdir workdirs/tsf_space_only
  vivit-train --config configs/synthetic/timesformer_space_only_tiny.py:runlocal --workdir /tmp/tsf
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="timesformer", variant="Ti/8",  # 8×8 frame patches.
        attention_type="space_only",
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192), arg)
