"""Building blocks the experiment configs share: dataset sections, epoch schedules, recipes.

A config file still states everything that makes its experiment what it is (model, frames,
stride, views, learning rate, epochs); what is the same across papers' recipes is written
once here:

- `dmvr_video(...)`: the `dataset` section for DMVR shards of a real dataset.
- `epoch_schedule(c, ...)`: batch size, steps, warmup and evaluation cadence from epochs.
- `scenic_sgd`, `timesformer_sgd`, `stat_adamw`: the optimisers of the papers' recipes.
- `vivit_kinetics400(model, lr)`, `timesformer_kinetics400(model, ...)`: whole Kinetics-400
  experiments of the ViViT (Scenic) and TimeSformer / VidTr fine-tuning recipes; the ViViT
  one also serves Kinetics-600 / 700 and Moments in Time (`num_classes`, `train_size`).
- `vivit_epic_kitchens(model)`: Scenic's Epic-Kitchens-100 recipe (noun + verb label sets).
- `synthetic_tiny(...)`: a whole tiny experiment on the embedded `synthetic_motion` set,
  with the `runlocal` smoke-test shrink.
- `runlocal(c, arg)`: every paper config's `:runlocal` variant: the same family, model type,
  head, label sets, optimiser, schedule kind, augmentation, views and parameter groups at a
  tiny size on `synthetic_motion`, so each recipe runs anywhere.
"""
from __future__ import annotations

from typing import Any

import ml_collections

# Training-set sizes that turn epochs into steps.
KINETICS_400_TRAIN_SIZE = 214834  # Scenic's count; Kinetics shrinks as videos vanish.
KINETICS_400_TRAIN_SIZE_STAT = 240000  # STAT's "240k training videos".
SSV2_TRAIN_SIZE = 168913
KINETICS_600_TRAIN_SIZE = 363213  # Scenic's count.
KINETICS_700_TRAIN_SIZE = 545317  # Kinetics-700-2020's training list.
MOMENTS_IN_TIME_TRAIN_SIZE = 802264  # Moments in Time v1.
EPIC_KITCHENS_100_TRAIN_SIZE = 67217  # Scenic's count (action segments).


def dmvr_video(*, num_classes: int, num_frames: int, flip: bool, normalization: str,
               test_clips: int, test_crops: int, image_size: int = 224, min_resize: int = 256,
               **more: Any) -> ml_collections.ConfigDict:
    """`dataset` of DMVR shards in `dataset.data_dir` (left empty: the user must set it).

    `flip`: horizontal flips in training (Kinetics: yes; SSv2: never, it has left/right
    classes). `more`: any other dataset field (`stride`, `sampling`, `train_pp`, mixup, …).
    """
    d = ml_collections.ConfigDict(dict(
        name="dmvr", data_dir="", num_classes=num_classes, num_frames=num_frames,
        image_size=image_size, min_resize=min_resize, random_crop=True, random_flip=flip,
        normalization=normalization, test_clips=test_clips, test_crops=test_crops))
    d.update(more)
    return d


def epoch_schedule(c: ml_collections.ConfigDict, *, train_size: int, epochs: int,
                   batch_size: int, optim: dict[str, Any], warmup_epochs: float = 0.0,
                   eval_every_epochs: int = 5, eval_batch_size: int = 64) -> None:
    """Sets batch sizes, `num_train_steps`, `optim` (with warmup steps) and the cadence.

    Steps per epoch = train_size // batch_size; warmup = int(warmup_epochs × that).
    """
    steps_per_epoch = train_size // batch_size
    c.batch_size = batch_size
    c.eval_batch_size = eval_batch_size
    c.num_train_steps = epochs * steps_per_epoch
    c.optim = ml_collections.ConfigDict(optim)
    c.optim.warmup_steps = int(warmup_epochs * steps_per_epoch)
    c.log_every_steps = 100
    c.eval_every_steps = eval_every_epochs * steps_per_epoch
    c.checkpoint_every_steps = 1000


