r"""TimeSformer-B/16, joint space-time attention, 8 frames × 224² at stride 32, Kinetics-400.

One attention over CLS ⊕ all 8·196 patch tokens per block. Reproduces TimeSformer (Bertasius et
al. 2021) Table 1, joint space-time: 77.4 % top-1, 85.9 M parameters, from an ImageNet-21K
ViT-B/16, with the official `TimeSformer_jointST_8x32_224.yaml` recipe as
`recipes.timesformer_kinetics400` holds it.

  vivit-convert --vit ViT-B_16.npz --out ckpt/timesformer_b16_joint_8x32x1_k400_init \
      --config configs/kinetics400/timesformer_b16_joint_8x32x1_k400.py
  vivit-train --config configs/kinetics400/timesformer_b16_joint_8x32x1_k400.py \
      --workdir workdirs/timesformer_b16_joint_8x32x1_k400 \
      --config.init_from.checkpoint=ckpt/timesformer_b16_joint_8x32x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr

Departures, as the divided config: no short-side scale jitter (256-320 officially; fixed 256
here), test crops at short side 256 instead of 224.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.timesformer_kinetics400(dict(
        family="timesformer", variant="B/16", attention_type="joint_space_time",
        drop_path=0.1,  # Official vit_base_patch16_224.
    ), num_frames=8, stride=32, test_clips=1, nesterov=True,
        normalization="mean_std", mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))
    return recipes.runlocal(c, arg)
