r"""ViViT-L/16x2 Model 1 (spatio-temporal attention), 32 frames × 224² at stride 2, Kinetics-600.

Reproduces ViViT (Arnab et al. 2021) Table 6(b): 82.5 % top-1, 95.6 % top-5 (4×3 views). Recipe:
Scenic's ViViT Kinetics recipe (`recipes.vivit_kinetics400` with 600 classes and Scenic's
Kinetics-600 training size), from an ImageNet-21k ViT-L/16. Prepare the Kinetics-600 CSVs as
Kinetics-400's (`--format kinetics`):

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_st_32x2x1_k600_init \
      --config configs/kinetics600/vivit_l16x2_st_32x2x1_k600.py
  vivit-train --config configs/kinetics600/vivit_l16x2_st_32x2x1_k600.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_st_32x2x1_k600_init \
      --config.dataset.data_dir=/path/to/k600_dmvr --workdir workdirs/vivit_l16x2_st_k600

Departure: Scenic's DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)`.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="spatio_temporal"), lr=0.1,
        num_classes=600, train_size=recipes.KINETICS_600_TRAIN_SIZE)
    return recipes.runlocal(c, arg)
