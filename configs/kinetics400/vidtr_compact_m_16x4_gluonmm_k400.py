r"""C-VidTr-M as the official gluonmm code computes it: 16 frames × 224² (stride 4), K400.

C-VidTr: topK_std pooling per head at layers 1, 2, 4 dropping 8, 4, 2 frames, joint
attention after layer 4; ReLU MLP, LayerNorm eps 1e-5, the position embedding in layer 0
(`model.reference='gluonmm'`, vivit_jax/models/vidtr_gluonmm.py). Follows gluonmm
`scripts/action_recognition/config/cvidtr_m_16x4_patch16_224_k400.yaml` and its data code:
ImageNet mean/std, test short side 224, 10 clips × 3 crops. Official: 76.7 % top-1, 59
GFLOPs (vidtr_gluonmm.py's docstring compares that figure with `vivit-profile`).

Evaluate the released weights (`cvidtr_m_16x4_patch16_224_k400.pth`, converted once to
.safetensors with the command `vivit-convert` prints for a .pth):

  vivit-convert --checkpoint cvidtr_m_16x4_patch16_224_k400.safetensors --out ckpt/cvidtr_m_16x4
  vivit-eval --workdir ckpt/cvidtr_m_16x4 --config.dataset.data_dir=/path/to/k400_dmvr

Train (the yaml's SGD recipe: lr 0.01, momentum 0.9, weight decay 1e-5, 50 epochs, ÷10 at
25 and 40):

  vivit-train --config configs/kinetics400/vidtr_compact_m_16x4_gluonmm_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vidtr_compact_m_16x4_gluonmm_k400
"""
from vivit_jax import recipes


def get_config(arg=None):
    recipes.no_arg(arg)
    return recipes.kinetics400(dict(
        family="vidtr", reference="gluonmm", variant="B/16", dropout=0.1,
        pool_layers=(1, 2, 4), pool_drop=(8, 4, 2), pool_type="topk_std",
    ), epochs=50, optim=dict(name="sgd", momentum=0.9, lr=0.01, schedule="step",
                             step_boundaries=(25 / 50, 40 / 50), step_decay=0.1,
                             weight_decay=1e-5, grad_clip_norm=0.0),
        num_frames=16, stride=4, min_resize=224, normalization="mean_std",
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), test_clips=10, test_crops=3,
        test_aggregate="probs")
