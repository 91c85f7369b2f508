r"""Tiny STAT (Li et al., AAAI 2022) on the embedded synthetic_motion set.

Reaches >= 95 % validation top-1 on a 2-core CPU in ~20-35 minutes. 8 frames at 32²: the stem
gives n_t = 4 temporal tokens on a 4×4 grid, then 2×2 and 1×1 in stages 2 and 3 (the
paper's /8, /16, /32 structure scaled down); t_o = 3 as the paper uses for T = 16.

  vivit-train --config configs/synthetic/stat_tiny.py --workdir workdirs/stat_tiny

Recipe notes. With the shared tiny recipe (AdamW lr 1e-3) STAT sits at chance: within ~75
steps its representation collapses to an input-independent one (the pre-logits' spread over
a batch falls 0.77 -> 0.01 while the last stage's residual stream grows a constant part,
mean |x| 2 -> 9) and never recovers; the 8-channel LayerNorm stem collapsed even sooner.
At lr 3e-4 with `stem_norm='none'` (GELU only between the stem convs; the paper-sized
configs keep the LayerNorm stem) the spread holds, and since the stem's kernels are
He-initialised (LeCun's shrank the tokens to std 0.07) it learns fast. Measured 2026-12-01
on 2 AMD EPYC cores shared with 2 other runs:

- 6000 steps (this config): validation top-1 98.25 % (96.25 % at step 4000), test 97.5 %,
  2066 s in the trainer -- past the >= 95 % target; rotate_cw / rotate_ccw 94 % / 92 %,
  every other class 100 %.
- 3000 steps (`--config.num_train_steps=3000`, 1083 s): 89.0 % / 89.5 %, plateaued from
  step 1500 with rotate_cw / rotate_ccw at 68 % / 46 % while the cosine schedule decayed.

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
        kv_pool="avg",  # so P_CA is the identity (no depthwise conv at stride 1).
        downsample="avg",
        window=3,  # t_o = 3 of n_t = 4 temporal tokens.
        stem_norm="none",  # See the docstring: the 8-channel LayerNorm stem collapses.
    ), arg, num_train_steps=6000, runlocal_model=dict(depths=(1, 1, 1)))
    c.optim.lr = 3e-4  # 1e-3 collapses the representation (docstring).
    return c
