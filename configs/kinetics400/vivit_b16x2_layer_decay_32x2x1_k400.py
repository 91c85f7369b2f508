r"""ViViT-B/16x2 Model 1 fine-tuned with layer-wise learning-rate decay, 32 × 224², K400.

The ViT fine-tuning recipe of BEiT and MAE (layer-wise decay, AdamW, weight decay 0.05) on
Scenic's Model 1 data recipe of vivit_b16x2_st_32x2x1_k400.py (frames, stride, augmentation,
4×3 views, 30 epochs after 2.5 of warm-up): with L = 12 blocks, block i (from 0) learns at
`lr × 0.75^(12 - i)`, the tubelet embedding, CLS and position embedding at `lr × 0.75^13`, the
final norm and the head at `lr`. 0.75 is VideoMAE's value for ViT-B on Kinetics-400; lr 2.5e-4
is BEiT/MAE's 1e-3 per 256 clips at batch 64. No paper number is reproduced here.

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_layer_decay_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_layer_decay_32x2x1_k400.py
  vivit-train --config configs/kinetics400/vivit_b16x2_layer_decay_32x2x1_k400.py \
      --config.init_from.checkpoint=ckpt/vivit_b16x2_layer_decay_32x2x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vivit_b16x2_layer_decay_32x2x1_k400

`:runlocal` runs the same parameter groups on a tiny Model 1 and synthetic_motion.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="spatio_temporal", drop_path=0.1,
    ), lr=2.5e-4)
    c.optim.update(name="adamw", weight_decay=0.05, layer_decay=0.75)
    return recipes.runlocal(c, arg, data_recipe=False)
