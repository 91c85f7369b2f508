"""tf.data train / eval / multi-view pipelines over DMVR shards or TFDS, yielding numpy batches.

Train: this process's files (or TFDS sub-split) → per-epoch seeded shuffle of files and
records → enumerate → skip(start_step · B_local) → sample frames (`dataset.sampling`:
'dense' or 'tsn', see `video_ops`), decode only those, augment (`dataset.train_pp`, or the
plain fields when empty; stateless ops seeded by (seed, process, element index)) → batch.
The stream is a deterministic function of (seed, start_step): resuming at step k yields
exactly the batches a run from step 0 yields from step k on. Resuming skips the records
already consumed (read, not decoded).

Eval: one ordered pass; one test clip (centred dense clip / TSN segment centres), short side
→ `min_resize`, centre crop, uint8 (normalised on the device: `device_augment.normalize`);
the last batch is padded with `mask` = 0 and every process yields the same number of batches.

Multi-view eval (`multiview_iterator`): T temporal clips × S spatial crops per video, kept
together: `video` [B, T·S, F, H, W, 3], view v = clip (v // S), crop (v % S).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from vivit_jax import fileio, label_sets  # noqa: E402
from vivit_jax.data import dmvr_format, host_ops, sources, synthetic, video_ops  # noqa: E402
from vivit_jax.data.tf_quiet import tf  # noqa: E402

KNOWN_DATASETS = ("synthetic_motion", "dmvr", "tfds:<name>")
NORMALIZATIONS = video_ops.NORMALIZATIONS
SAMPLINGS = ("dense", "tsn")
_MAX_EPOCHS = 2**31  # "Infinite": epochs are numbered so each gets its own shuffle seed.


def _cache_dir(data_dir: str) -> pathlib.Path:
    if fileio.is_remote(data_dir):  # pathlib would fold the URL into a local directory.
        raise ValueError(f"dataset.data_dir={data_dir}: synthetic_motion is generated into a "
                         f"local cache directory; give a local path (or '' for the default)")
    if data_dir:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get("VIVIT_JAX_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "vivit_jax"


def resolve_data_dir(cfg_data: ml_collections.ConfigDict) -> pathlib.Path | str:
    """Directory holding the dataset's shards (generating `synthetic_motion` if needed).

    For TFDS datasets: the TFDS data dir ('' → TFDS's default) after checking num_classes.
    """
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
            label_sets=cfg_data.get("label_sets", ""),
        )
    if sources.is_tfds(name):
        n = sources.tfds_num_classes(cfg_data)
        if n is not None and n != cfg_data.num_classes:
            raise ValueError(
                f"dataset.num_classes={cfg_data.num_classes} but TFDS {name!r} has {n} classes"
            )
        return cfg_data.data_dir or "(TFDS default data dir)"
    if name == "dmvr":
        if not cfg_data.data_dir:
            raise ValueError(
                "dataset.data_dir '' is empty: set --config.dataset.data_dir=DIR "
                "(a directory of DMVR shards + label_map.json)"
            )
        # A local dir as a pathlib.Path (as before), a `gs://…` one as its URL string.
        data_dir = fileio.native(cfg_data.data_dir if fileio.is_remote(cfg_data.data_dir)
                                 else os.path.expanduser(cfg_data.data_dir))
        if not fileio.isdir(data_dir):
            raise FileNotFoundError(f"data directory {data_dir} does not exist")
        label_map = fileio.join(data_dir, dmvr_format.LABEL_MAP_FILE)
        if fileio.exists(label_map):
            labels = dmvr_format.read_label_map(data_dir)
            if len(labels) != cfg_data.num_classes:
                raise ValueError(
                    f"dataset.num_classes={cfg_data.num_classes} but the label map "
                    f"{label_map} has {len(labels)} labels"
                )
        return data_dir
    raise ValueError(f"unknown dataset.name {name!r}; expected one of {KNOWN_DATASETS}")


class CorruptData(ValueError):
    """A shard turned out damaged while it was read (after the start-up count passed it)."""


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


def _named_errors(batches: Iterator, files: list[str], split: str) -> Iterator:
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
                found or f"reading split {split!r} failed ({e.message.strip()}) although its "
                f"{len(files)} shards read back intact now") from None
        yield batch


def process_files(files: list[str], process_index: int, process_count: int) -> list[str]:
    """This process's slice of the shard list: `files[process_index::process_count]`."""
    return files[process_index::process_count]


def num_examples(cfg_data: ml_collections.ConfigDict, split: str, *,
                 process_index: int | None = None, process_count: int | None = None,
                 gather=None) -> int:
    """Examples in `split` (DMVR: counted once, cached in `num_examples.json`).

    On several processes (default: JAX's index and count) every process calls this together:
    without a valid `num_examples.json` each counts only its own shards and the counts are
    gathered (`dmvr_format.shard_counts`; `gather` replaces `process_allgather` in tests).
    """
    if sources.is_tfds(cfg_data.name):
        return sources.tfds_num_examples(cfg_data, split)
    data_dir = resolve_data_dir(cfg_data)
    if process_index is None or process_count is None:
        import jax

        process_index, process_count = jax.process_index(), jax.process_count()
    return sum(dmvr_format.shard_counts(
        data_dir, split, cfg_data.on_corrupt, process_index=process_index,
        process_count=process_count, gather=gather).values())


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
    if cfg.sampling not in SAMPLINGS:
        raise ValueError(f"unknown dataset.sampling {cfg.sampling!r}; expected one of {SAMPLINGS}")
    if cfg.on_corrupt not in sources.ON_CORRUPT:
        raise ValueError(
            f"unknown dataset.on_corrupt {cfg.on_corrupt!r}; expected one of {sources.ON_CORRUPT}"
        )


def _label(ex: dict, cfg) -> tf.Tensor:
    """int32 [] (first label); with `dataset.multi_label` a multi-hot float32 [K]; with
    `dataset.label_sets` int32 [L], one class id per set."""
    labels = ex["label_index"]
    tf.debugging.assert_positive(
        tf.size(labels), message=f"record without {dmvr_format.LABEL_INDEX_KEY} (needed as label)"
    )
    if cfg.multi_label:
        hot = tf.one_hot(tf.cast(labels, tf.int32), cfg.num_classes, dtype=tf.float32)
        return tf.reduce_max(hot, axis=0)
    if cfg.get("label_sets"):  # Each set's own class id, int32 [L].
        return label_sets.local_labels(labels, label_sets.of(cfg))
    return tf.cast(labels[0], tf.int32)


def _decoded(ex: dict) -> dict:
    """`ex` with every frame decoded (uint8 [n, H, W, 3]): what `dataset.cache_decoded` keeps."""
    frames = ex["frames"]
    return {**ex, "frames": host_ops.decode_boxes(frames, tf.range(tf.shape(frames)[0]))}


def _train_example(ex: dict, cfg, seed: tf.Tensor, clip_fn) -> dict[str, tf.Tensor]:
    seeds = tf.random.experimental.stateless_split(seed, 2)
    n = tf.shape(ex["frames"])[0]
    idx = video_ops.train_indices(n, cfg.sampling, cfg.num_frames, cfg.stride, seeds[0])
    return {"video": clip_fn(ex["frames"], idx, seeds[1]), "label": _label(ex, cfg)}


def _eval_example(ex: dict, cfg, num_clips: int = 0, num_crops: int = 1) -> dict[str, tf.Tensor]:
    """One centred clip uint8 [F, s, s, 3] (num_clips=0) or views [C·S, F, s, s, 3]."""
    n = tf.shape(ex["frames"])[0]
    idx = video_ops.multi_clip_indices(n, cfg.sampling, max(num_clips, 1), cfg.num_frames,
                                       cfg.stride)  # [C, F]
    video = host_ops.eval_views(ex["frames"], idx, cfg.min_resize, cfg.image_size, num_crops)
    if not num_clips:
        video = video[0]
    span = ex["video_span"] if "video_span" in ex else tf.constant([0, -1], tf.int64)
    return {"video": video, "label": _label(ex, cfg), "video_id": ex["video_id"],
            "video_span": span}


def _options(threads: int | None = None) -> tf.data.Options:
    opts = tf.data.Options()
    opts.deterministic = True
    if threads:  # A private pool of that many threads (benchmarks: figures per core).
        opts.threading.private_threadpool_size = threads
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
    threads: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Infinite train batches: `video` uint8 [B_local, T, H, W, 3] (the geometric part of the
    recipe applied; the rest runs in the train step, `device_augment`), `label` int32
    [B_local] (float32 [B_local, K] multi-hot with `dataset.multi_label`). `threads`: size of
    a private tf.data thread pool (default: tf.data's shared one).

    Deterministic in (seed, start_step): `start_step=k` yields batch k, k+1, … of the run
    from step 0 (elements already consumed are skipped before decoding).
    """
    dmvr_format.configure_tf()
    _check(cfg_data)
    cfg = cfg_data
    b_local = _local_batch(global_batch_size, process_count)
    clip_fn = host_ops.build_train_clip(cfg)
    if cfg.process_split not in ("files", "examples"):
        raise ValueError(f"dataset.process_split={cfg.process_split!r}: expected 'files' or "
                         f"'examples'")
    # 'examples': every process reads the same global stream and keeps its slice of each
    # global batch, so batches do not depend on the process count (exact reproducibility
    # across topologies, at the cost of every host reading every record).
    by_examples = cfg.process_split == "examples" and process_count > 1
    if by_examples:
        keep_index, process_index, process_count = process_index, 0, 1
    base_seed = tf.constant([seed, process_index], tf.int64)

    if sources.is_tfds(cfg.name):
        split = sources.tfds_process_split(cfg.train_split, process_index, process_count)
        base = sources.tfds_examples(cfg, split)

        def epoch(e: tf.Tensor) -> tf.data.Dataset:
            shuffle_seed = tf.random.experimental.stateless_fold_in(base_seed, e)
            return base.shuffle(cfg.shuffle_buffer, seed=shuffle_seed[1])
    else:
        data_dir = resolve_data_dir(cfg)
        files, shard_records = _records(
            dmvr_format.list_shards(data_dir, cfg.train_split), process_index, process_count
        )
        # Finds bad shards among the files this process reads (only those are counted when
        # `num_examples.json` is missing) and sizes the full shuffle of `cache_decoded`.
        counts = dmvr_format.counts_of(data_dir, cfg.train_split, files, cfg.on_corrupt)

        if cfg.cache_decoded:
            # Every video of this process decoded once, in file order, kept in memory; each
            # epoch is then a full shuffle of them (seeded by the epoch: resumable).
            cached = sources.dmvr_records(files, cfg.on_corrupt)
            if shard_records:
                cached = cached.shard(process_count, process_index)
            cached = cached.map(sources.parse_dmvr).map(
                _decoded, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
            size = sum(counts.values())

        def epoch(e: tf.Tensor) -> tf.data.Dataset:
            file_seed = tf.random.experimental.stateless_fold_in(base_seed, e)  # [2] int64
            if cfg.cache_decoded:
                return cached.shuffle(size, seed=file_seed[1], reshuffle_each_iteration=False)
            ds = tf.data.Dataset.from_tensor_slices(files)
            ds = ds.shuffle(len(files), seed=file_seed[0])
            ds = ds.interleave(
                lambda f: sources.read_tfrecords(f, cfg.on_corrupt),
                cycle_length=min(len(files), 8),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            if shard_records:
                ds = ds.shard(process_count, process_index)
            return ds.shuffle(cfg.shuffle_buffer, seed=file_seed[1]).map(sources.parse_dmvr)

    ds = tf.data.Dataset.range(_MAX_EPOCHS).flat_map(epoch)
    if by_examples:
        ds = ds.enumerate().skip(start_step * global_batch_size)
        ds = ds.filter(lambda i, ex: (i % global_batch_size) // b_local == keep_index)
    else:
        ds = ds.enumerate().skip(start_step * b_local)

    def augment(i: tf.Tensor, ex: dict) -> dict[str, tf.Tensor]:
        return _train_example(ex, cfg, tf.random.experimental.stateless_fold_in(base_seed, i),
                              clip_fn)

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(b_local, drop_remainder=True).prefetch(cfg.prefetch)
    ds = ds.with_options(_options(threads))
    if sources.is_tfds(cfg.name):
        return iter(ds.as_numpy_iterator())
    return _named_errors(iter(ds.as_numpy_iterator()), files, cfg.train_split)


# --- Eval -------------------------------------------------------------------------------


def _eval_source(cfg, split: str, process_index: int, process_count: int):
    """(ordered element dataset of this process, examples per process)."""
    if sources.is_tfds(cfg.name):
        parts = [sources.tfds_process_split(split, p, process_count) for p in range(process_count)]
        per_process = [sources.tfds_num_examples(cfg, s) for s in parts]
        return sources.tfds_examples(cfg, parts[process_index]), per_process
    # Every process's count is needed (the padding to the longest slice): gathered when the
    # cache is missing, each process counting its own shards.
    counts = dmvr_format.shard_counts(resolve_data_dir(cfg), split, cfg.on_corrupt,
                                      process_index=process_index, process_count=process_count)
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
    # Deterministic round-robin over files: for shards written by `ShardWriter` this is the
    # original example order.
    ds = sources.dmvr_records(files, cfg.on_corrupt)
    if shard_records:
        ds = ds.shard(process_count, process_index)
    return ds.map(sources.parse_dmvr), per_process


def _eval_batches(cfg, split, b_local, process_index, process_count, num_clips, num_crops):
    dmvr_format.configure_tf()
    _check(cfg)
    ds, per_process = _eval_source(cfg, split, process_index, process_count)
    ds = ds.map(
        lambda ex: _eval_example(ex, cfg, num_clips, num_crops),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    spec = ds.element_spec
    ds = ds.batch(b_local).prefetch(cfg.prefetch).with_options(_options())
    num_batches = -(-max(per_process) // b_local)
    first = sum(per_process[:process_index])  # Global index of this process's first video.
    batches = ds.as_numpy_iterator()
    if not sources.is_tfds(cfg.name):
        batches = _named_errors(batches, dmvr_format.list_shards(resolve_data_dir(cfg), split),
                                split)
    return batches, spec, num_batches, first


def _padded(batches, spec, b_local: int, num_batches: int):
    """Pads partial/missing batches to `b_local` rows; yields (batch, number of real rows)."""
    for _ in range(num_batches):
        batch = next(batches, None)
        n = 0 if batch is None else len(batch["label"])
        if n == b_local:  # Full: as it is (a 4×3 batch is ~10⁸ bytes; no copy).
            yield dict(batch), n
            continue
        out = {}
        for k, s in spec.items():
            if s.dtype == tf.string:
                out[k] = np.full((b_local,), b"", dtype=object)
            else:
                out[k] = np.zeros((b_local, *s.shape), s.dtype.as_numpy_dtype)
            if n:
                out[k][:n] = batch[k]
        yield out, n


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
    (bytes; b"" for padding) and `video_span` (int64 [B, 2]: the record's clip start and end,
    µs; end -1 if unknown), e.g. to check coverage — leave it off for device transfer.
    """
    b_local = _local_batch(global_batch_size, process_count)
    batches, spec, num_batches, _ = _eval_batches(
        cfg_data, split, b_local, process_index, process_count, 0, 1
    )
    for out, n in _padded(batches, spec, b_local, num_batches):
        out["mask"] = (np.arange(b_local) < n).astype(np.float32)
        ids = {k: out.pop(k) for k in ("video_id", "video_span")}
        if include_ids:
            out.update(ids)
        yield out


def multiview_iterator(
    cfg_data: ml_collections.ConfigDict,
    split: str,
    *,
    num_clips: int,
    num_crops: int,
    global_batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    include_ids: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """One ordered pass with all views of each video kept together.

    Yields `video` uint8 [B_local, C·S, F, s, s, 3] (view v = temporal clip v // S,
    spatial crop v % S; crops left/centre/right or top/centre/bottom of the long side after
    the short side is resized to `min_resize`; S=1 is the centre crop), `label`, `mask`
    (0 = padding) and `video_index` int32: the video's position in the split's evaluation
    order, unique across processes and covering 0..N-1 exactly once (-1 for padding).
    `global_batch_size` counts videos, not views.
    """
    if num_clips < 1 or num_crops not in (1, 3):
        raise ValueError(f"num_clips={num_clips} must be >= 1 and num_crops={num_crops} 1 or 3")
    b_local = _local_batch(global_batch_size, process_count)
    batches, spec, num_batches, first = _eval_batches(
        cfg_data, split, b_local, process_index, process_count, num_clips, num_crops
    )
    seen = 0
    for out, n in _padded(batches, spec, b_local, num_batches):
        out["mask"] = (np.arange(b_local) < n).astype(np.float32)
        index = first + seen + np.arange(b_local, dtype=np.int32)
        out["video_index"] = np.where(out["mask"] > 0, index, -1).astype(np.int32)
        seen += n
        ids = {k: out.pop(k) for k in ("video_id", "video_span")}
        if include_ids:
            out.update(ids)  # As in `eval_iterator`.
        yield out
