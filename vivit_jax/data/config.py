"""Defaults of the `config.dataset` section (read by `vivit_jax.data.pipeline`)."""

from __future__ import annotations

import ml_collections


def default_data_config() -> ml_collections.ConfigDict:
    """The `config.dataset` section: the embedded `synthetic_motion` set, 8×32² clips."""
    return ml_collections.ConfigDict(
        dict(
            name="synthetic_motion",  # 'synthetic_motion' | 'dmvr'
            # dmvr: directory with shards + label_map.json; synthetic_motion: cache dir
            # ('' -> $VIVIT_JAX_CACHE or ~/.cache/vivit_jax).
            data_dir="",
            train_split="train",
            eval_split="validation",
            test_split="test",
            num_classes=8,
            num_frames=8,  # Frames per clip fed to the model.
            stride=1,  # Temporal stride between sampled frames.
            image_size=32,  # Crop size fed to the model.
            min_resize=32,  # Short side resized to this before cropping.
            random_crop=True,  # Train-time random spatial crop (else centre crop).
            # Horizontal flip: MUST stay False for synthetic_motion (it swaps left/right).
            random_flip=False,
            normalization="minus_one_to_one",  # 'minus_one_to_one' (x/127.5-1) | 'imagenet'
            shuffle_buffer=1024,
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
