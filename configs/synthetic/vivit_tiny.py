r"""Tiny ViViT Model 1 (spatio-temporal attention), 8 frames × 32² at stride 2, synthetic_motion.

ViViT Model 1 (Arnab et al. 2021) scaled down to 2×8×8 tubelets (4×4×4 tokens), hidden 96, 4
layers, CLS readout, 2000 steps of `recipes.synthetic_tiny`: ≥ 90 % validation top-1
(BENCHMARKS.md). Its `:runlocal` copy is the tests' tiny model. The README's main command
trains Model 4 (`vivit_fdp_tiny.py`), which reaches ≥ 95 % in about the same time.
synthetic_motion is generated on first use (no download); its 8 classes are only visible
through motion.

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/vivit_tiny.py --workdir workdirs/vivit_tiny
  vivit-train --config configs/synthetic/vivit_tiny.py:runlocal --workdir /tmp/vt

The model zoo's ≥ 95 % bar takes the max-pool readout and twice the steps (BENCHMARKS.md):

  vivit-train --config configs/synthetic/vivit_tiny.py --workdir workdirs/vivit_tiny_gmp \
      --config.model.classifier=gmp --config.num_train_steps=6000
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vivit",
        variant="Ti/8x2",  # 8×8 patches, tubelets 2 frames deep → 4×4×4 tokens.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192, classifier="token"), arg,
        num_train_steps=2000)
