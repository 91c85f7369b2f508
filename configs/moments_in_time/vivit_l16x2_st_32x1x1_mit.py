r"""ViViT-L/16x2 Model 1 (spatio-temporal attention), 32 frames × 224² at stride 1, Moments in Time.

Reproduces ViViT (Arnab et al. 2021, arXiv:2103.15691v1) Table 6(c), Moments in Time: the row
"ViViT-L/16x2", 38.0 % top-1, 64.9 % top-5, ImageNet-21k initialisation (the table's only
ViViT row; the copy under /work/shared/papers is cut before (c): figures from the published
paper). The model: ViT-L/16 sizes, 16×16×2 tubelets, the unfactorised spatio-temporal model
(Model 1), which the paper uses on its large datasets (Kinetics and Moments in Time, 800k
clips; the factorised encoder on the small ones, Epic-Kitchens and SSv2). Where the paper is
silent, and what this config chooses:
- views: Table 6(c) has no views column; 4×3, as the ViViT-L rows of Tables 6(a) and 6(b);
- frames, stride, frame rate: none given for Moments in Time; its 339 classes are 3-second
  clips: prepared at 11 fps a clip holds 33 frames, so 32 at stride 1 span it (Kinetics'
  stride 2 would loop every clip);
- the recipe (learning rate, epochs, augmentation): none given; Scenic's ViViT Kinetics one
  (`recipes.vivit_kinetics400`), from an ImageNet-21k ViT-L/16.
`:runlocal` runs the same recipe on a tiny Model 1 and synthetic_motion.

Its CSVs (`trainingSet.csv`: headerless `path,label,agreements,disagreements`) read as
`--format simple` (columns after the label are ignored):

  vivit-prepare --annotations Moments_in_Time_Raw/trainingSet.csv \
      --video_dir Moments_in_Time_Raw/training --output_dir /path/to/mit_dmvr --split train \
      --fps 11
  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_st_32x1x1_mit_init \
      --config configs/moments_in_time/vivit_l16x2_st_32x1x1_mit.py
  vivit-train --config configs/moments_in_time/vivit_l16x2_st_32x1x1_mit.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_st_32x1x1_mit_init \
      --config.dataset.data_dir=/path/to/mit_dmvr --workdir workdirs/vivit_l16x2_st_mit

Departure: Scenic's DMVR colour augmentation is approximated by `color_jitter(0.4, 0.8)`.
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="spatio_temporal"), lr=0.1,
        num_classes=339, train_size=recipes.MOMENTS_IN_TIME_TRAIN_SIZE)
    c.dataset.stride = 1  # 32 frames at 11 fps: the whole 3 s clip.
    return recipes.runlocal(c, arg)
