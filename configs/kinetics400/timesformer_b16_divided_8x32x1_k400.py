r"""TimeSformer-B/16, divided space-time attention, 8 frames × 224² at stride 32, Kinetics-400.

Reproduces TimeSformer (Bertasius et al. 2021) Table 1, divided space-time: 78.0 % top-1,
121.4 M parameters, 0.59 TFLOPs (3 views × 196 GMACs), from an ImageNet-21K ViT-B/16. Recipe:
`recipes.timesformer_kinetics400`, as the official `TimeSformer_divShareST_8x32_224.yaml`.

  vivit-convert --vit ViT-B_16.npz --out ckpt/timesformer_b16_divided_8x32x1_k400_init \
      --config configs/kinetics400/timesformer_b16_divided_8x32x1_k400.py
  vivit-train --config configs/kinetics400/timesformer_b16_divided_8x32x1_k400.py \
      --config.init_from.checkpoint=ckpt/timesformer_b16_divided_8x32x1_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/timesformer_b16_divided_8x32x1_k400

Departures: the official short-side scale jitter 256-320 is not a config key yet (fixed 256),
and test crops are taken at short side 256, not the paper's 224. `model.zero_init_temporal`
stays True (official, right for a ViT start); set it False to train from scratch
(configs/synthetic/timesformer_divided_tiny.py does).
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.timesformer_kinetics400(dict(
        family="timesformer", variant="B/16", attention_type="divided_space_time",
        drop_path=0.1,  # Official vit_base_patch16_224.
    ), num_frames=8, stride=32, test_clips=1, nesterov=True,
        normalization="mean_std", mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))
    return recipes.runlocal(c, arg)
