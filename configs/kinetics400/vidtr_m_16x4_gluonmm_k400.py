r"""VidTr-M 16×4 (K400, 16 frames × 224² at stride 4), as gluonmm's code computes it.

The official gluonmm model and its
`scripts/action_recognition/config/vidtr_m_16x4_patch16_224_k400.yaml` recipe, as
`recipes.gluonmm_vidtr_kinetics400` holds it (data included). Official figures: 78.6 % top-1,
179 GFLOPs (on which see vivit_jax/models/vidtr_gluonmm.py).

The released `vidtr_m_16x4_patch16_224_k400.pth` (turned into .safetensors once, by the
command vivit-convert prints) converts and evaluates; the third line trains it:

  vivit-convert --checkpoint vidtr_m_16x4_patch16_224_k400.safetensors --out ckpt/vidtr_m_16x4
  vivit-eval --workdir ckpt/vidtr_m_16x4 --config.dataset.data_dir=/path/to/k400_dmvr
  vivit-train --config configs/kinetics400/vidtr_m_16x4_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vidtr_m_16x4_gluonmm_k400

vidtr_m_16x4_k400.py reads the paper text instead.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.gluonmm_vidtr_kinetics400(num_frames=16, stride=4)
    return recipes.runlocal(c, arg)
