r"""ViViT-B/16x2 Model 2 (factorised encoder, 4 temporal layers), 32 × 224² at stride 2, K400.

Reproduces Scenic's released ViViT-B/16x2 FE checkpoint: 78.4 % top-1 (4×3 views), with Scenic's
`vivit_base_factorised_encoder.py` recipe: `recipes.vivit_kinetics400`. Departure: Scenic's DMVR
colour augmentation is approximated by `color_jitter(0.4, 0.8)` (no colour drop).

From an ImageNet-21k ViT-B/16 (Scenic's start):

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_fe_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_fe_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_fe_32x2x1_k400

A 12-layer spatial ViT-B per temporal index, then 4 temporal layers over the 16 frame CLS
tokens, as Scenic's release; Table 2's 78.8 % is the 2-layer model of
vivit_b16x2_fe2_32x2x1_k400.py.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="factorised_encoder",
        temporal_layers=4,  # Scenic's recipe.
    ), lr=0.05)
    return recipes.runlocal(c, arg)
