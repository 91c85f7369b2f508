r"""Tiny ViViT Model 3 (factorised self-attention), 8 frames × 32² at stride 2, synthetic_motion.

ViViT Model 3 scaled down: 4 blocks of spatial MSA (per temporal index, 4×4 tokens), temporal
MSA (per position) and MLP, no CLS; hidden 96, 6000 steps of `recipes.synthetic_tiny`. Target:
≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/vivit_fsa_tiny.py --workdir workdirs/vivit_fsa_tiny
  vivit-train --config configs/synthetic/vivit_fsa_tiny.py:runlocal --workdir /tmp/vivit_fsa_tiny

Departures, for this tiny run: 4-frame tubelets (4×8×8 → 2 temporal indices × 4×4 positions,
each token spanning 7 of the 16 generated frames) instead of the paper's 2-frame ones: with
those the factorised models stall (BENCHMARKS.md); and global *max* pooling (`classifier='gmp'`,
Scenic's option) instead of the paper's average: the object is small on a random texture and the
mean of the tokens drowns its motion.
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="vivit",
        variant="Ti/8x4",  # 8×8 patches, tubelets 4 frames deep → 2×4×4 tokens.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192,
        model_type="factorised_self_attention", attention_order="space_time",
        classifier="gmp",  # Max pooling: see the docstring; the paper's GAP is 'gap'.
    ), arg, num_train_steps=6000,  # 3000 steps: 91.5 %; the factorised blocks learn slower.
        eval_every_steps=2000)
