r"""TimeSformer-B/16, space attention only, 8 frames × 224² at stride 32, Kinetics-400.

The ViT on each frame alone, its final tokens averaged over the 8 frames; with no time embedding
it cannot see frame order. Reproduces TimeSformer (Bertasius et al. 2021) Table 1, Space: 76.9 %
top-1, 85.9 M parameters, from an ImageNet-21K ViT-B/16. Recipe (official
`TimeSformer_spaceOnly_8x32_224.yaml`): `recipes.timesformer_kinetics400`.

  vivit-convert --vit ViT-B_16.npz --out ckpt/timesformer_b16_space_only_8x32x1_k400_init \
      --config configs/kinetics400/timesformer_b16_space_only_8x32x1_k400.py
  vivit-train --config configs/kinetics400/timesformer_b16_space_only_8x32x1_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/timesformer_b16_space_only_8x32x1_k400 \
      --config.init_from.checkpoint=ckpt/timesformer_b16_space_only_8x32x1_k400_init

Departures: scale jitter and test resolution as in timesformer_b16_divided_8x32x1_k400.py.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.timesformer_kinetics400(dict(
        family="timesformer", variant="B/16", attention_type="space_only",
        drop_path=0.1,  # Official vit_base_patch16_224.
    ), num_frames=8, stride=32, test_clips=1, nesterov=True,
        normalization="mean_std", mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))
    return recipes.runlocal(c, arg)
