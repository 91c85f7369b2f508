"""Where examples come from: one `Source` per dataset kind, the only place that asks which.

  dataset.name='synthetic_motion'      generated once into a local cache dir as DMVR shards
                                       (`synthetic`), then read as 'dmvr' is
  dataset.name='dmvr'                  shards `{split}-XXXXX-of-NNNNN` in dataset.data_dir
  dataset.name='tfds:ucf101/ucf101_1_256'  `tfds.load` with frames left encoded
                                       (`SkipDecoding`); dataset.data_dir = TFDS data dir

`for_config(cfg.dataset)` picks the Source; everyone else calls its methods: `data_dir`,
`num_examples`, `train_epochs` / `eval_elements` (this process's elements as tf.data),
`checked` (read errors named), `label_names`. Every source yields dicts `frames` (string
[T]: encoded JPEG / PNG frames), `label_index` (int64 [L]), `video_id` (string []) and
`video_span` (int64 [2]: start and end in µs, end -1 if unknown), so sampling, decoding (of
the sampled frames only) and augmentation (`examples`) are the same whatever the source.
Per process: DMVR shards split by file (`files[p::P]`; by record when there are fewer files
than processes); TFDS by `tfds.even_splits(split, P)[p]` (contiguous, sizes differ by ≤ 1).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import ml_collections

from vivit_jax import fileio
from vivit_jax.data import dmvr_format, examples, synthetic
from vivit_jax.data.tf_quiet import tf

KNOWN_DATASETS = ("synthetic_motion", "dmvr", "tfds:<name>")
TFDS_PREFIX = "tfds:"

# A train epoch: the epoch number (int64 []) → that epoch's shuffled elements.
Epoch = Callable[[tf.Tensor], tf.data.Dataset]


class Source:
    """A dataset kind: its data dir, counts and this process's elements (the common format)."""

    def __init__(self, cfg: ml_collections.ConfigDict):
        self.cfg = cfg

    def data_dir(self) -> pathlib.Path | str:
        """Where the data is (generated or checked against `dataset.num_classes` first)."""
        raise NotImplementedError

    def num_examples(self, split: str, *, process_index: int | None = None,
                     process_count: int | None = None, gather=None) -> int:
        """Examples in `split`; on several processes every process calls this together."""
        raise NotImplementedError

    def train_epochs(self, split: str, process_index: int, process_count: int,
                     seed: tf.Tensor) -> tuple[Epoch, list[str]]:
        """(epoch → this process's shuffled elements, seeded by `seed` int64 [2] and the
        epoch; the files read, for `checked`)."""
        raise NotImplementedError

    def eval_elements(self, split: str, process_index: int, process_count: int
                      ) -> tuple[tf.data.Dataset, list[int], list[str]]:
        """(this process's elements in a fixed order, examples of every process, the files
        read, for `checked`)."""
        raise NotImplementedError

    def checked(self, batches: Iterator, split: str, files: list[str]) -> Iterator:
        """`batches` with read errors as the source can best name them (here: as raised)."""
        return batches

    def label_names(self) -> list[str] | None:
        """The class names if the source knows them without reading examples."""
        return None


def for_config(cfg_data: ml_collections.ConfigDict) -> Source:
    """The Source of `config.dataset` (nothing is read yet); ValueError for an unknown name."""
    name = cfg_data.name
    if name == "synthetic_motion":
        return SyntheticMotion(cfg_data)
    if name.startswith(TFDS_PREFIX):
        return Tfds(cfg_data)
    if name == "dmvr":
        return DmvrShards(cfg_data)
    raise ValueError(f"unknown dataset.name {name!r}; expected one of {KNOWN_DATASETS}")


def label_names(cfg_data: ml_collections.ConfigDict) -> list[str] | None:
    """The dataset's class names where known (synthetic_motion's, the shards' label map when
    it has `num_classes` names), else None (also for an unknown `dataset.name`)."""
    try:
        source = for_config(cfg_data)
    except ValueError:
        return None
    return source.label_names()


