"""What each reference code builds and tests with, as our config sections (`Released.config`).

The format readers (`convert/formats/`) read a checkpoint's tensors and sizes; this module
turns those sizes into the `model` and `dataset` sections of the model the reference builds,
with its preprocessing and test views. One builder per reference family, shared by its
formats: Scenic's ViViT (`scenic`, `hf_vivit`), the official TimeSformer (`timesformer`,
`hf_timesformer`), gluonmm's VidTr (`gluonmm`). The sources of each setting are in the
docstring of the format module that reads the family's checkpoints.
"""
from __future__ import annotations

from typing import Any

SSV2_CLASSES = 174
TIMESFORMER_MEAN, TIMESFORMER_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # timm's.
# Released C-VidTr schedules (gluonmm scripts/action_recognition/config/cvidtr_*.yaml).
POOL_SCHEDULES = {8: ((1, 3, 5), (2, 2, 2)), 16: ((1, 2, 4), (8, 4, 2))}
VIDTR_STRIDES = {8: 8, 16: 4, 32: 2}  # vidtr_{s_8x8, m_16x4, l_32x2}.
# Epic-Kitchens: one 397-way `output_projection`, split by Scenic into nouns then verbs.
EPIC_KITCHENS_SPLITS = {"noun": 300, "verb": 97}


def size_name(*, hidden: int, layers: int, mlp: int, heads: int) -> str:
    """The ViT size (`'B'`, `'L'`, …) with these widths; 'B' when none has them (the config
    then carries the explicit sizes)."""
    from vivit_jax.models import tokenizers
    sizes = dict(hidden_size=hidden, num_layers=layers, mlp_dim=mlp, num_heads=heads)
    return next((k for k, v in tokenizers.SIZES.items() if v == sizes), "B")


def vivit_model(*, hidden: int, layers: int, mlp: int, heads: int, patch: int,
                tubelet_t: int, **more) -> dict[str, Any]:
    """Scenic's ViViT: the named ViT size when the widths are one, else explicit sizes."""
    size = size_name(hidden=hidden, layers=layers, mlp=mlp, heads=heads)
    return dict(family="vivit", variant=f"{size}/{patch}x{tubelet_t}", hidden_size=hidden,
                num_layers=layers, mlp_dim=mlp, num_heads=heads,
                tokenizer="tubelet" if tubelet_t > 1 else "frame", approximate_gelu=True,
                **more)


def vivit_dataset(*, num_classes: int, num_frames: int, image_size: int, stride: int,
                  test_views: tuple[int, int]) -> dict[str, Any]:
    """Scenic's evaluation preprocessing: [-1, 1] pixels (Scenic's `zero_centering`, no
    mean/std), short side 256 for a 224 crop, `test_views` clips × crops (4×3 in every
    Scenic ViViT recipe)."""
    return dict(name="dmvr", num_classes=num_classes, num_frames=num_frames, stride=stride,
                image_size=image_size, min_resize=round(image_size * 256 / 224),
                normalization="minus_one_to_one", test_clips=test_views[0],
                test_crops=test_views[1])


def scenic_dataset(classes: int, num_frames: int, image: int, notes: list[str]
                   ) -> dict[str, Any]:
    """Scenic's test protocol (frames at stride 2, 4×3 views); its Epic-Kitchens model (397
    classes) is 32 frames at stride 1, 4×1 views and two label sets, said in `notes`."""
    dataset = vivit_dataset(num_classes=classes, num_frames=num_frames, image_size=image,
                            stride=2, test_views=(4, 3))
    if classes == sum(EPIC_KITCHENS_SPLITS.values()):
        dataset.update(stride=1, test_crops=1, label_sets=",".join(
            f"{k}:{v}" for k, v in EPIC_KITCHENS_SPLITS.items()))
        notes.append("397 classes: Scenic's Epic-Kitchens model (one output_projection whose "
                     "logits are nouns [0:300] then verbs [300:397], each its own softmax; "
                     "32 frames at stride 1, 4×1 views): dataset.label_sets="
                     f"{dataset['label_sets']!r}, so vivit-eval reports noun, verb and action "
                     "accuracy (another split: --config.dataset.label_sets=NAME:N,…)")
    return dataset


