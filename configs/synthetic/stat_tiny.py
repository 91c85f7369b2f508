r"""Tiny STAT (Li et al., AAAI 2022) on the embedded synthetic_motion set.

Must reach >= 95 % validation top-1 on a CPU in a few minutes. 8 frames at 32²: the stem
gives n_t = 4 temporal tokens on a 4×4 grid, then 2×2 and 1×1 in stages 2 and 3 (the
paper's /8, /16, /32 structure scaled down); t_o = 3 as the paper uses for T = 16.

  vivit-train --config configs/synthetic/stat_tiny.py --workdir workdirs/stat_tiny

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/stat_tiny.py:runlocal --workdir /tmp/st
"""
import ml_collections


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.family = "stat"
    c.model.variant = "B"
    c.model.hidden_size = 48  # Stage widths 48, 96, 192.
    c.model.depths = (1, 2, 1)
    c.model.num_heads = 2  # Heads 2, 4, 8 (head dim 24).
    c.model.stem_channels = (8, 16)
    c.model.kv_pool_strides = (1, 1, 1)  # 4×4 grid is already small: no K/V reduction,
    c.model.kv_pool = "avg"  # so P_CA is the identity (no depthwise conv: slow on CPU).
    c.model.downsample = "avg"
    c.model.window = 3  # t_o = 3 of n_t = 4 temporal tokens.

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "synthetic_motion"
    c.dataset.num_classes = 8
    c.dataset.num_frames = 8
    c.dataset.stride = 2  # 8 of the 16 generated frames: twice the motion per clip (as vivit_tiny).
    c.dataset.image_size = 32
    c.dataset.min_resize = 36  # Random 32² crops of a 36² resize (centre crop at eval).
    c.dataset.synthetic = ml_collections.ConfigDict(dict(train_size=6000))  # 2400 overfit.

    c.batch_size = 32
    c.eval_batch_size = 100
    c.num_train_steps = 3000
    c.label_smoothing = 0.0
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 100
    c.optim.schedule = "cosine"
    c.optim.weight_decay = 0.05

    c.log_every_steps = 50
    c.eval_every_steps = 500
    c.checkpoint_every_steps = 500

    if arg == "runlocal":
        c.num_train_steps = 20
        c.optim.warmup_steps = 2
        c.log_every_steps = 5
        c.eval_every_steps = 10
        c.checkpoint_every_steps = 10
        c.dataset.synthetic = ml_collections.ConfigDict(dict(
            train_size=64, validation_size=32, test_size=32))
        c.model.depths = (1, 1, 1)
    elif arg:
        raise ValueError(f"unknown config arg {arg!r}; expected nothing or 'runlocal'")
    return c