# --- DMVR shards ----------------------------------------------------------------------------


class CorruptData(ValueError):
    """A shard turned out damaged while it was read (after the start-up count passed it)."""


def process_files(files: list[str], process_index: int, process_count: int) -> list[str]:
    """This process's slice of the shard list: `files[process_index::process_count]`."""
    return files[process_index::process_count]


def _process_records(files: list[str], process_index: int, process_count: int
                     ) -> tuple[list[str], bool]:
    """(file list for this process, whether records must be sharded instead of files)."""
    if len(files) >= process_count:
        return process_files(files, process_index, process_count), False
    return files, True  # Fewer files than processes: shard records (every process reads all).


class DmvrShards(Source):
    """`dataset.name='dmvr'`: DMVR-schema TFRecord shards + `label_map.json` in data_dir."""

    def data_dir(self) -> pathlib.Path | str:
        """The shards' directory (a `pathlib.Path`, or the URL string of a remote one), after
        checking `dataset.num_classes` against its label map (when it has one)."""
        cfg = self.cfg
        if not cfg.data_dir:
            raise ValueError("dataset.data_dir '' is empty: set --config.dataset.data_dir=DIR "
                             "(a directory of DMVR shards + label_map.json)")
        data_dir = fileio.native(fileio.expanduser(cfg.data_dir))
        if not fileio.isdir(data_dir):
            raise FileNotFoundError(f"data directory {data_dir} does not exist")
        label_map = fileio.join(data_dir, dmvr_format.LABEL_MAP_FILE)
        if fileio.exists(label_map):
            labels = dmvr_format.read_label_map(data_dir)
            if len(labels) != cfg.num_classes:
                raise ValueError(f"dataset.num_classes={cfg.num_classes} but the label map "
                                 f"{label_map} has {len(labels)} labels")
        return data_dir

    def num_examples(self, split: str, *, process_index: int | None = None,
                     process_count: int | None = None, gather=None) -> int:
        """Counted once, cached in `num_examples.json`. On several processes (default: JAX's
        index and count), without a valid cache each counts only its own shards and the
        counts are gathered (`dmvr_format.shard_counts`; `gather` stands in for
        `process_allgather` in tests)."""
        data_dir = self.data_dir()
        if process_index is None or process_count is None:
            import jax

            process_index, process_count = jax.process_index(), jax.process_count()
        return sum(dmvr_format.shard_counts(
            data_dir, split, self.cfg.on_corrupt, process_index=process_index,
            process_count=process_count, gather=gather).values())

    def train_epochs(self, split: str, process_index: int, process_count: int,
                     seed: tf.Tensor) -> tuple[Epoch, list[str]]:
        """Each epoch: this process's files shuffled, read interleaved, records shuffled in
        `dataset.shuffle_buffer` (with `dataset.cache_decoded`: a full shuffle of the
        decoded videos kept in memory)."""
        cfg = self.cfg
        data_dir = self.data_dir()
        files, shard_records = _process_records(dmvr_format.list_shards(data_dir, split),
                                                process_index, process_count)
        # Finds bad shards among the files this process reads (only those are counted when
        # `num_examples.json` is missing) and sizes the full shuffle of `cache_decoded`.
        counts = dmvr_format.counts_of(data_dir, split, files, cfg.on_corrupt)
        shard = (process_count, process_index) if shard_records else None
        if cfg.cache_decoded:
            return _cached_epochs(files, shard, cfg.on_corrupt, sum(counts.values()), seed), files

        def epoch(e: tf.Tensor) -> tf.data.Dataset:
            file_seed = tf.random.experimental.stateless_fold_in(seed, e)  # [2] int64
            order = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files),
                                                                      seed=file_seed[0])
            ds = interleave_records(order, len(files), cfg.on_corrupt)
            if shard:
                ds = ds.shard(*shard)
            return ds.shuffle(cfg.shuffle_buffer, seed=file_seed[1]).map(parse_dmvr)

        return epoch, files

    def eval_elements(self, split: str, process_index: int, process_count: int
                      ) -> tuple[tf.data.Dataset, list[int], list[str]]:
        """Round-robin over this process's files: for shards written by `ShardWriter` the
        original example order."""
        # Every process's count is needed (the padding to the longest slice): gathered when
        # the cache is missing, each process counting its own shards.
        counts = dmvr_format.shard_counts(self.data_dir(), split, self.cfg.on_corrupt,
                                          process_index=process_index,
                                          process_count=process_count)
        all_files = sorted(counts)
        files, shard_records = _process_records(all_files, process_index, process_count)
        if shard_records:
            total = sum(counts.values())
            per_process = [len(range(p, total, process_count)) for p in range(process_count)]
        else:
            per_process = [sum(counts[f] for f in process_files(all_files, p, process_count))
                           for p in range(process_count)]
        ds = dmvr_records(files, self.cfg.on_corrupt)
        if shard_records:
            ds = ds.shard(process_count, process_index)
        return ds.map(parse_dmvr), per_process, all_files

    def checked(self, batches: Iterator, split: str, files: list[str]) -> Iterator:
        """`batches`, with a read error of a damaged TFRecord raised as one `CorruptData` line
        naming the shard (tf.data's own message says only "corrupted record at N")."""
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                found = find_damaged(files)
                raise CorruptData(
                    found or f"reading split {split!r} failed ({e.message.strip()}) although "
                    f"its {len(files)} shards read back intact now") from None
            yield batch

    def label_names(self) -> list[str] | None:
        """The label map's names when it has `num_classes` of them."""
        try:
            names = dmvr_format.read_label_map(self.data_dir())
        except (OSError, ValueError):
            return None
        return list(names) if len(names) == self.cfg.num_classes else None


