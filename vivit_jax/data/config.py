"""The `config.dataset` section: its defaults and the checks of its fields that need no data
(the data-dependent ones, e.g. num_classes against a label map, are the sources' own)."""

from __future__ import annotations

import ml_collections

SAMPLINGS = ("dense", "tsn")
ON_CORRUPT = ("error", "skip")
PROCESS_SPLITS = ("files", "examples")


def default_data_config() -> ml_collections.ConfigDict:
    """The `config.dataset` section: the embedded `synthetic_motion` set, 8×32² clips."""
    return ml_collections.ConfigDict(
        dict(
            # 'synthetic_motion' | 'dmvr' | 'tfds:<name>[/<config>][:<version>]', e.g.
            # 'tfds:ucf101/ucf101_1_256' (prepared beforehand; frames decoded lazily).
            name="synthetic_motion",
            # dmvr: directory with shards + label_map.json; synthetic_motion: cache dir
            # ('' -> $VIVIT_JAX_CACHE or ~/.cache/vivit_jax); tfds: TFDS data dir ('' default).
            data_dir="",
            tfds_video_key="video",  # TFDS feature holding the frames.
            tfds_label_key="label",  # TFDS feature holding the (ClassLabel) label.
            train_split="train",
            eval_split="validation",
            test_split="test",
            num_classes=8,
            num_frames=8,  # Frames per clip fed to the model.
            stride=1,  # Temporal stride between sampled frames ('dense' sampling).
            # 'dense': num_frames consecutive frames at `stride` (random offset in training,
            # centred / evenly spaced at test); 'tsn': one frame per each of num_frames equal
            # segments (random in training, segment centres at test). See data/video_ops.py.
            sampling="dense",
            image_size=32,  # Crop size fed to the model.
            min_resize=32,  # Short side resized to this before cropping.
            random_crop=True,  # Train-time random spatial crop (else centre crop).
            # Horizontal flip: MUST stay False for synthetic_motion (it swaps left/right).
            random_flip=False,
            # 'minus_one_to_one' (x/127.5-1) | 'imagenet' | 'zero_one' | 'mean_std' (below).
            normalization="minus_one_to_one",
            mean=(0.485, 0.456, 0.406),  # Per-channel mean on [0, 1] ('mean_std').
            std=(0.229, 0.224, 0.225),  # Per-channel std on [0, 1] ('mean_std').
            # Train augmentation as a big_vision-style string (data/preprocess.py), e.g.
            # "random_resized_crop(224)|flip|color_jitter(0.4)|randaug(2, 9)|random_erasing";
            # '' = the plain fields above (min_resize, random_crop, random_flip).
            train_pp="",
            # On-device batch mixing, applied by the trainer with data.mix.mixup_cutmix:
            # 0 disables each; both > 0 picks cutmix with probability mix_switch_prob.
            mixup_alpha=0.0,
            cutmix_alpha=0.0,
            mix_switch_prob=0.5,
            # Labels as a multi-hot float [num_classes] vector (Charades-style data) instead
            # of the first label index.
            multi_label=False,
            # Several label sets per clip as class splits over the one head, e.g.
            # 'noun:300,verb:97' (Epic-Kitchens-100, Scenic's order): num_classes = the sum;
            # each set has its own softmax loss and top-1/5, plus the joint 'action' (see
            # vivit_jax/label_sets.py for the records' convention). '' = one label.
            label_sets="",
            # Truncated/corrupt shard: 'error' (ValueError naming it) | 'skip' (read the
            # records before the damage, warn).
            on_corrupt="error",
            # Multi-view evaluation (iterators.eval_iterator with views): temporal clips x spatial
            # crops (1 = centre, 3 = left/centre/right of the long side).
            test_clips=1,
            test_crops=1,
            # How vivit-eval combines a video's views by default: 'logits' (mean of the
            # logits, Scenic's ViViT) or 'probs' (mean of the softmax, the official
            # TimeSformer and VidTr test code); `vivit-eval --aggregate` overrides it.
            test_aggregate="logits",
            # How processes split the training data: 'files' (each reads files[p::P]; scales
            # to pods) or 'examples' (each reads the whole stream and keeps its slice of
            # every global batch: batches identical for any process count; small data).
            process_split="files",
            shuffle_buffer=1024,
            # Keep this process's training videos decoded in memory after the first epoch
            # (uint8 frames; every epoch then a full shuffle of them instead of file
            # order + `shuffle_buffer`): no JPEG decode after epoch 1. For small datasets
            # only — it holds videos × frames × H × W × 3 bytes (synthetic_motion: 295 MB).
            # The first batch waits for the whole set, so a damaged shard stops the run
            # before step 1.
            cache_decoded=False,
            prefetch=2,  # Batches prefetched by tf.data.
            # Generation parameters of synthetic_motion (part of its cache directory name).
            synthetic=ml_collections.ConfigDict(
                dict(
                    num_frames=16,
                    image_size=32,
                    train_size=2400,
                    validation_size=400,
                    test_size=400,
                    seed=0,
                    num_shards=4,
                )
            ),
        )
    )


def check(cfg: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first field of `config.dataset` that no pipeline can use."""
    from vivit_jax.data.preprocess import NORMALIZATIONS

    if cfg.normalization not in NORMALIZATIONS:
        raise ValueError(
            f"unknown dataset.normalization {cfg.normalization!r}; expected one of {NORMALIZATIONS}"
        )
    if cfg.image_size > cfg.min_resize:
        raise ValueError(
            f"dataset.image_size={cfg.image_size} exceeds dataset.min_resize={cfg.min_resize}"
        )
    if cfg.num_frames < 1 or cfg.stride < 1:
        raise ValueError(
            f"dataset.num_frames={cfg.num_frames} and dataset.stride={cfg.stride} must be >= 1"
        )
    if cfg.sampling not in SAMPLINGS:
        raise ValueError(f"unknown dataset.sampling {cfg.sampling!r}; expected one of {SAMPLINGS}")
    if cfg.on_corrupt not in ON_CORRUPT:
        raise ValueError(
            f"unknown dataset.on_corrupt {cfg.on_corrupt!r}; expected one of {ON_CORRUPT}"
        )


def check_process_split(cfg: ml_collections.ConfigDict) -> None:
    """`dataset.process_split` (read by the train iterator only)."""
    if cfg.process_split not in PROCESS_SPLITS:
        raise ValueError(f"dataset.process_split={cfg.process_split!r}: expected 'files' or "
                         f"'examples'")
