r"""ViViT-L/16x2 Model 2 (factorised encoder), 32×224², Kinetics-400.

A 24-layer spatial ViT-L per temporal index, then the temporal encoder. The temporal depth is
Scenic's released K400 recipe (`temporal_transformer.num_layers = 24`; its SSv2 and Epic-
Kitchens ViViT-L FE recipes use 4).

Reproduces: Scenic's released ViViT-L/16x2 FE checkpoint: 80.3% top-1 (4×3 views). The paper's
Table 6a K400 entry ViViT-L/16x2 (80.6%) is the spatio-temporal model (1446 GFLOPs per view,
Table 5).

Eval protocol (paper): 4 temporal clips × 3 spatial crops (`dataset.test_clips` ×
`dataset.test_crops`), raw logits averaged over the views as Scenic does; the trainer's own
evaluation is single-view (one centred clip, centre crop) and reads lower. Multi-view, after
training:

  vivit-eval --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py \
      --workdir workdirs/vivit_l16x2_fe_32x2x1_k400 --config.dataset.data_dir=/path/to/k400_dmvr

Data: Kinetics-400 as DMVR shards (`vivit-prepare`, short side 256) in a directory you pass as
`dataset.data_dir`; it is empty here on purpose and must be set:

  vivit-train --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vivit_l16x2_fe_32x2x1_k400

Cost per view: `vivit-profile --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py` →
995.31 GMACs, 606,827,920 parameters (991.01 GMACs, 354,903,440 parameters with 4 temporal
layers). For scale: ViViT-L/16x2 Model 1 profiles at 1447.63 GMACs against Table 5's 1446.

Recipe (Scenic's `vivit_large_factorised_encoder.py`): 32 frames at stride 2, short side 256
scale-jittered by 0.9-1.33, random 224² crop, flip, colour augmentation (Scenic's DMVR colour
ops; approximated here by `color_jitter(0.4, 0.8)`, no colour drop), SGD momentum 0.9 with
cosine decay after 2.5 epochs of linear warmup, batch 64, 30 epochs, gradient clipping at norm
1, no weight decay.

Scenic starts from an ImageNet-21k ViT-L/16 (tubelet kernel by central-frame init, position
embeddings tiled over time); from scratch the model lands far below the paper. Convert one and
train from it (README: "Fine-tune on your own videos from a ViT checkpoint"):

  vivit-convert --vit ViT-L_16.npz --config configs/kinetics400/vivit_l16x2_fe_32x2x1_k400.py \
      --out ckpt/vivit_l16x2_fe_32x2x1_k400_init
  vivit-train ... --config.init_from.checkpoint=ckpt/vivit_l16x2_fe_32x2x1_k400_init
"""
from vivit_jax import recipes


def get_config(arg=None):
    recipes.no_arg(arg)
    return recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="factorised_encoder",
        temporal_layers=24,  # Scenic's K400 ViViT-L FE recipe.
    ), lr=0.1)
