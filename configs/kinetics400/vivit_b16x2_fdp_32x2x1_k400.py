r"""ViViT-B/16x2 Model 4 (factorised dot-product attention), 32 frames × 224² at stride 2, K400.

ViViT Table 2 target (Arnab et al. 2021): 76.3 % top-1 (4×3 views), 277.1 GFLOPs, 88.9 M
parameters. Recipe: `recipes.vivit_kinetics400`, Scenic's `vivit_base_k400.py`, except: Scenic's
DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)` (no colour drop).

Fine-tune from an ImageNet-21k ViT-B/16:

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_fdp_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_fdp_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_fdp_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_fdp_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_fdp_32x2x1_k400

Half of the 12 heads attend within each frame, half across the frames of each position (Section
3.3, Model 4); global average pooling.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="factorised_dot_product"
    ), lr=0.1)
    return recipes.runlocal(c, arg)
