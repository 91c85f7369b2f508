r"""VidTr-L 32×2 (K400, 32 frames × 224² at stride 2), as gluonmm's code computes it.

recipe and data of `recipes.gluonmm_vidtr_kinetics400`. Follows gluonmm
`scripts/action_recognition/config/vidtr_l_32x2_patch16_224_k400.yaml`. Official: 79.1 % top-1,
351 GFLOPs (vivit_jax/models/vidtr_gluonmm.py on that figure). The released weights
(`vidtr_l_32x2_patch16_224_k400.pth`, made .safetensors once with the command vivit-convert
prints):

  vivit-convert --checkpoint vidtr_l_32x2_patch16_224_k400.safetensors --out ckpt/vidtr_l_32x2
  vivit-eval --workdir ckpt/vidtr_l_32x2 --config.dataset.data_dir=/path/to/k400_dmvr

Train:

  vivit-train --config configs/kinetics400/vidtr_l_32x2_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vidtr_l_32x2_gluonmm_k400
"""
from vivit_jax import recipes


def get_config(arg=None):
    recipes.no_arg(arg)
    return recipes.gluonmm_vidtr_kinetics400(num_frames=32, stride=2)
