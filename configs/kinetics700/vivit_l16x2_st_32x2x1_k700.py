r"""ViViT-L/16x2 Model 1 (spatio-temporal attention), 32 frames × 224² at stride 2, Kinetics-700.

No paper number (the ViViT paper reports Kinetics-400 and -600 only): the Kinetics-600 recipe of
vivit_l16x2_st_32x2x1_k600.py with 700 classes and Kinetics-700-2020's training size. Its CSVs
(`label,youtube_id,time_start,time_end,split,is_cc`, the validation file's split `validate`)
read with `--format kinetics` (the `is_cc` column is ignored); name the split yourself:

  vivit-prepare --format kinetics --annotations kinetics700_2020/validate.csv \
      --video_dir k700/val --output_dir /path/to/k700_dmvr --split validation
  vivit-convert --vit ViT-L_16.npz --out ckpt/vivit_l16x2_st_32x2x1_k700_init \
      --config configs/kinetics700/vivit_l16x2_st_32x2x1_k700.py
  vivit-train --config configs/kinetics700/vivit_l16x2_st_32x2x1_k700.py \
      --config.init_from.checkpoint=ckpt/vivit_l16x2_st_32x2x1_k700_init \
      --config.dataset.data_dir=/path/to/k700_dmvr --workdir workdirs/vivit_l16x2_st_k700
"""
from vivit_jax import recipes


def get_config(arg=None):
    c = recipes.vivit_kinetics400(dict(
        family="vivit", variant="L/16x2", model_type="spatio_temporal"), lr=0.1,
        num_classes=700, train_size=recipes.KINETICS_700_TRAIN_SIZE)
    return recipes.runlocal(c, arg)
