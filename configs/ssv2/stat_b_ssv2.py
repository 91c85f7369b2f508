r"""STAT (Li et al., AAAI 2022) on Something-Something v2 at 224², from scratch; T = 16/32/64.

The argument picks the clip length (default 16); t_o follows the paper (3/5/7, Table 2):

  vivit-train --config configs/ssv2/stat_b_ssv2.py:16 \
      --config.dataset.data_dir=/path/to/ssv2_dmvr --workdir workdirs/stat_b_16_ssv2

Reproduces (Table 7, SSv2 val, pre-trained on K400): T=16 65.1 % top-1 (178 GFLOPs over
1×3 views), T=32 67.3 % (361), T=64 67.6 % (724). Start from the K400 run's checkpoint.

Eval protocol (paper): 1 temporal clip × 3 spatial crops for every T.

Recipe: as configs/kinetics400/stat_b_k400.py (TSN sampling, AdamW/DeiT, MViT's settings
where the paper's appendix is unavailable) but **no flip** (SSv2 has left/right classes) and
MViT-B's SSv2 schedule: 100 epochs, lr 1.6e-3 at batch 512 with 10 warmup epochs.
"""
import ml_collections

from vivit_jax import recipes

SETTINGS = {16: 3, 32: 5, 64: 7}  # frames → t_o (Table 2).


def get_config(arg=None):
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
    return c
