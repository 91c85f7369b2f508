r"""Tiny STAT (Li et al., AAAI 2022), 8 frames × 32² at stride 2, synthetic_motion.

The paper's /8, /16, /32 stages scaled down: the stem gives n_t = 4 temporal tokens on a 4×4
grid, then 2×2 and 1×1 in stages 2 and 3; widths 48 / 96 / 192; t_o = 3 as the paper uses for
T = 16. 6000 steps of `recipes.synthetic_tiny`. Target: ≥ 95 % validation top-1 (BENCHMARKS.md).

Train it, or smoke-test a shrunk copy with `:runlocal`:

  vivit-train --config configs/synthetic/stat_tiny.py --workdir workdirs/stat_tiny
  vivit-train --config configs/synthetic/stat_tiny.py:runlocal --workdir /tmp/st

Departures: lr 3e-4 instead of the tiny recipe's 1e-3, and no LayerNorm between the stem convs
(`stem_norm='none'`, GELU only; the paper-sized configs keep it): at 1e-3, and sooner with the
8-channel LayerNorm stem, the representation collapses early to an input-independent one and
never recovers (BENCHMARKS.md).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.synthetic_tiny(dict(
        family="stat", variant="B",
        hidden_size=48,  # Stage widths 48, 96, 192.
        depths=(1, 2, 1),
        num_heads=2,  # Heads 2, 4, 8 (head dim 24).
        stem_channels=(8, 16),
        kv_pool_strides=(1, 1, 1),  # 4×4 grid is already small: no K/V reduction,
        kv_pool="avg",  # so P_CA is the identity (no depthwise conv at stride 1).
        downsample="avg",
        window=3,  # t_o = 3 of n_t = 4 temporal tokens.
        stem_norm="none",  # See the docstring: the 8-channel LayerNorm stem collapses.
    ), arg, num_train_steps=6000, runlocal_model=dict(depths=(1, 1, 1)))
    c.optim.lr = 3e-4  # 1e-3 collapses the representation (docstring).
    return c