def _cached_epochs(files: list[str], shard: tuple[int, int] | None, on_corrupt: str,
                   size: int, seed: tf.Tensor) -> Epoch:
    """Every video of `files` decoded once, in file order, kept in memory; each epoch is a
    full shuffle of them (seeded by the epoch: resumable)."""
    cached = dmvr_records(files, on_corrupt)
    if shard:
        cached = cached.shard(*shard)
    cached = cached.map(parse_dmvr).map(
        examples.decoded, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()

    def epoch(e: tf.Tensor) -> tf.data.Dataset:
        file_seed = tf.random.experimental.stateless_fold_in(seed, e)
        return cached.shuffle(size, seed=file_seed[1], reshuffle_each_iteration=False)

    return epoch


class SyntheticMotion(DmvrShards):
    """`dataset.name='synthetic_motion'`: DMVR shards generated on first use (`synthetic`)."""

    def data_dir(self) -> pathlib.Path:
        """The generated set's directory in the local cache (`dataset.data_dir`, else
        $VIVIT_JAX_CACHE, else ~/.cache/vivit_jax), generated if missing."""
        cfg, syn = self.cfg, self.cfg.synthetic
        return synthetic.ensure_synthetic_motion(
            synthetic.cache_root(cfg.data_dir),
            num_frames=syn.num_frames,
            image_size=syn.image_size,
            num_classes=cfg.num_classes,
            train_size=syn.train_size,
            validation_size=syn.validation_size,
            test_size=syn.test_size,
            seed=syn.seed,
            num_shards=syn.num_shards,
            label_sets=cfg.get("label_sets", ""),
        )

    def label_names(self) -> list[str]:
        """Known without generating the data."""
        return synthetic.label_names(int(self.cfg.num_classes), self.cfg.get("label_sets", ""))


def find_damaged(files: list[str]) -> str:
    """A damaged shard among `files` (most recently modified first: the likeliest), as
    `count_records`' message; '' if every file reads back intact."""
    def mtime(f: str) -> float:
        try:
            return fileio.mtime(f)
        except OSError:
            return 0.0

    for f in sorted(files, key=mtime, reverse=True):
        try:
            dmvr_format.count_records(f, "error")
        except ValueError as e:
            return str(e)
    return ""


def read_tfrecords(path: tf.Tensor, on_corrupt: str) -> tf.data.Dataset:
    """Records of one shard; with `on_corrupt='skip'` a truncated tail is dropped silently."""
    ds = tf.data.TFRecordDataset(path)
    return ds.ignore_errors() if on_corrupt == "skip" else ds


def dmvr_records(files: list[str], on_corrupt: str, cycle_length: int = 8) -> tf.data.Dataset:
    """Serialized records of `files`, round-robin over up to `cycle_length` files (ordered)."""
    return interleave_records(tf.data.Dataset.from_tensor_slices(files), len(files),
                              on_corrupt, cycle_length)


def interleave_records(files: tf.data.Dataset, num_files: int, on_corrupt: str,
                       cycle_length: int = 8) -> tf.data.Dataset:
    """Records of the files `files` names, up to `cycle_length` open files in turn."""
    return files.interleave(
        lambda f: read_tfrecords(f, on_corrupt),
        cycle_length=max(1, min(num_files, cycle_length)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def parse_dmvr(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """A DMVR record in the common element format."""
    ex = dmvr_format.parse_sequence_example(serialized)
    return {"frames": ex["frames"], "label_index": ex["label_index"], "video_id": ex["video_id"],
            "video_span": tf.stack([ex["start_us"], ex["end_us"]])}


# --- TFDS -----------------------------------------------------------------------------------


class Tfds(Source):
    """`dataset.name='tfds:<name>[/<config>][:<version>]'`: a prepared TFDS video dataset."""

    def data_dir(self) -> str:
        """The TFDS data dir ('' → TFDS's default), after checking `dataset.num_classes`."""
        cfg = self.cfg
        n = tfds_num_classes(cfg)
        if n is not None and n != cfg.num_classes:
            raise ValueError(
                f"dataset.num_classes={cfg.num_classes} but TFDS {cfg.name!r} has {n} classes"
            )
        return cfg.data_dir or "(TFDS default data dir)"

    def num_examples(self, split: str, *, process_index: int | None = None,
                     process_count: int | None = None, gather=None) -> int:
        """From the dataset info (no gathering needed: every process reads the same)."""
        return tfds_num_examples(self.cfg, split)

    def train_epochs(self, split: str, process_index: int, process_count: int,
                     seed: tf.Tensor) -> tuple[Epoch, list[str]]:
        """Each epoch: this process's part, shuffled in `dataset.shuffle_buffer`."""
        base = tfds_examples(self.cfg, tfds_process_split(split, process_index, process_count))

        def epoch(e: tf.Tensor) -> tf.data.Dataset:
            shuffle_seed = tf.random.experimental.stateless_fold_in(seed, e)
            return base.shuffle(self.cfg.shuffle_buffer, seed=shuffle_seed[1])

        return epoch, []

    def eval_elements(self, split: str, process_index: int, process_count: int
                      ) -> tuple[tf.data.Dataset, list[int], list[str]]:
        parts = [tfds_process_split(split, p, process_count) for p in range(process_count)]
        per_process = [tfds_num_examples(self.cfg, s) for s in parts]
        return tfds_examples(self.cfg, parts[process_index]), per_process, []


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


def tfds_num_examples(cfg, split) -> int:
    """Examples in a TFDS (sub)split (from the dataset info; counted if the info has none),
    or in one process's part of it (`tfds_process_split`'s `tfds.even_splits` object). A
    split the dataset does not have raises FileNotFoundError, as missing shards do."""
    if not isinstance(split, str):  # tfds.even_splits: each '+' part cut in `count` ranges,
        total = 0  # the first `n % count` ranges one example longer (TFDS's own rule).
        for part in split.split.split("+"):
            q, r = divmod(tfds_num_examples(cfg, part), split.count)
            total += q + (split.index < r)
        return total
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
