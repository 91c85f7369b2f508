r"""ViViT-L/16x2 Model 2 (factorised encoder, 24 temporal layers), 32 × 224² at stride 2, K400.

Reproduces Scenic's released ViViT-L/16x2 FE checkpoint: 80.3 % top-1 (4×3 views); the paper's
Table 6a K400 ViViT-L/16x2 (80.6 %) is the spatio-temporal model. Recipe: Scenic's
`vivit_large_factorised_encoder.py` (`recipes.vivit_kinetics400`). Departure: Scenic's DMVR
colour augmentation is approximated by `color_jitter(0.4, 0.8)` (no colour drop).

Scenic starts from an ImageNet-21k ViT-L/16:

  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_fe_32x2x1_k400_init \
      --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_fe_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_l16x2_fe_32x2x1_k400

A 24-layer spatial ViT-L per temporal index, then Scenic's released K400 temporal depth
(`temporal_transformer.num_layers = 24`; its SSv2 and Epic-Kitchens ViViT-L FE recipes use 4).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="factorised_encoder",
        temporal_layers=24,  # Scenic's K400 ViViT-L FE recipe.
    ), lr=0.1)
    return recipes.runlocal(c, arg)
