r"""ViViT-B/16x2 Model 2 as in Table 2 (2 temporal layers), 32 frames × 224² at stride 2, K400.

Reproduces ViViT (Arnab et al. 2021) Table 2: 78.8 % top-1 (4×3 views), 284.4 GFLOPs, 100.7 M
parameters, with Scenic's `vivit_base_factorised_encoder.py` recipe
(`recipes.vivit_kinetics400`). Departure: Scenic's DMVR colour augmentation is approximated by
`color_jitter(0.4, 0.8)` (no colour drop).

Start from an ImageNet-21k ViT-B/16, converted into this 2-layer model:

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_fe2_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_fe2_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_fe2_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_fe2_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_fe2_32x2x1_k400

The factorised encoder of vivit_b16x2_fe_32x2x1_k400.py (Scenic's release, 4 temporal layers)
with L_t = 2: the depth Table 2's parameters imply (86.7 M average-pool baseline + 2 × 7.09 M);
its GFLOPs would rather fit L_t = 4, the table is not self-consistent (BENCHMARKS.md). Table 2's
average-pool baseline (75.8 %, 283.9 GFLOPs, 86.7 M) is `--config.model.temporal_layers=0`.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="factorised_encoder",
        temporal_layers=2,  # Table 2 (see docstring).
    ), lr=0.05)
    return recipes.runlocal(c, arg)
