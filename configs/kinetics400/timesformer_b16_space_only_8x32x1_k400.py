r"""TimeSformer-B/16, space attention, 8 frames × 224² (stride 32), Kinetics-400.

The ViT applied to each frame independently (every frame its own CLS, no frame sees
another), the final tokens averaged over the 8 frames, then the norm and the CLS classifier
(official `forward_features`); there is no time embedding: the model cannot see frame order
(Section 3, Figure 1).

Reproduces: TimeSformer (Bertasius et al. 2021) Table 1, Space: 76.9 % top-1
on K400, 85.9 M parameters, ImageNet-21K ViT-B/16 initialisation.

Eval protocol (paper): 1 temporal clip × 3 spatial crops (short side 224 in the paper; 256 here
then 224² crops), scores averaged (`dataset.test_clips=1`, `dataset.test_crops=3`). The trainer's
periodic validation is single-view.

Data: Kinetics-400 as DMVR shards (`vivit-prepare`, short side 256) in a directory you pass as
`dataset.data_dir`; it is empty here on purpose and must be set:

  vivit-train --config configs/kinetics400/timesformer_b16_space_only_8x32x1_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/timesformer_b16_space_only_8x32x1_k400

Cost per view, from
`vivit-profile --config configs/kinetics400/timesformer_b16_space_only_8x32x1_k400.py`:
142.72 GMACs, 86,106,256 parameters (the paper's figures: "Reproduces" above).

Recipe (official TimeSformer `TimeSformer_spaceOnly_8x32_224.yaml`): 8 frames at stride 32,
random 224² crop and flip, mean 0.45 / std 0.225 normalisation, SGD (Nesterov) momentum 0.9,
lr 0.005, weight decay 1e-4, 15 epochs with the lr divided by 10 after epochs 11 and 14, batch
64, drop path 0.1. The official short-side scale jitter 256-320 is not a config key yet (fixed
256 here).

The paper starts from an ImageNet-21K ViT-B/16; from scratch the model lands well below the
paper. Convert one and train from it (README: "Fine-tune on your own videos from a ViT
checkpoint"):

  vivit-convert --vit ViT-B_16.npz --out ckpt/timesformer_b16_space_only_8x32x1_k400_init \
      --config configs/kinetics400/timesformer_b16_space_only_8x32x1_k400.py
  vivit-train ... --config.init_from.checkpoint=ckpt/timesformer_b16_space_only_8x32x1_k400_init
"""
from vivit_jax import recipes


def get_config(arg=None):
    recipes.no_arg(arg)
    return recipes.timesformer_kinetics400(dict(
        family="timesformer", variant="B/16", attention_type="space_only",
        drop_path=0.1,  # Official vit_base_patch16_224.
    ), num_frames=8, stride=32, test_clips=1, nesterov=True,
        normalization="mean_std", mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))