def scenic_sgd(lr: float) -> dict[str, Any]:
    """Scenic's ViViT recipes: SGD momentum 0.9, cosine decay, clip at norm 1, no decay."""
    return dict(name="sgd", momentum=0.9, lr=lr, schedule="cosine", weight_decay=0.0,
                grad_clip_norm=1.0)


def timesformer_sgd(*, nesterov: bool = False) -> dict[str, Any]:
    """The official TimeSformer fine-tuning recipe (15 epochs): SGD momentum 0.9, lr 0.005,
    ÷10 after epochs 11 and 14, weight decay 1e-4, no clipping (Nesterov in its configs)."""
    optim = dict(name="sgd", momentum=0.9, lr=0.005, schedule="step",
                 step_boundaries=(11 / 15, 14 / 15), step_decay=0.1, weight_decay=1e-4,
                 grad_clip_norm=0.0)
    if nesterov:
        optim["nesterov"] = True
    return optim


def stat_adamw() -> dict[str, Any]:
    """STAT's recipe (DeiT-style, from scratch): AdamW lr 1.6e-3 at batch 512, cosine,
    weight decay 0.05, clip at norm 1."""
    return dict(name="adamw", lr=1.6e-3, schedule="cosine", weight_decay=0.05,
                grad_clip_norm=1.0)


# Scenic: short side 256 × U(0.9, 1.33), random 224² crop, flip, colour augmentation.
SCENIC_KINETICS_TRAIN_PP = "scale_jitter(230, 340)|random_crop(224)|flip|color_jitter(0.4, 0.8)"


