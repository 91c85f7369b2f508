r"""ViViT-B/16x2 Model 3 (factorised self-attention), 32 frames × 224² at stride 2, K400.

Reproduces ViViT (Arnab et al. 2021) Table 2: 77.4 % top-1 over 4×3 views, 372.3 GFLOPs, 117.3 M
parameters. Recipe `recipes.vivit_kinetics400` (Scenic's `vivit_base_k400.py`); its departure:
Scenic's DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)` (no colour drop).

Convert an ImageNet-21k ViT-B/16 into Model 3 and train from it:

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_fsa_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_fsa_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_fsa_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_fsa_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_fsa_32x2x1_k400

Every block: spatial MSA within each frame, temporal MSA across the 16 frames of a position,
MLP; no CLS, global average pooling (Section 3.3).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="factorised_self_attention",
        attention_order="space_time",  # Section 3.3: spatial then temporal.
        temporal_attention_init="copy_spatial",  # Scenic; "zero" = Section 3.4.
    ), lr=0.1)
    return recipes.runlocal(c, arg)
