r"""STAT-B (Li et al., AAAI 2022), T = 16 / 32 / 64 frames × 224², Kinetics-400, from scratch.

The argument picks T (default 16; t_o 3 / 5 / 7 as the paper's Table 2); frames are TSN-sampled
(one per segment). Reproduces Table 6 (K400 val, from scratch): T=16 78.6 % top-1 (5×1 views,
296 GFLOPs), T=32 80.4 % (5×1, 601), T=64 81.3 % (3×3, 2172); the paper's GFLOPs are
multiply-adds summed over the views (T=16: 59.1 GMACs per view, Table 1). Optimiser:
`recipes.stat_adamw` (DeiT's AdamW, which the paper cites) on `recipes.epoch_schedule`.

  vivit-train --config configs/kinetics400/stat_b_k400.py:16 \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/stat_b_16_k400

Departures: the paper's appendix with epochs and batch is not available, so the schedule follows
MViT-B's K400 from-scratch recipe (Fan et al. 2021), whose augmentation the paper follows: 200
epochs, batch 512, 30 warmup epochs, drop path 0.2, label smoothing 0.1, mixup 0.8 / cutmix 1.0.
MViT's RandAugment and scale jitter are not config keys yet.
"""
import ml_collections

from vivit_jax import recipes

# frames → (t_o, test clips, test crops): Table 2 and the evaluation protocol.
SETTINGS = {16: (3, 5, 1), 32: (5, 5, 1), 64: (7, 3, 3)}


def get_config(arg=None):
    arg, local = recipes.runlocal_split(arg)
    if str(arg or 16) not in {str(t) for t in SETTINGS}:
        raise ValueError(f"unknown config arg {arg!r}; expected one of {sorted(SETTINGS)}")
    frames = int(arg or 16)
    window, clips, crops = SETTINGS[frames]
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(dict(family="stat", variant="B", window=window,
                                             drop_path=0.2))
    c.dataset = recipes.dmvr_video(
        num_classes=400, num_frames=frames, sampling="tsn", flip=True,  # Kinetics: symmetric.
        normalization="imagenet", mixup_alpha=0.8, cutmix_alpha=1.0,
        test_clips=clips, test_crops=crops)
    c.label_smoothing = 0.1
    recipes.epoch_schedule(c, train_size=recipes.KINETICS_400_TRAIN_SIZE_STAT, epochs=200,
                           batch_size=512, optim=recipes.stat_adamw(), warmup_epochs=30,
                           eval_every_epochs=10)
    return recipes.runlocal(c, local)
