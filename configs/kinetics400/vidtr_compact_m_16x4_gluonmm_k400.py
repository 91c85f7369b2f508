r"""C-VidTr-M 16×4 (K400, 16 frames × 224² at stride 4), as gluonmm's code computes it.

topK_std pooling per head at layers 1, 2, 4 dropping 8, 4, 2 frames, joint attention after layer
4; recipe and data of `recipes.gluonmm_vidtr_kinetics400`. Follows gluonmm
`scripts/action_recognition/config/cvidtr_m_16x4_patch16_224_k400.yaml`. Official: 76.7 % top-1,
59 GFLOPs (vivit_jax/models/vidtr_gluonmm.py on that figure).

The first two lines convert and evaluate the released weights
(`cvidtr_m_16x4_patch16_224_k400.pth`; vivit-convert prints the command that makes them
.safetensors), the last trains:

  vivit-convert --checkpoint cvidtr_m_16x4_patch16_224_k400.safetensors --out ckpt/cvidtr_m_16x4
  vivit-eval --workdir ckpt/cvidtr_m_16x4 --config.dataset.data_dir=/path/to/k400_dmvr
  vivit-train --config configs/kinetics400/vidtr_compact_m_16x4_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vidtr_compact_m_16x4_gluonmm_k400

vidtr_compact_m_16x4_k400.py is the paper-text reading, with its own pooling schedule.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.gluonmm_vidtr_kinetics400(
        num_frames=16, stride=4, pool_layers=(1, 2, 4), pool_drop=(8, 4, 2), pool_type="topk_std")
    return recipes.runlocal(c, arg)
