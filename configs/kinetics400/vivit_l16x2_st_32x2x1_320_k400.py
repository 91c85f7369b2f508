r"""ViViT-L/16x2 Model 1 (spatio-temporal attention), 32 frames × 320² at stride 2, K400.

Reproduces ViViT (Arnab et al. 2021) Table 5's 320² column: 81.0 % top-1 (Table 6(a) lists
"ViViT-L/16x2 320" at 81.3 %, 4×3 views), 3992 GFLOPs. Recipe: Scenic's ViViT Kinetics recipe
(`recipes.vivit_kinetics400`) at 320² (short side 366, scale jitter scaled with it), from an
ImageNet-21k ViT-L/16:

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_st_32x2x1_320_k400_init \
      --config configs/kinetics400/vivit_l16x2_st_32x2x1_320_k400.py
  vivit-train --config configs/kinetics400/vivit_l16x2_st_32x2x1_320_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_st_32x2x1_320_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_l16x2_st_320_k400

Departure: Scenic's DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)`.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="spatio_temporal"), lr=0.1,
        image_size=320)
    return recipes.runlocal(c, arg)
