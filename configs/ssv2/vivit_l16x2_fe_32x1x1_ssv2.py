r"""ViViT-L/16x2 Model 2 (factorised encoder), 32×256², Something-Something v2.

The paper uses the factorised encoder on the smaller datasets (Section 4.3): a 24-layer spatial
ViT-L per temporal index, then a 4-layer temporal encoder.

Reproduces: ViViT paper Table 6 (SSv2): ViViT-L/16x2 FE 65.4% top-1, 89.8% top-5 (quoted again
in STAT's Table 7).

Eval protocol (paper): 4 temporal clips × 3 spatial crops (`dataset.test_clips` ×
`dataset.test_crops`), raw logits averaged as Scenic does; the trainer's own evaluation is
single-view. Multi-view, after training:

  vivit-eval --config configs/ssv2/vivit_l16x2_fe_32x1x1_ssv2.py \
      --workdir workdirs/vivit_l16x2_fe_32x1x1_ssv2 --config.dataset.data_dir=/path/to/ssv2_dmvr

Data: Something-Something v2 as DMVR shards (`vivit-prepare`) in a directory you pass as
`dataset.data_dir`; it is empty here on purpose and must be set:

  vivit-train --config configs/ssv2/vivit_l16x2_fe_32x1x1_ssv2.py \
      --config.dataset.data_dir=/path/to/ssv2_dmvr --workdir workdirs/vivit_l16x2_fe_32x1x1_ssv2

Cost per view: `vivit-profile --config configs/ssv2/vivit_l16x2_fe_32x1x1_ssv2.py` → 1304.93
GMACs, 354,733,230 parameters.

Recipe (Scenic's `something_something_v2/vivit_large_factorised_encoder.py`): 32 frames at
stride 1, short side 288, random 256² crop, **no flip** (SSv2 has left/right classes such as
"pushing something from left to right"), scale jitter 0.9-1.33, RandAugment (2 layers; Scenic's
magnitude 20 is on another scale, here the maximum 10), Mixup alpha 0.3, stochastic depth 0.3,
label smoothing 0.3, SGD momentum 0.9, lr 0.4 with cosine decay after 2.5 epochs of warmup,
batch 64, 35 epochs. Scenic starts from a Kinetics-trained (or ImageNet-21k) checkpoint:
`--config.init_from.checkpoint=...` (README: "Fine-tune on your own videos from a ViT checkpoint").
"""
import ml_collections

from vivit_jax import recipes

# Scenic: short side 288 × U(0.9, 1.33), random 256² crop, RandAugment; no flip op here.
TRAIN_PP = "scale_jitter(259, 383)|random_crop(256)|randaug(2, 10)"


def get_config(arg=None):
    recipes.no_arg(arg)
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(dict(
        family="vivit", variant="L/16x2", model_type="factorised_encoder", temporal_layers=4,
        drop_path=0.3))
    c.dataset = recipes.dmvr_video(
        num_classes=174, num_frames=32, stride=1, image_size=256, min_resize=288,
        flip=False,  # MUST stay False: flipping swaps left/right classes.
        normalization="minus_one_to_one", train_pp=TRAIN_PP, mixup_alpha=0.3,
        test_clips=4, test_crops=3)  # Paper protocol: 4 temporal clips × 3 spatial crops.
    c.label_smoothing = 0.3
    recipes.epoch_schedule(c, train_size=recipes.SSV2_TRAIN_SIZE, epochs=35, batch_size=64,
                           optim=recipes.scenic_sgd(lr=0.4), warmup_epochs=2.5)
    return c
