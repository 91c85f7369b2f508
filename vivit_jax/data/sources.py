"""Where examples come from: DMVR-schema shards or a TFDS video dataset, one element format.

Every source yields dicts `frames` (string [T]: one encoded image per frame, JPEG or PNG),
`label_index` (int64 [L]), `video_id` (string []) and `video_span` (int64 [2]: the clip's
start and end in µs, end -1 if unknown), so sampling, decoding and augmentation are the same
whatever the source; only the sampled frames are ever decoded.

  dataset.name='dmvr'                  shards `{split}-XXXXX-of-NNNNN` in dataset.data_dir
  dataset.name='tfds:ucf101/ucf101_1_256'  `tfds.load` with frames left encoded
                                       (`SkipDecoding`); dataset.data_dir = TFDS data dir

Per process: DMVR shards are split by file (`files[p::P]`, records when there are fewer
files than processes); TFDS splits by `tfds.even_splits(split, P)[p]` (contiguous, sizes
differ by at most one).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vivit_jax.data import dmvr_format  # noqa: E402
from vivit_jax.data.tf_quiet import tf  # noqa: E402

TFDS_PREFIX = "tfds:"
ON_CORRUPT = ("error", "skip")


def is_tfds(name: str) -> bool:
    """Whether `dataset.name` names a TFDS dataset (`tfds:<name>[/<config>][:<version>]`)."""
    return name.startswith(TFDS_PREFIX)


def tfds_builder(cfg):
    """The TFDS builder of `dataset.name='tfds:…'` (no download: prepare it beforehand)."""
    import tensorflow_datasets as tfds

    name = cfg.name[len(TFDS_PREFIX):]
    if not name:
        raise ValueError(f"dataset.name={cfg.name!r} names no TFDS dataset (e.g. 'tfds:ucf101')")
    try:
        return tfds.builder(name, data_dir=cfg.data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:  # Its message lists every dataset.
        raise ValueError(f"dataset.name={cfg.name!r}: TFDS has no dataset {name!r} (`tfds "
                         f"build --help`; the catalogue: tensorflow.org/datasets/catalog)"
                         ) from None


def not_prepared(cfg, builder) -> str:
    """Why a TFDS dataset cannot be read yet, where it was looked for and how to prepare it."""
    import tensorflow_datasets as tfds

    name, root = cfg.name[len(TFDS_PREFIX):], cfg.data_dir or tfds.core.constants.DATA_DIR
    manual = (f"; it needs a manual download first: put its files in {root}/downloads/manual "
              f"(what to download: `tfds build {name} --help` or its catalogue page)"
              if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None) else "")
    return (f"TFDS dataset {name!r} is not prepared in {builder.data_dir} (dataset.data_dir="
            f"{cfg.data_dir!r}): prepare it once with `tfds build {name} --data_dir={root}`"
            f"{manual}, or point --config.dataset.data_dir at the TFDS data dir that holds it")


def tfds_process_split(split: str, process_index: int, process_count: int) -> str:
    """This process's contiguous part of a TFDS split (all of it for one process)."""
    if process_count == 1:
        return split
    import tensorflow_datasets as tfds

    return tfds.even_splits(split, n=process_count, drop_remainder=False)[process_index]


def tfds_examples(cfg, split: str) -> tf.data.Dataset:
    """Ordered, undecoded elements of a TFDS (sub)split in the common element format."""
    import tensorflow_datasets as tfds

    builder = tfds_builder(cfg)
    features = builder.info.features
    for key in (cfg.tfds_video_key, cfg.tfds_label_key):
        if key not in features:
            raise ValueError(
                f"TFDS dataset {builder.name!r} has no feature {key!r} "
                f"(dataset.tfds_video_key / tfds_label_key); features: {sorted(features)}"
            )
    try:
        ds = builder.as_dataset(
            split=split,
            shuffle_files=False,
            decoders={cfg.tfds_video_key: tfds.decode.SkipDecoding()},
            read_config=tfds.ReadConfig(add_tfds_id=True, shuffle_seed=0),
        )
    except AssertionError:  # TFDS asserts the data is there (`tfds.testing` mocks it).
        if builder.is_prepared():
            raise
        raise ValueError(not_prepared(cfg, builder)) from None

    def convert(ex):
        label = tf.reshape(tf.cast(ex[cfg.tfds_label_key], tf.int64), [-1])
        return {"frames": ex[cfg.tfds_video_key], "label_index": label,
                "video_id": ex["tfds_id"], "video_span": tf.constant([0, -1], tf.int64)}

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def tfds_num_examples(cfg, split: str) -> int:
    """Examples in a TFDS (sub)split (from the dataset info; counted if the info has none).

    A split the dataset does not have raises FileNotFoundError, as missing shards do.
    """
    known = tfds_builder(cfg).info.splits
    for part in split.split("+"):
        base = part.split("[")[0].strip()
        if known and base not in known:
            raise FileNotFoundError(f"TFDS dataset {cfg.name!r} has no split {base!r}; its "
                                    f"splits: {sorted(known)}")
    try:
        n = int(known[split].num_examples)
    except (KeyError, ValueError):
        n = 0
    if n:
        return n
    return int(tfds_examples(cfg, split).reduce(0, lambda c, _: c + 1))


def tfds_num_classes(cfg) -> int | None:
    """Classes of the label feature (None when it is not a ClassLabel)."""
    feature = tfds_builder(cfg).info.features[cfg.tfds_label_key]
    return getattr(feature, "num_classes", None)


def read_tfrecords(path: tf.Tensor, on_corrupt: str) -> tf.data.Dataset:
    """Records of one shard; with `on_corrupt='skip'` a truncated tail is dropped silently."""
    ds = tf.data.TFRecordDataset(path)
    return ds.ignore_errors() if on_corrupt == "skip" else ds


def dmvr_records(files: list[str], on_corrupt: str, cycle_length: int = 8) -> tf.data.Dataset:
    """Serialized records of `files`, round-robin over up to `cycle_length` files (ordered)."""
    ds = tf.data.Dataset.from_tensor_slices(files)
    return ds.interleave(
        lambda f: read_tfrecords(f, on_corrupt),
        cycle_length=max(1, min(len(files), cycle_length)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def parse_dmvr(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """A DMVR record in the common element format."""
    ex = dmvr_format.parse_sequence_example(serialized)
    return {"frames": ex["frames"], "label_index": ex["label_index"], "video_id": ex["video_id"],
            "video_span": tf.stack([ex["start_us"], ex["end_us"]])}
