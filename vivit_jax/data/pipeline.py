"""tf.data train/eval pipelines over DMVR shards, yielding numpy batches.

Train: per-process file slice → per-epoch seeded file shuffle → parallel interleave →
seeded record shuffle → repeat → enumerate → skip(start_step · B_local) → sample a clip,
decode, crop, flip, normalise (stateless ops seeded by (seed, process, element index)) →
batch. The stream is a deterministic function of (seed, start_step): resuming at step k
yields exactly the batches a run from step 0 yields from step k on. Resuming skips the
records already consumed (read, not decoded: cheap at our sizes; for very large datasets
it costs one read pass over `start_step · B_local` records).

Eval: one ordered pass; centred temporal window, centre crop; the last batch is padded to
full size with `mask` = 0, and every process yields the same number of batches.

DMVR sampling (`processors.sample_sequence`): train clips start at a random offset, eval
clips are centred; frame indices wrap around (loop) when the video is shorter than
`num_frames · stride`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vivit_jax.data import dmvr_format, synthetic  # noqa: E402

KNOWN_DATASETS = ("synthetic_motion", "dmvr")
NORMALIZATIONS = ("minus_one_to_one", "imagenet")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_MAX_EPOCHS = 2**31  # "Infinite": epochs are numbered so each gets its own shuffle seed.


def _cache_dir(data_dir: str) -> pathlib.Path:
    if data_dir:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get("VIVIT_JAX_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "vivit_jax"


def resolve_data_dir(cfg_data: ml_collections.ConfigDict) -> pathlib.Path:
    """Directory holding the dataset's shards (generating `synthetic_motion` if needed)."""
    name = cfg_data.name
    if name == "synthetic_motion":
        syn = cfg_data.synthetic
        return synthetic.ensure_synthetic_motion(
            _cache_dir(cfg_data.data_dir),
            num_frames=syn.num_frames,
            image_size=syn.image_size,
            num_classes=cfg_data.num_classes,
            train_size=syn.train_size,
            validation_size=syn.validation_size,
            test_size=syn.test_size,
            seed=syn.seed,
            num_shards=syn.num_shards,
        )
    if name == "dmvr":
        if not cfg_data.data_dir:
            raise ValueError(
                "dataset.data_dir '' is empty: set --config.dataset.data_dir=DIR "
                "(a directory of DMVR shards + label_map.json)"
            )
        data_dir = pathlib.Path(cfg_data.data_dir).expanduser()
        if not data_dir.is_dir():
            raise FileNotFoundError(f"data directory {data_dir} does not exist")
        dmvr_format.list_shards(data_dir, cfg_data.train_split)  # Clear error if none.
        if (data_dir / dmvr_format.LABEL_MAP_FILE).exists():
            labels = dmvr_format.read_label_map(data_dir)
            if len(labels) != cfg_data.num_classes:
                raise ValueError(
                    f"dataset.num_classes={cfg_data.num_classes} but the label map "
                    f"{data_dir / dmvr_format.LABEL_MAP_FILE} has {len(labels)} labels"
                )
        return data_dir
    raise ValueError(f"unknown dataset.name {name!r}; expected one of {KNOWN_DATASETS}")


def process_files(files: list[str], process_index: int, process_count: int) -> list[str]:
    """This process's slice of the shard list: `files[process_index::process_count]`."""
    return files[process_index::process_count]


def num_examples(cfg_data: ml_collections.ConfigDict, split: str) -> int:
    """Records in `split` (counted once, then cached in `num_examples.json` beside the shards)."""
    return sum(dmvr_format.shard_counts(resolve_data_dir(cfg_data), split).values())


# --- Per-example ops ----------------------------------------------------------------


def _check(cfg: ml_collections.ConfigDict) -> None:
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


