r"""ViViT-B/16x2 Model 1 (spatio-temporal attention), 32 frames × 224² at stride 2, K400.

Reproduces ViViT (Arnab et al. 2021) Table 2: 80.0 % top-1 (4×3 views), 455.2 GFLOPs, 88.9 M
parameters; Scenic's released checkpoint: 79.9 %. Recipe: Scenic's `vivit_base_k400.py`, i.e.
`recipes.vivit_kinetics400`. Departure: Scenic's DMVR colour augmentation is approximated by
`color_jitter(0.4, 0.8)` (no colour drop).

As in the paper (Section 3.4), it starts from an ImageNet-21k ViT-B/16:

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_st_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_st_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_st_32x2x1_k400

Model 1: one encoder over CLS ⊕ 16×14×14 tubelet tokens (Section 3.3).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="spatio_temporal"
    ), lr=0.1)
    return recipes.runlocal(c, arg)
