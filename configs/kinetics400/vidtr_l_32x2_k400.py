r"""VidTr-L, 32 frames × 224² at stride 2, Kinetics-400 (the paper-text reading).

Reproduces VidTr-L 32×2 of the official VidTr README (Li et al. 2021): 79.1 % top-1 with 10×3
views, 351 GFLOPs per view (a partial count, see vivit_jax/models/vidtr_gluonmm.py); recipe
`recipes.timesformer_kinetics400`. Departures: 12 heads (ViT-B's; the paper text says 8, the
heads only split the same projections); the paper gives no optimiser settings, so these are
TimeSformer's fine-tuning recipe: check them against the official VidTr code before a
reproduction run.

Convert an ImageNet-21K ViT-B/16 and train from it:

  vivit-convert --vit ViT-B_16.npz --out ckpt/vidtr_l_32x2_k400_init \
      --config configs/kinetics400/vidtr_l_32x2_k400.py
  vivit-train --config configs/kinetics400/vidtr_l_32x2_k400.py \
      --config.init_from.checkpoint=ckpt/vidtr_l_32x2_k400_init \
      --config.dataset.data_dir=/path/to/k400_dmvr --workdir workdirs/vidtr_l_32x2_k400

Paper text, Section 3.2: separable attention; vidtr_l_32x2_gluonmm_k400.py is the official
code's reading.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.timesformer_kinetics400(dict(
        family="vidtr", variant="B/16", drop_path=0.1
    ), num_frames=32, stride=2, test_clips=10, normalization="imagenet")
    return recipes.runlocal(c, arg)
