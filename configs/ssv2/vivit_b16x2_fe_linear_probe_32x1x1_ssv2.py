r"""Linear probe: a Kinetics-400 ViViT-B/16x2 Model 2 (factorised encoder), frozen, on SSv2.

Measures how much of Something-Something v2 the Kinetics-trained video features already
separate: the released ViViT-B FE (Scenic, K400) is loaded whole and frozen; only a new
174-way head trains (`optim.train_only`: every parameter but `head/` is frozen: no gradient,
no optimiser state). The data recipe is vivit_b16x2_fe_32x1x1_ssv2.py's frames and views (32
frames at stride 1, 4×3 views; no flips: SSv2 has left/right classes) at the released model's
224², with light augmentation (scale jitter and crop: no RandAugment, mixup or label
smoothing, which regularise a whole network, not one linear layer); SGD momentum 0.9, lr 0.1,
cosine, 10 epochs. No paper number is reproduced here.

  vivit-convert --checkpoint scenic_vivit_b16x2_fe_k400 --out released/scenic_vivit_b16x2_fe_k400
  vivit-train --config configs/ssv2/vivit_b16x2_fe_linear_probe_32x1x1_ssv2.py \
      --config.init_from.checkpoint=released/scenic_vivit_b16x2_fe_k400 \
      --config.dataset.data_dir=/path/to/ssv2_dmvr \
      --workdir workdirs/vivit_b16x2_fe_linear_probe_32x1x1_ssv2

(the released file: .../vivit/kinetics_400/vivit_base_16x2_fe/checkpoint, README "Start from
a released video checkpoint"). `:runlocal` runs the probe on a tiny Model 2 and
synthetic_motion.
"""
import ml_collections

from vivit_jax import recipes


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(dict(
        family="vivit", variant="B/16x2", model_type="factorised_encoder", temporal_layers=4))
    c.dataset = recipes.dmvr_video(
        num_classes=174, num_frames=32, stride=1, flip=False,  # Left/right classes.
        normalization="minus_one_to_one", train_pp="scale_jitter(230, 340)|random_crop(224)",
        test_clips=4, test_crops=3)
    recipes.epoch_schedule(c, train_size=recipes.SSV2_TRAIN_SIZE, epochs=10, batch_size=64,
                           optim=recipes.scenic_sgd(lr=0.1), warmup_epochs=0.5)
    c.optim.train_only = (r"^head/",)
    return recipes.runlocal(c, arg, data_recipe=False)
