r"""ViViT-L/16x2 Model 2 (factorised encoder, 24 temporal layers), 32 × 224² at stride 2, K600.

Reproduces Scenic's released ViViT-L/16x2 FE Kinetics-600 checkpoint: 81.6 % top-1 (4×3 views).
Recipe: Scenic's `kinetics600/vivit_large_factorised_encoder.py`: 30 epochs of SGD lr 0.05
after 2.5 of warmup, no label smoothing, from an ImageNet-21k ViT-L/16:

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_fe_32x2x1_k600_init \
      --config configs/kinetics600/vivit_l16x2_fe_32x2x1_k600.py
  vivit-train --config configs/kinetics600/vivit_l16x2_fe_32x2x1_k600.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_fe_32x2x1_k600_init \
      --config.dataset.data_dir=/path/to/k600_dmvr --workdir workdirs/vivit_l16x2_fe_k600

Departure: Scenic's DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)`.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="factorised_encoder",
        temporal_layers=24), lr=0.05, num_classes=600,
        train_size=recipes.KINETICS_600_TRAIN_SIZE)
    return recipes.runlocal(c, arg)
