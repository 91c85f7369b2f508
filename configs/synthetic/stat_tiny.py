r"""Tiny STAT (Li et al., AAAI 2022) on the embedded synthetic_motion set.

Must reach >= 95 % validation top-1 on a CPU in a few minutes. 8 frames at 32²: the stem
gives n_t = 4 temporal tokens on a 4×4 grid, then 2×2 and 1×1 in stages 2 and 3 (the
paper's /8, /16, /32 structure scaled down); t_o = 3 as the paper uses for T = 16.

  vivit-train --config configs/synthetic/stat_tiny.py --workdir workdirs/stat_tiny

Recipe notes. With the shared tiny recipe (AdamW lr 1e-3) STAT sat at chance: within ~50
steps its representation collapsed to an input-independent one (the pre-logits' spread over
a batch fell 0.55 -> 0.02) and never recovered. With the stem's LayerNorm (over only 8
channels) the collapse came first, by step 50; without it at lr 1e-3 by step 125 (the stem
output's spread 0.34 -> 0.08); without it at lr 3e-4 the spread held (0.75 at step 300) and
the model learnt (24 % at the end of a 300-step probe, loss 1.78). So:
`stem_norm='none'` (GELU only between the stem convs) and lr 3e-4 here; the paper-sized
configs keep the LayerNorm stem (64/128 channels). NOT solved yet: through the real input
pipeline (6000 stored clips, random crops) a 1000-step run of this config was still at chance
at step 500 (validation 12.5 %, train loss 2.08-2.13 to step 600; 2026-12-01), so the
>= 95 % target stays open for STAT.

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/stat_tiny.py:runlocal --workdir /tmp/st
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
        kv_pool="avg",  # so P_CA is the identity (no depthwise conv: slow on CPU).
        downsample="avg",
        window=3,  # t_o = 3 of n_t = 4 temporal tokens.
        stem_norm="none",  # See the docstring: the 8-channel LayerNorm stem collapses.
    ), arg, eval_every_steps=500, runlocal_model=dict(depths=(1, 1, 1)))
    c.optim.lr = 3e-4  # 1e-3 collapses the representation (docstring).
    return c
