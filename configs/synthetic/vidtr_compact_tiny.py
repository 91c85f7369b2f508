r"""Tiny Compact VidTr (C-VidTr, topK_std pooling) on the embedded synthetic_motion set.

VidTr tiny (configs/synthetic/vidtr_tiny.py: 8×8 frame patches, 8 frames of 32², hidden 96,
4 layers) whose temporal attention keeps the 6 (layer 1) then 4 (layer 2) frame rows with the
largest attention std (Section 3.3, Eq. 5): 8 → 8 → 6 → 4 frames through the 4 layers, the
official 8-frame schedule (pool every other layer, drop 2) fitted to 4 layers.
synthetic_motion classes are only visible through motion (BENCHMARKS.md).

  vivit-train --config configs/synthetic/vidtr_compact_tiny.py --workdir workdirs/cvidtr_tiny

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/vidtr_compact_tiny.py:runlocal --workdir /tmp/cvidtr
"""
import ml_collections


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.family = "vidtr"
    c.model.variant = "Ti/8"  # 8×8 frame patches.
    c.model.hidden_size = 96
    c.model.num_layers = 4
    c.model.num_heads = 4
    c.model.mlp_dim = 192
    c.model.pool_layers = (1, 2)
    c.model.pool_drop = 2
    c.model.pool_type = "topk_std"

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "synthetic_motion"
    c.dataset.num_classes = 8
    c.dataset.num_frames = 8
    c.dataset.stride = 2  # 8 of the 16 generated frames: twice the motion per clip.
    c.dataset.image_size = 32
    c.dataset.min_resize = 36  # Random 32² crops of a 36² resize (centre crop at eval).
    # 2400 clips overfit the ViViT tiny model (configs/synthetic/vivit_tiny.py); 6000 do not.
    c.dataset.synthetic = ml_collections.ConfigDict(dict(train_size=6000))

    c.batch_size = 32
    c.eval_batch_size = 100
    c.num_train_steps = 3000
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"
    c.optim.lr = 1e-3
    c.optim.warmup_steps = 100
    c.optim.schedule = "cosine"
    c.optim.weight_decay = 0.05

    c.log_every_steps = 50
    c.eval_every_steps = 1000
    c.checkpoint_every_steps = 1000

    if arg == "runlocal":
        c.num_train_steps = 20
        c.optim.warmup_steps = 2
        c.log_every_steps = 5
        c.eval_every_steps = 10
        c.checkpoint_every_steps = 10
        c.dataset.synthetic = ml_collections.ConfigDict(dict(
            train_size=64, validation_size=32, test_size=32))
        c.model.num_layers = 2
        c.model.pool_layers = (1,)
    elif arg:
        raise ValueError(f"unknown config arg {arg!r}; expected nothing or 'runlocal'")
    return c
