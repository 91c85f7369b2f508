r"""ViViT-L/16x2 Model 1 (spatio-temporal attention), 32 frames × 320² at stride 2, Kinetics-600.

Reproduces ViViT (Arnab et al. 2021) Table 6(b) "ViViT-L/16x2 320": 83.0 % top-1, 95.7 % top-5
(4×3 views): vivit_l16x2_st_32x2x1_k600.py trained and tested at 320² (short side 366, 20×20
patches per frame). Same recipe otherwise:

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_st_32x2x1_320_k600_init \
      --config configs/kinetics600/vivit_l16x2_st_32x2x1_320_k600.py
  vivit-train --config configs/kinetics600/vivit_l16x2_st_32x2x1_320_k600.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_st_32x2x1_320_k600_init \
      --config.dataset.data_dir=/path/to/k600_dmvr --workdir workdirs/vivit_l16x2_st_320_k600
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="spatio_temporal"), lr=0.1,
        image_size=320, num_classes=600, train_size=recipes.KINETICS_600_TRAIN_SIZE)
    return recipes.runlocal(c, arg)
