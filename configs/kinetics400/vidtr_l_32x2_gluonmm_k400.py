r"""VidTr-L 32×2 (K400, 32 frames × 224² at stride 2), as gluonmm's code computes it.

Recipe and data: `recipes.gluonmm_vidtr_kinetics400`, after gluonmm's
`scripts/action_recognition/config/vidtr_l_32x2_patch16_224_k400.yaml`. Official: 79.1 % top-1
and 351 GFLOPs (a figure vivit_jax/models/vidtr_gluonmm.py discusses).

Released weights: `vidtr_l_32x2_patch16_224_k400.pth`, made .safetensors once (vivit-convert
prints the command). Convert and evaluate them, or train:

  vivit-convert --checkpoint vidtr_l_32x2_patch16_224_k400.safetensors --out ckpt/vidtr_l_32x2
  vivit-eval --workdir ckpt/vidtr_l_32x2 --config.dataset.data_dir=/path/to/k400_dmvr
  vivit-train --config configs/kinetics400/vidtr_l_32x2_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vidtr_l_32x2_gluonmm_k400

For the reading of the paper text, see vidtr_l_32x2_k400.py.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.gluonmm_vidtr_kinetics400(num_frames=32, stride=2)
    return recipes.runlocal(c, arg)
