r"""Tiny ViViT Model 2 (factorised encoder), 8 frames × 32² at stride 2, synthetic_motion.

ViViT Model 2 scaled down: a 4-layer spatial encoder per temporal index (per-frame CLS ⊕ 4×4
tokens), then a 2-layer temporal encoder over the frame CLS tokens ⊕ a temporal CLS; hidden 96,
3000 steps of `recipes.synthetic_tiny`. The model zoo's bar is ≥ 95 % validation top-1, which
Model 2 does not reach yet (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/vivit_fe_tiny.py --workdir workdirs/vivit_fe_tiny
  vivit-train --config configs/synthetic/vivit_fe_tiny.py:runlocal --workdir /tmp/vivit_fe_tiny

Departure, for this tiny run: 4-frame tubelets (4×8×8 → 2 temporal indices × 4×4 positions, each
token spanning 7 of the 16 generated frames) instead of the paper's 2-frame ones: with those the
factorised models stall (BENCHMARKS.md).
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vivit",
        variant="Ti/8x4",  # 8×8 patches, tubelets 4 frames deep → 2×4×4 tokens.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        model_type="factorised_encoder", temporal_layers=2, classifier="token",
        temporal_classifier="token"), arg)