def kinetics400(model: dict[str, Any], *, epochs: int, optim: dict[str, Any],
                warmup_epochs: float = 0.0, num_classes: int = 400,
                train_size: int = KINETICS_400_TRAIN_SIZE,
                **dataset: Any) -> ml_collections.ConfigDict:
    """A Kinetics-400 experiment (or, with `num_classes` and `train_size`, another Kinetics-
    style one): `model`, DMVR shards with flips (the classes are left/right symmetric),
    batch 64, `epochs` of `optim`; `dataset` as `dmvr_video`'s arguments."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(model)
    c.dataset = dmvr_video(num_classes=num_classes, flip=True, **dataset)
    epoch_schedule(c, train_size=train_size, epochs=epochs, batch_size=64,
                   optim=optim, warmup_epochs=warmup_epochs)
    return c


def vivit_kinetics400(model: dict[str, Any], *, lr: float, image_size: int = 224,
                      **more: Any) -> ml_collections.ConfigDict:
    """Scenic's ViViT K400 recipe: 32 frames at stride 2, [-1, 1] pixels (zero centering),
    Scenic's augmentation, 4×3 test views, 30 epochs of `scenic_sgd(lr)` after 2.5 of warmup.
    `image_size` (Table 5's 320²: short side and scale jitter scaled with it); `more`:
    `num_classes`, `train_size` for Kinetics-600 / 700 and Moments in Time."""
    size = round(image_size * 256 / 224)  # Scenic: short side 256 for 224 crops.
    train_pp = SCENIC_KINETICS_TRAIN_PP if image_size == 224 else (
        f"scale_jitter({round(size * 0.9)}, {round(size * 1.33)})|random_crop({image_size})"
        "|flip|color_jitter(0.4, 0.8)")
    return kinetics400(model, num_frames=32, stride=2, normalization="minus_one_to_one",
                       train_pp=train_pp, test_clips=4, test_crops=3, image_size=image_size,
                       min_resize=size, epochs=30, optim=scenic_sgd(lr), warmup_epochs=2.5,
                       **more)


# Scenic's Epic-Kitchens: short side 256 × U(0.9, 1.33), random 224² crop, flip, RandAugment
# (2 ops; Scenic's magnitude 15 is on another scale: ours tops out at 10), no colour jitter.
SCENIC_EPIC_KITCHENS_TRAIN_PP = "scale_jitter(230, 340)|random_crop(224)|flip|randaug(2, 10)"


def vivit_epic_kitchens(model: dict[str, Any]) -> ml_collections.ConfigDict:
    """Scenic's ViViT Epic-Kitchens-100 recipe (`configs/epic_kitchens/`): nouns and verbs as
    label sets over one 397-way head (`noun:300,verb:97`, Scenic's order), 32 frames at
    stride 1, [-1, 1] pixels, its augmentation, mixup 0.1, label smoothing 0.2, stochastic
    depth 0.2, 50 epochs of SGD momentum lr 0.5 after 2.5 of warmup, batch 64; 4×1 test
    views (Scenic's README reports its release at 4×1)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(dict(model, drop_path=0.2))
    c.dataset = dmvr_video(
        num_classes=397, label_sets="noun:300,verb:97", num_frames=32, stride=1, flip=True,
        normalization="minus_one_to_one", train_pp=SCENIC_EPIC_KITCHENS_TRAIN_PP,
        mixup_alpha=0.1, test_clips=4, test_crops=1)
    c.label_smoothing = 0.2
    epoch_schedule(c, train_size=EPIC_KITCHENS_100_TRAIN_SIZE, epochs=50, batch_size=64,
                   optim=scenic_sgd(lr=0.5), warmup_epochs=2.5)
    return c


def timesformer_kinetics400(model: dict[str, Any], *, num_frames: int, stride: int,
                            test_clips: int, nesterov: bool = False,
                            **dataset: Any) -> ml_collections.ConfigDict:
    """TimeSformer's K400 fine-tuning recipe (VidTr's configs reuse it): 15 epochs of
    `timesformer_sgd`, `test_clips` × 3 crops, softmax averaged over views (their test
    code); `dataset`: the normalisation fields. VidTr's "fast VidTr" evaluation instead
    samples the N frames uniformly over the video with one centre crop:
    `--config.dataset.sampling=tsn --config.dataset.test_clips=1 --config.dataset.test_crops=1`."""
    dataset.setdefault("test_aggregate", "probs")  # Their test code averages the softmax.
    return kinetics400(model, num_frames=num_frames, stride=stride, test_clips=test_clips,
                       test_crops=3, epochs=15, optim=timesformer_sgd(nesterov=nesterov),
                       **dataset)


def gluonmm_vidtr_kinetics400(*, num_frames: int, stride: int, **model: Any
                              ) -> ml_collections.ConfigDict:
    """VidTr / C-VidTr as the official gluonmm code computes and trains them
    (`model.reference='gluonmm'`, vivit_jax/models/vidtr_gluonmm.py: ReLU MLP, LayerNorm eps
    1e-5, the position embedding into layer 0's q/k/v) with its yaml's recipe — SGD lr 0.01,
    momentum 0.9, weight decay 1e-5, 50 epochs, ÷10 at 25 and 40, no clipping — and its data
    code: ImageNet mean/std, test short side 224, 10 clips × 3 crops, softmax averaged.
    `model`: the C-VidTr pooling fields (`pool_layers`, `pool_drop`)."""
    return kinetics400(dict(family="vidtr", reference="gluonmm", variant="B/16", dropout=0.1,
                            **model),
                       epochs=50, optim=dict(name="sgd", momentum=0.9, lr=0.01,
                                             schedule="step",
                                             step_boundaries=(25 / 50, 40 / 50),
                                             step_decay=0.1, weight_decay=1e-5,
                                             grad_clip_norm=0.0),
                       num_frames=num_frames, stride=stride, min_resize=224,
                       normalization="mean_std", mean=(0.485, 0.456, 0.406),
                       std=(0.229, 0.224, 0.225), test_clips=10, test_crops=3,
                       test_aggregate="probs")


def synthetic_tiny(model: dict[str, Any], arg: str | None, *, num_train_steps: int = 3000,
                   eval_every_steps: int = 1000,
                   runlocal_model: dict[str, Any] | None = None) -> ml_collections.ConfigDict:
    """A tiny experiment on `synthetic_motion` (8 classes, 8 of 16 frames at 32²).

    The recipe the tiny configs share: 6000 training clips (2400 overfit the ViViT tiny
    model), kept decoded in memory after the first epoch (`dataset.cache_decoded`), random 32²
    crops of a 36² resize, AdamW lr 1e-3 with 100 warmup steps and cosine decay, weight decay
    0.05, batch 32. `arg='runlocal'` shrinks it for smoke tests (20
    steps, 64 clips) and applies `runlocal_model` (default: 2 layers).
    """
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = ml_collections.ConfigDict(model)
    c.dataset = ml_collections.ConfigDict(dict(
        name="synthetic_motion", num_classes=8, num_frames=8,
        stride=2,  # 8 of the 16 generated frames: twice the motion per clip.
        image_size=32, min_resize=36,  # Random 32² crops of a 36² resize (centre at eval).
        synthetic=ml_collections.ConfigDict(dict(train_size=6000)),
        cache_decoded=True))  # 295 MB of decoded frames: no JPEG decoding after epoch 1.
    c.batch_size = 32
    c.eval_batch_size = 100
    c.num_train_steps = num_train_steps
    c.label_smoothing = 0.0
    c.optim = ml_collections.ConfigDict(dict(name="adamw", lr=1e-3, warmup_steps=100,
                                             schedule="cosine", weight_decay=0.05))
    c.log_every_steps = 50
    c.eval_every_steps = eval_every_steps
    c.checkpoint_every_steps = eval_every_steps
    if arg == "runlocal":
        c.num_train_steps = 20
        c.optim.warmup_steps = 2
        c.log_every_steps = 5
        c.eval_every_steps = 10
        c.checkpoint_every_steps = 10
        c.dataset.synthetic = ml_collections.ConfigDict(dict(
            train_size=64, validation_size=32, test_size=32))
        c.model.update(runlocal_model or dict(num_layers=2))
    elif arg:
        raise ValueError(f"unknown config arg {arg!r}; expected nothing or 'runlocal'")
    return c


# The optimiser fields that make a fine-tuning recipe (vivit_jax/param_groups.py).
PARAM_GROUP_FIELDS = ("frozen", "train_only", "lr_mult", "layer_decay")
# What a `:runlocal` variant keeps of its paper config (the rest is `synthetic_tiny`'s):
# the optimiser and its schedule kind (not the learning rate: the tiny recipe's 1e-3) ...
RUNLOCAL_OPTIM = ("name", "momentum", "nesterov", "b1", "b2", "weight_decay", "grad_clip_norm",
                  "schedule", "step_boundaries", "step_decay", *PARAM_GROUP_FIELDS)
# ... and the data recipe: frame sampling, augmentation, normalisation, views, mixing.
RUNLOCAL_DATASET = ("sampling", "random_crop", "random_flip", "normalization", "mean", "std",
                    "mixup_alpha", "cutmix_alpha", "mix_switch_prob", "test_clips",
                    "test_crops", "test_aggregate")
# Ops of `dataset.train_pp` whose leading arguments are pixel sizes (rescaled to 32²).
_SIZED_OPS = {"resize_small": 1, "scale_jitter": 2, "random_crop": 1, "center_crop": 1,
              "random_resized_crop": 1}


def _tiny_model(model: ml_collections.ConfigDict) -> dict[str, Any]:
    """Size fields that shrink `model` to 2 blocks of width 32 (STAT: one block per stage of
    widths 48 / 96 / 192 over a 4×4 grid) keeping its family, type and readout; ViViT takes
    8×8×4 tubelets (2×4×4 tokens), TimeSformer / VidTr 8×8 patches per frame as theirs."""
    if model.family == "stat":
        return dict(hidden_size=48, depths=(1, 1, 1), num_heads=2, stem_channels=(8, 16),
                    kv_pool_strides=(1, 1, 1), window=3)  # t_o = 3 of 4 temporal tokens.
    small = dict(variant="Ti/8x4" if model.family == "vivit" else "Ti/8", hidden_size=32,
                 num_heads=2, mlp_dim=64, num_layers=2)
    if "temporal_layers" in model:
        small["temporal_layers"] = 2
    if model.get("pool_layers"):  # C-VidTr: one pooling layer halving the 8 frames.
        small["pool_layers"] = (1,)
        small["pool_drop"] = (4,) if isinstance(model.get("pool_drop"), tuple) else 4
    return small


def shrink_pp(pp: str, scale: float) -> str:
    """`dataset.train_pp` with its sizes × `scale` (the other ops and arguments as they are)."""
    from vivit_jax.data import preprocess  # Light (ast, numpy): only a runlocal needs it.

    ops = []
    for name, args, kwargs in preprocess.parse(pp):
        n = _SIZED_OPS.get(name, 0)
        args = tuple(max(1, round(a * scale)) for a in args[:n]) + args[n:]
        text = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        ops.append(f"{name}({text})" if text else name)
    return "|".join(ops)


def runlocal_split(arg: str | None) -> tuple[str | None, str | None]:
    """A config argument that has its own values (STAT's T) and may add `runlocal`:
    `'32,runlocal'` → ('32', 'runlocal'); `'runlocal'` → (None, 'runlocal'); `'32'` →
    ('32', None)."""
    parts = [p.strip() for p in (arg or "").split(",")]
    local = "runlocal" if "runlocal" in parts else None
    rest = ",".join(p for p in parts if p and p != "runlocal")
    return rest or None, local


def runlocal(c: ml_collections.ConfigDict, arg: str | None, *, data_recipe: bool = True
             ) -> ml_collections.ConfigDict:
    """`c` itself, or for `arg='runlocal'` the same experiment at a size that runs anywhere:
    its model family, type and readout shrunk (`_tiny_model`, no stochastic depth), its
    optimiser, schedule kind and parameter groups (`RUNLOCAL_OPTIM`) on `synthetic_tiny`'s
    runlocal set and step counts. `data_recipe`: also its data recipe (`RUNLOCAL_DATASET`,
    label smoothing, `train_pp` rescaled to 32², stride capped at the 2 the 16-frame videos
    allow) and label sets (synthetic_motion's noun = shape, verb = motion); False keeps the
    tiny set's own (the fine-tuning recipes, whose runlocal is about their groups).
    The parameter-group patterns match the tiny model's names as they match the full one's."""
    if not arg:
        return c
    if arg != "runlocal":
        raise ValueError(f"unknown config arg {arg!r}; expected nothing or 'runlocal'")
    tiny = synthetic_tiny(dict(c.model), "runlocal", runlocal_model=_tiny_model(c.model))
    if "drop_path" in tiny.model:
        tiny.model.drop_path = 0.0
    with tiny.optim.ignore_type():
        for key in RUNLOCAL_OPTIM:
            if key in c.optim:
                tiny.optim[key] = c.optim[key]
    if not data_recipe:
        return tiny
    d, t = c.dataset, tiny.dataset
    with t.ignore_type():
        for key in RUNLOCAL_DATASET:
            if key in d:
                t[key] = d[key]
    t.stride = min(d.get("stride", t.stride), t.stride)
    if d.get("train_pp"):
        t.train_pp = shrink_pp(d.train_pp, t.image_size / d.image_size)
    if d.get("label_sets"):
        from vivit_jax.data import synthetic

        names = [s.split(":")[0].strip() for s in d.label_sets.split(",")]
        if names != ["noun", "verb"]:
            raise ValueError(f"dataset.label_sets={d.label_sets!r}: a runlocal variant has "
                             "synthetic_motion's 'noun,verb' sets only")
        t.num_classes = len(synthetic.SHAPES) + len(synthetic.CLASSES)
        t.label_sets = f"noun:{len(synthetic.SHAPES)},verb:{len(synthetic.CLASSES)}"
    tiny.label_smoothing = c.get("label_smoothing", tiny.label_smoothing)
    return tiny