def timesformer_model(*, hidden: int, layers: int, mlp: int, heads: int, patch: int,
                      attention_type: str, approximate_gelu: bool) -> dict[str, Any]:
    """The official TimeSformer of these sizes (variant named when standard)."""
    name = size_name(hidden=hidden, layers=layers, mlp=mlp, heads=heads)
    return dict(family="timesformer", variant=f"{name}/{patch}", attention_type=attention_type,
                approximate_gelu=approximate_gelu, hidden_size=hidden, num_layers=layers,
                mlp_dim=mlp, num_heads=heads)


def timesformer_dataset(*, num_classes: int, num_frames: int, image_size: int,
                        min_resize: int, mean=TIMESFORMER_MEAN, std=TIMESFORMER_STD
                        ) -> dict[str, Any]:
    """The official TimeSformer's data settings (its `configs/Kinetics/TimeSformer_*_8x32_224
    .yaml`): frames at sampling rate 32 for 8 frames (16x16 for the 448² HR model, 96x4 for L:
    256 frames of 30 fps each time, so `stride = 256 / T`), short side 224 then 3 crops of 224
    (`TEST_CROP_SIZE`, `NUM_SPATIAL_CROPS: 3`, one clip), mean 0.45 / std 0.225 on [0, 1];
    Something-Something v2 (174 classes): one frame per segment (`sampling='tsn'`), no flips."""
    ssv2 = num_classes == SSV2_CLASSES
    return dict(name="dmvr", num_classes=num_classes, num_frames=num_frames,
                sampling="tsn" if ssv2 else "dense",
                stride=1 if ssv2 else max(1, 256 // num_frames),
                image_size=image_size, min_resize=min_resize, random_flip=not ssv2,
                normalization="mean_std", mean=tuple(float(m) for m in mean),
                std=tuple(float(s) for s in std), test_clips=1, test_crops=3,
                test_aggregate="probs")


def vidtr_gluonmm(*, d: int, depth: int, mlp: int, heads: int, patch: tuple[int, int, int],
                  frames: int, classes: int, image: int, compact: bool
                  ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """`(model, dataset, notes)`: gluonmm's VidTr / C-VidTr. C-VidTr's pool schedule (pooling
    and joint layers hold the same tensors) is the released configs' — 8 frames (C-VidTr-S):
    layers 1, 3, 5 dropping 2 each; 16 frames (C-VidTr-M): layers 1, 2, 4 dropping 8, 4, 2;
    other frame counts get layers 1, 3, 5 dropping T/4 each, named in a note. Data (the yaml
    configs and `kinetics_datasets.py`): 8×8, 16×4, 32×2 frames × stride, ImageNet mean/std on
    [0, 1], test = short side 224, 10 clips × 3 crops (the reference averages the softmax of
    the 30 views)."""
    notes = []
    model = dict(family="vidtr", reference="gluonmm", variant=f"B/{patch[1]}"
                 + (f"x{patch[0]}" if patch[0] > 1 else ""), hidden_size=d, num_layers=depth,
                 mlp_dim=mlp, num_heads=heads, classifier="token")
    if compact:
        layers, drops = POOL_SCHEDULES.get(frames, ((1, 3, 5), (max(1, frames // 4),) * 3))
        if frames not in POOL_SCHEDULES:
            notes.append(f"C-VidTr pool schedule not stored and no released one for {frames} "
                         f"frames: layers {layers} dropping {drops} assumed "
                         f"(--config.model.pool_layers / pool_drop change it)")
        model.update(pool_layers=layers, pool_drop=drops, pool_type="topk_std")
    dataset = dict(name="dmvr", num_classes=classes, num_frames=frames * patch[0],
                   stride=VIDTR_STRIDES.get(frames, 1), image_size=image, min_resize=image,
                   normalization="mean_std", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                   test_clips=10, test_crops=3, test_aggregate="probs")
    return model, dataset, notes
