r"""ViViT-L/16x2 Model 2 (factorised encoder, 4 temporal layers), 32 × 224² at stride 1, EK-100.

Reproduces ViViT (Arnab et al. 2021) Table 6(d), Epic-Kitchens-100: 44.0 % action, 66.4 % verb,
56.8 % noun top-1; Scenic's released checkpoint: 43.6 % action (4×1 views). Recipe: Scenic's
`epic_kitchens/vivit_large_factorised_encoder.py` (`recipes.vivit_epic_kitchens`): one 397-way
head split into nouns (300) then verbs (97), 32 frames at stride 1, mixup 0.1, label smoothing
0.2, stochastic depth 0.2, RandAugment, 50 epochs of SGD lr 0.5, 4×1 test views.

Evaluate Scenic's release directly (it converts with its label sets):

  vivit-convert --checkpoint epic_kitchens/vivit_large_16x2_fe/checkpoint --out ckpt/ek_l_fe
  vivit-eval --workdir ckpt/ek_l_fe --config.dataset.data_dir=/path/to/ek100_dmvr \
      --split validation

or train it from a Kinetics ViViT-L FE (data prepared as vivit_b16x2_fe_32x1x1_ek.py says):

  vivit-train --config configs/epic_kitchens/vivit_l16x2_fe_32x1x1_ek.py \
      --config.init_from.checkpoint=ckpt/vivit_l_fe_k400 \
      --config.dataset.data_dir=/path/to/ek100_dmvr --workdir workdirs/vivit_l16x2_fe_ek

Departure: RandAugment's magnitude is our maximum, 10 (Scenic's 15 is on another scale).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_epic_kitchens(dict(
        family="vivit", variant="L/16x2", model_type="factorised_encoder", temporal_layers=4))
    return recipes.runlocal(c, arg)
