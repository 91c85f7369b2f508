r"""STAT-B (Li et al., AAAI 2022), T = 16 / 32 / 64 frames × 224², Something-Something v2.

The argument picks T (default 16; t_o 3 / 5 / 7, Table 2). Reproduces Table 7 (SSv2 val,
pre-trained on K400, 1×3 views): T=16 65.1 % top-1 (178 GFLOPs over the views), T=32 67.3 %
(361), T=64 67.6 % (724). Recipe: that of configs/kinetics400/stat_b_k400.py
(`recipes.stat_adamw`, MViT's settings where the paper's appendix is unavailable) with MViT-B's
SSv2 schedule (100 epochs, batch 512, 10 warmup epochs) and no flips. Start from the K400 run of
the same T:

  vivit-train --config configs/ssv2/stat_b_ssv2.py:16 \
      --config.init_from.checkpoint=workdirs/stat_b_16_k400 \
      --config.dataset.data_dir=/path/to/ssv2_dmvr --workdir workdirs/stat_b_16_ssv2
"""
import ml_collections

from vivit_jax import recipes

SETTINGS = {16: 3, 32: 5, 64: 7}  # frames → t_o (Table 2).


def get_config(arg=None):
    arg, local = recipes.runlocal_split(arg)
    if str(arg or 16) not in {str(t) for t in SETTINGS}:
        raise ValueError(f"unknown config arg {arg!r}; expected one of {sorted(SETTINGS)}")
    frames = int(arg or 16)
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(dict(family="stat", variant="B", window=SETTINGS[frames],
                                             drop_path=0.2))
    c.dataset = recipes.dmvr_video(
        num_classes=174, num_frames=frames, sampling="tsn",
        flip=False,  # MUST stay False: flipping swaps left/right classes.
        normalization="imagenet", mixup_alpha=0.8, cutmix_alpha=1.0, test_clips=1, test_crops=3)
    c.label_smoothing = 0.1
    recipes.epoch_schedule(c, train_size=recipes.SSV2_TRAIN_SIZE, epochs=100, batch_size=512,
                           optim=recipes.stat_adamw(), warmup_epochs=10)
    return recipes.runlocal(c, local)
