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

SSV2_TRAIN_SIZE = 168913
SETTINGS = {16: 3, 32: 5, 64: 7}  # frames → t_o (Table 2).


def get_config(arg=None):
    frames = int(arg or 16)
    if frames not in SETTINGS:
        raise ValueError(f"unknown config arg {arg!r}; expected one of {sorted(SETTINGS)}")
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.family = "stat"
    c.model.variant = "B"
    c.model.window = SETTINGS[frames]
    c.model.drop_path = 0.2

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "dmvr"
    c.dataset.data_dir = ""  # Must be set: --config.dataset.data_dir=/path/to/ssv2_dmvr
    c.dataset.num_classes = 174
    c.dataset.num_frames = frames
    c.dataset.sampling = "tsn"
    c.dataset.image_size = 224
    c.dataset.min_resize = 256
    c.dataset.random_crop = True
    c.dataset.random_flip = False  # MUST stay False: flipping swaps left/right classes.
    c.dataset.normalization = "imagenet"
    c.dataset.mixup_alpha = 0.8
    c.dataset.cutmix_alpha = 1.0
    c.dataset.test_clips = 1
    c.dataset.test_crops = 3

    c.batch_size = 512
    c.eval_batch_size = 64
    c.label_smoothing = 0.1
    steps_per_epoch = SSV2_TRAIN_SIZE // c.batch_size
    c.num_train_steps = 100 * steps_per_epoch
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adamw"
    c.optim.lr = 1.6e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 10 * steps_per_epoch
    c.optim.weight_decay = 0.05
    c.optim.grad_clip_norm = 1.0

    c.log_every_steps = 100
    c.eval_every_steps = 5 * steps_per_epoch
    c.checkpoint_every_steps = 1000
    return c
