r"""VidTr-L, 32 frames × 224² (stride 2), Kinetics-400.

Separable attention over the (T+1) × (14·14+1) token grid: temporal attention at every
spatial position, then spatial attention in every temporal row (values = the temporal
output), one shared q/k/v (Section 3.2); the corner class token is classified.

Reproduces: the official VidTr README (Li et al. 2021, K400): VidTr-L 32×2: 79.1 %
top-1, 351 GFLOPs per view, ImageNet-21K ViT-B/16 initialisation.

Eval protocol (paper): 10 temporal clips × 3 spatial crops, scores averaged
(`dataset.test_clips=10`, `dataset.test_crops=3`). The paper's "fast VidTr" instead samples N
frames uniformly (`dataset.sampling='tsn'`) with one centre crop. The trainer's periodic
validation is single-view.

Data: Kinetics-400 as DMVR shards (`vivit-prepare`, short side 256) in a directory you pass as
`dataset.data_dir`; it is empty here on purpose and must be set:

  vivit-train --config configs/kinetics400/vidtr_l_32x2_k400.py \
      --config.dataset.data_dir=/path/to/k400_dmvr \
      --workdir workdirs/vidtr_l_32x2_k400

Cost per view, from
`vivit-profile --config configs/kinetics400/vidtr_l_32x2_k400.py`:
592.62 GMACs, 86,131,600 parameters (the paper's figures: "Reproduces" above).

Model: ViT-B width (12 layers, 768, MLP 3072); 12 heads (ViT-B's; the paper text says 8, the
heads only split the same projections). Recipe: the shared paper text gives no optimiser
settings; these follow the TimeSformer fine-tuning recipe (SGD momentum 0.9, lr 0.005, weight
decay 1e-4, 15 epochs, lr / 10 after epochs 11 and 14, batch 64) — check against the official
VidTr code before a reproduction run. The paper starts from an ImageNet-21K ViT-B/16; there is no
config key to load one yet (issue 5), so training from scratch lands well below the paper.
"""
import ml_collections

KINETICS_400_TRAIN_SIZE = 214834  # As the ViViT configs (Scenic's count).


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.family = "vidtr"
    c.model.variant = "B/16"
    c.model.drop_path = 0.1

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "dmvr"
    c.dataset.data_dir = ""  # Must be set: --config.dataset.data_dir=/path/to/k400_dmvr
    c.dataset.num_classes = 400
    c.dataset.num_frames = 32
    c.dataset.stride = 2
    c.dataset.image_size = 224
    c.dataset.min_resize = 256
    c.dataset.random_crop = True
    c.dataset.random_flip = True  # Kinetics classes are left/right symmetric.
    c.dataset.normalization = "imagenet"
    c.dataset.test_clips = 10
    c.dataset.test_crops = 3

    c.batch_size = 64
    c.eval_batch_size = 64
    steps_per_epoch = KINETICS_400_TRAIN_SIZE // c.batch_size
    c.num_train_steps = 15 * steps_per_epoch
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.optim.lr = 0.005
    c.optim.schedule = "step"
    c.optim.step_boundaries = (11 / 15, 14 / 15)
    c.optim.step_decay = 0.1
    c.optim.warmup_steps = 0
    c.optim.weight_decay = 1e-4
    c.optim.grad_clip_norm = 0.0

    c.log_every_steps = 100
    c.eval_every_steps = 5 * steps_per_epoch
    c.checkpoint_every_steps = 1000
    if arg:
        raise ValueError(f"unknown config arg {arg!r}; this config takes none")
    return c
