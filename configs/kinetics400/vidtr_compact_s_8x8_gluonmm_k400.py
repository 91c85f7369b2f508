r"""C-VidTr-S 8×8 (K400, 8 frames × 224² at stride 8), as gluonmm's code computes it.

Follows gluonmm `scripts/action_recognition/config/cvidtr_s_8x8_patch16_224_k400.yaml`; recipe
and data of `recipes.gluonmm_vidtr_kinetics400`. Official: 75.7 % top-1, 39 GFLOPs
(vivit_jax/models/vidtr_gluonmm.py on that figure). The released weights
(`cvidtr_s_8x8_patch16_224_k400.pth`, made .safetensors once with the command vivit-convert
prints), then training:

  vivit-convert --checkpoint cvidtr_s_8x8_patch16_224_k400.safetensors --out ckpt/cvidtr_s_8x8
  vivit-eval --workdir ckpt/cvidtr_s_8x8 --config.dataset.data_dir=/path/to/k400_dmvr
  vivit-train --config configs/kinetics400/vidtr_compact_s_8x8_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vidtr_compact_s_8x8_gluonmm_k400

Per head, topK_std pooling drops 2 frames at each of layers 1, 3 and 5; attention is joint after
layer 5. Paper-text reading: vidtr_compact_s_8x8_k400.py.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.gluonmm_vidtr_kinetics400(
        num_frames=8, stride=8, pool_layers=(1, 3, 5), pool_drop=(2, 2, 2), pool_type="topk_std")
    return recipes.runlocal(c, arg)
