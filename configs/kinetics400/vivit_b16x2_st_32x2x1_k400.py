r"""ViViT-B/16x2 Model 1 (spatio-temporal attention), 32×224², Kinetics-400.

One encoder over CLS ⊕ 16×14×14 tubelet tokens (Section 3.3, Model 1).

Reproduces: ViViT paper Table 2 (ViViT-B, tubelet 16×2, 32 frames, 224², K400, 4×3 views): 80.0%
top-1, 455.2 GFLOPs (multiply-adds), 88.9 M parameters. Scenic's released checkpoint: 79.9%.

Eval protocol (paper): 4 temporal clips × 3 spatial crops (`dataset.test_clips` ×
`dataset.test_crops`), raw logits averaged over the views as Scenic does; the trainer's own
evaluation is single-view (one centred clip, centre crop) and reads lower. Multi-view, after
training:

  vivit-eval --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py \
      --workdir workdirs/vivit_b16x2_st_32x2x1_k400 --config.dataset.data_dir=/path/to/k400_dmvr

Data: Kinetics-400 as DMVR shards (`vivit-prepare`, short side 256) in a directory you pass as
`dataset.data_dir`; it is empty here on purpose and must be set:

  vivit-train --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_b16x2_st_32x2x1_k400

Cost per view: `vivit-profile --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py` →
455.90 GMACs, 88,954,000 parameters (tests/evaluate/test_profile.py).

Recipe (Scenic's `vivit_base_k400.py`): 32 frames at stride 2, short side 256 scale-jittered by
0.9-1.33, random 224² crop, flip, colour augmentation (Scenic's DMVR colour ops; approximated
here by `color_jitter(0.4, 0.8)`, no colour drop), SGD momentum 0.9 with cosine decay after 2.5
epochs of linear warmup, batch 64, 30 epochs, gradient clipping at norm 1, no weight decay.

Scenic starts from an ImageNet-21k ViT-B/16 (tubelet kernel by central-frame init, position
embeddings tiled over time); from scratch the model lands far below the paper. Convert one and
train from it (README: "Fine-tune on your own videos from a ViT checkpoint"):

  vivit-convert --vit ViT-B_16.npz --out ckpt/vivit_b16x2_st_32x2x1_k400_init \
      --config configs/kinetics400/vivit_b16x2_st_32x2x1_k400.py
  vivit-train ... --config.init_from.checkpoint=ckpt/vivit_b16x2_st_32x2x1_k400_init
"""
from vivit_jax import recipes


def get_config(arg=None):
    recipes.no_arg(arg)
    return recipes.vivit_kinetics400(dict(
        family="vivit", variant="B/16x2", model_type="spatio_temporal"
    ), lr=0.1)