def _sample_indices(n: tf.Tensor, cfg, seed: tf.Tensor | None) -> tf.Tensor:
    """Frame indices of one clip; random start if `seed` is given, else centred; loops if short."""
    span = (cfg.num_frames - 1) * cfg.stride
    if seed is None:
        offset = tf.maximum(0, (n - cfg.num_frames * cfg.stride) // 2)
    else:
        max_offset = tf.where(n > span, n - span, n)
        offset = tf.random.stateless_uniform([], seed, 0, max_offset, dtype=tf.int32)
    return tf.math.floormod(offset + tf.range(cfg.num_frames) * cfg.stride, n)


def _process(serialized: tf.Tensor, cfg, seed: tf.Tensor | None) -> dict[str, tf.Tensor]:
    """Parse → sample → decode → resize → crop → flip → normalise one record."""
    ex = dmvr_format.parse_sequence_example(serialized)
    frames = ex["frames"]
    seeds = None if seed is None else tf.random.experimental.stateless_split(seed, 3)
    idx = _sample_indices(tf.shape(frames)[0], cfg, None if seeds is None else seeds[0])
    video = tf.map_fn(
        lambda x: tf.io.decode_jpeg(x, channels=3),
        tf.gather(frames, idx),
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
    video = tf.cast(video, tf.float32)
    h, w = tf.shape(video)[1], tf.shape(video)[2]
    short = tf.minimum(h, w)

    def resize():
        scale = cfg.min_resize / tf.cast(short, tf.float32)
        size = tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
        return tf.image.resize(video, tf.maximum(size, cfg.min_resize), antialias=True)

    video = tf.cond(tf.equal(short, cfg.min_resize), lambda: video, resize)
    s = cfg.image_size
    if seeds is not None and cfg.random_crop:  # Same crop for every frame.
        video = tf.image.stateless_random_crop(video, [cfg.num_frames, s, s, 3], seeds[1])
    else:
        top = (tf.shape(video)[1] - s) // 2
        left = (tf.shape(video)[2] - s) // 2
        video = video[:, top : top + s, left : left + s, :]
    if seeds is not None and cfg.random_flip:  # Same flip for every frame.
        flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
        video = tf.cond(flip, lambda: tf.reverse(video, axis=[2]), lambda: video)
    video = tf.ensure_shape(video, [cfg.num_frames, s, s, 3])
    if cfg.normalization == "imagenet":
        video = (video / 255.0 - tf.constant(_IMAGENET_MEAN)) / tf.constant(_IMAGENET_STD)
    else:
        video = video / 127.5 - 1.0
    labels = ex["label_index"]
    tf.debugging.assert_positive(
        tf.size(labels), message=f"record without {dmvr_format.LABEL_INDEX_KEY} (needed as label)"
    )
    return {"video": video, "label": tf.cast(labels[0], tf.int32), "video_id": ex["video_id"]}


def _options() -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    # One thread per op; parallelism comes from parallel maps/interleave (tf.data's advice),
    # so TF does not oversubscribe the cores JAX also uses.
    opts.threading.max_intra_op_parallelism = 1
    return opts


def _local_batch(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise ValueError(
            f"global_batch_size={global_batch_size} is not divisible by "
            f"process_count={process_count}"
        )
    return global_batch_size // process_count


def _records(files: list[str], process_index: int, process_count: int):
    """(file list for this process, whether records must be sharded instead of files)."""
    if len(files) >= process_count:
        return process_files(files, process_index, process_count), False
    return files, True  # Fewer files than processes: shard records (every process reads all).


# --- Train ------------------------------------------------------------------------------


def train_iterator(
    cfg_data: ml_collections.ConfigDict,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Infinite train batches: `video` float32 [B_local, T, H, W, 3], `label` int32 [B_local].

    Deterministic in (seed, start_step): `start_step=k` yields batch k, k+1, … of the run
    from step 0 (elements already consumed are skipped before decoding).
    """
    dmvr_format.configure_tf()
    _check(cfg_data)
    b_local = _local_batch(global_batch_size, process_count)
    files, shard_records = _records(
        dmvr_format.list_shards(resolve_data_dir(cfg_data), cfg_data.train_split),
        process_index,
        process_count,
    )
    cfg = cfg_data
    base_seed = tf.constant([seed, process_index], tf.int64)

    def epoch(e: tf.Tensor) -> tf.data.Dataset:
        file_seed = tf.random.experimental.stateless_fold_in(base_seed, e)  # [2] int64
        ds = tf.data.Dataset.from_tensor_slices(files)
        ds = ds.shuffle(len(files), seed=file_seed[0])
        ds = ds.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(files), 8),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if shard_records:
            ds = ds.shard(process_count, process_index)
        return ds.shuffle(cfg.shuffle_buffer, seed=file_seed[1])

    ds = tf.data.Dataset.range(_MAX_EPOCHS).flat_map(epoch)
    ds = ds.enumerate().skip(start_step * b_local)

    def augment(i: tf.Tensor, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        out = _process(serialized, cfg, tf.random.experimental.stateless_fold_in(base_seed, i))
        return {"video": out["video"], "label": out["label"]}

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(b_local, drop_remainder=True).prefetch(cfg.prefetch)
    ds = ds.with_options(_options())
    return iter(ds.as_numpy_iterator())


# --- Eval -------------------------------------------------------------------------------


def eval_iterator(
    cfg_data: ml_collections.ConfigDict,
    split: str,
    *,
    global_batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    include_ids: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """One ordered pass over `split`: `video`, `label`, `mask` (1 real, 0 padding).

    Every batch has B_local rows; every process yields the same number of batches (padding
    with all-masked batches where its slice is shorter). `include_ids=True` adds `video_id`
    (bytes; b"" for padding), e.g. to check coverage — leave it off for device transfer.
    """
    dmvr_format.configure_tf()
    _check(cfg_data)
    b_local = _local_batch(global_batch_size, process_count)
    data_dir = resolve_data_dir(cfg_data)
    counts = dmvr_format.shard_counts(data_dir, split)
    all_files = sorted(counts)
    files, shard_records = _records(all_files, process_index, process_count)
    if shard_records:
        total = sum(counts.values())
        per_process = [len(range(p, total, process_count)) for p in range(process_count)]
    else:
        per_process = [
            sum(counts[f] for f in process_files(all_files, p, process_count))
            for p in range(process_count)
        ]
    num_batches = -(-max(per_process) // b_local)

    # Parallel reads, deterministic order (round-robin over files: for shards written by
    # `ShardWriter` this is the original example order).
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8))
    if shard_records:
        ds = ds.shard(process_count, process_index)
    ds = ds.map(
        lambda r: _process(r, cfg_data, None),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.batch(b_local).prefetch(cfg_data.prefetch).with_options(_options())
    return _padded(ds.as_numpy_iterator(), b_local, num_batches, cfg_data, include_ids)


def _padded(batches, b_local: int, num_batches: int, cfg, include_ids: bool):
    """Pads partial/missing batches to `b_local` rows with `mask` = 0."""
    s = cfg.image_size
    for _ in range(num_batches):
        batch = next(batches, None)
        n = 0 if batch is None else len(batch["label"])
        video = np.zeros((b_local, cfg.num_frames, s, s, 3), np.float32)
        label = np.zeros((b_local,), np.int32)
        ids = np.full((b_local,), b"", dtype=object)
        if n:
            video[:n], label[:n], ids[:n] = batch["video"], batch["label"], batch["video_id"]
        out = {"video": video, "label": label, "mask": (np.arange(b_local) < n).astype(np.float32)}
        if include_ids:
            out["video_id"] = ids
        yield out
