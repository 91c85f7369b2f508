r"""VidTr-S 8×8 (K400, 8 frames × 224² at stride 8), as gluonmm's code computes it.

Follows gluonmm `scripts/action_recognition/config/vidtr_s_8x8_patch16_224_k400.yaml` with the
recipe and data of `recipes.gluonmm_vidtr_kinetics400`. Official: 77.7 % top-1, 89 GFLOPs
(vivit_jax/models/vidtr_gluonmm.py on that figure).

Evaluate the released weights (`vidtr_s_8x8_patch16_224_k400.pth`, made .safetensors once
with the command vivit-convert prints), or train:

  vivit-convert --checkpoint vidtr_s_8x8_patch16_224_k400.safetensors --out ckpt/vidtr_s_8x8
  vivit-eval --workdir ckpt/vidtr_s_8x8 --config.dataset.data_dir=/path/to/k400_dmvr
  vivit-train --config configs/kinetics400/vidtr_s_8x8_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vidtr_s_8x8_gluonmm_k400

Its paper-text counterpart is vidtr_s_8x8_k400.py.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.gluonmm_vidtr_kinetics400(num_frames=8, stride=8)
    return recipes.runlocal(c, arg)
