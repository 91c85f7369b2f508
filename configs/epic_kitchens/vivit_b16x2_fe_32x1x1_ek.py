r"""ViViT-B/16x2 Model 2 (factorised encoder, 4 temporal layers), 32 × 224² at stride 1, EK-100.

Reproduces ViViT (Arnab et al. 2021) Table 2's Epic-Kitchens column for Model 2 (43.7 % action
top-1) and the last row of Table 4 (its regularisation ablation: Kinetics-400 initialisation,
stochastic depth, RandAugment, label smoothing, mixup — all on here). Recipe: Scenic's
`epic_kitchens/vivit_large_factorised_encoder.py` on ViViT-B (`recipes.vivit_epic_kitchens`):
nouns and verbs as label sets over one 397-way head (`dataset.label_sets='noun:300,verb:97'`),
each its own softmax; vivit-eval reports noun, verb and action (both right) top-1 / top-5.

Prepare EK-100 (official CSVs, long videos P01/videos/P01_01.MP4) and start from a Kinetics-400
ViViT-B FE (Scenic's release, converted; the head is re-initialised for 397 classes):

  vivit-prepare --format epic_kitchens --annotations EPIC_100_train.csv \
      --video_dir EPIC-KITCHENS --output_dir /path/to/ek100_dmvr --fps 30
  vivit-prepare --format epic_kitchens --annotations EPIC_100_validation.csv \
      --video_dir EPIC-KITCHENS --output_dir /path/to/ek100_dmvr --fps 30
  vivit-convert --checkpoint vivit_base_16x2_fe_k400/checkpoint --out ckpt/vivit_b_fe_k400
  vivit-train --config configs/epic_kitchens/vivit_b16x2_fe_32x1x1_ek.py \
      --config.init_from.checkpoint=ckpt/vivit_b_fe_k400 \
      --config.dataset.data_dir=/path/to/ek100_dmvr --workdir workdirs/vivit_b16x2_fe_ek

Departures: RandAugment's magnitude is our maximum, 10 (Scenic's 15 is on another scale);
frames are kept at `--fps 30` (EK's segments are short: 32 frames at stride 1 ≈ 1 s).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_epic_kitchens(dict(
        family="vivit", variant="B/16x2", model_type="factorised_encoder", temporal_layers=4))
    return recipes.runlocal(c, arg)
