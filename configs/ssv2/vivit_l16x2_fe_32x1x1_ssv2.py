r"""ViViT-L/16x2 Model 2 (factorised encoder, 4 temporal layers), 32 × 256² at stride 1, SSv2.

The paper uses the factorised encoder on the smaller datasets (Section 4.3). Reproduces ViViT
Table 6 (Something-Something v2): 65.4 % top-1, 89.8 % top-5 (quoted again in STAT's Table 7).
Recipe: Scenic's `something_something_v2/vivit_large_factorised_encoder.py`, written with
`recipes.dmvr_video`, `recipes.scenic_sgd` and `recipes.epoch_schedule`. Scenic starts from a
Kinetics-trained checkpoint or an ImageNet-21k ViT-L/16 (below):

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_fe_32x1x1_ssv2_init \
      --config configs/ssv2/vivit_l16x2_fe_32x1x1_ssv2.py
  vivit-train --config configs/ssv2/vivit_l16x2_fe_32x1x1_ssv2.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_fe_32x1x1_ssv2_init \
      --config.dataset.data_dir=/path/to/ssv2_dmvr --workdir workdirs/vivit_l16x2_fe_32x1x1_ssv2

Departure: RandAugment's magnitude is the maximum, 10 (Scenic's 20 is on another scale).
"""
import ml_collections

from vivit_jax import recipes

# Scenic: short side 288 × U(0.9, 1.33), random 256² crop, RandAugment; no flip op here.
TRAIN_PP = "scale_jitter(259, 383)|random_crop(256)|randaug(2, 10)"


def get_config(arg=None):
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
    return recipes.runlocal(c, arg)
