"""DMVR SequenceExample schema: write, parse, shard naming and the shared label map.

The schema is DMVR's (google-deepmind/dmvr, `examples/generate_from_file.py` writes it,
`modalities.py` reads it), so shards made by DMVR's tools read here and ours read there:

  feature_lists  image/encoded          one bytes feature per frame (JPEG)
  context        clip/label/index       int64 list (several for multi-label)
                 clip/label/text        bytes list (the label names)
                 video/filename         bytes
                 clip/start/timestamp   int64, microseconds
                 clip/end/timestamp     int64, microseconds
                 caption/string         bytes list (optional)
                 clip/label/<set>/index int64, clip/label/<set>/text bytes: with several
                                        label sets (Epic-Kitchens' noun, verb), each set's
                                        own class id and name; `clip/label/index` then holds
                                        the joint head's indices (vivit_jax/label_sets.py)

Every context key is optional when parsing. Shards are TFRecord files named
`{split}-{i:05d}-of-{n:05d}`. One label map, `label_map.json` = `{"labels": [...]}`
(index i <-> labels[i]), lives beside the shards and is shared by all splits (DMVR's
converter builds one per CSV, so its splits can disagree; ours cannot).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from vivit_jax import fileio  # noqa: E402

# The label map, shard names and JPEG encoding live in TF-free modules (vivit-prepare reads
# them before it imports TensorFlow); importable from here too, beside the schema.
from vivit_jax.data.dmvr_files import (  # noqa: E402, F401
    LABEL_MAP_FILE,
    read_label_map,
    shard_name,
    write_label_map,
)
from vivit_jax.data.tf_quiet import tf  # noqa: E402
from vivit_jax.data.video_decode import encode_jpeg  # noqa: E402, F401

IMAGE_KEY = "image/encoded"
LABEL_INDEX_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
# Some DMVR readers/writers use `clip/label/string` for the names; accepted when parsing.
LABEL_STRING_KEY = "clip/label/string"
VIDEO_FILENAME_KEY = "video/filename"
START_KEY = "clip/start/timestamp"
END_KEY = "clip/end/timestamp"
CAPTION_KEY = "caption/string"

COUNTS_FILE = "num_examples.json"
_SHARD_RE = r"^{split}-(\d{{5}})-of-(\d{{5}})$"

_TF_CONFIGURED = False


def configure_tf() -> None:
    """Hides GPUs from TensorFlow (tf.data only; JAX owns the accelerators). Idempotent."""
    global _TF_CONFIGURED
    if _TF_CONFIGURED:
        return
    _TF_CONFIGURED = True
    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):  # Runtime already initialised: nothing to do.
        pass


def make_sequence_example(
    frames_jpeg: Sequence[bytes],
    *,
    label_index: Sequence[int],
    label_text: Sequence[str],
    video_id: str,
    start_us: int = 0,
    end_us: int | None = None,
    caption: Sequence[str] = (),
    label_sets: Sequence[tuple[str, int, str]] = (),
) -> bytes:
    """Builds one serialized DMVR SequenceExample. `end_us=None` leaves the end timestamp out;
    `label_sets`: (set, class id, name) written as `clip/label/<set>/index` and `/text`."""
    if not frames_jpeg:
        raise ValueError(f"video {video_id!r} has no frames")
    ex = tf.train.SequenceExample()
    ctx = ex.context.feature
    ctx[LABEL_INDEX_KEY].int64_list.value[:] = [int(i) for i in label_index]
    ctx[LABEL_TEXT_KEY].bytes_list.value[:] = [t.encode() for t in label_text]
    ctx[VIDEO_FILENAME_KEY].bytes_list.value[:] = [video_id.encode()]
    ctx[START_KEY].int64_list.value[:] = [int(start_us)]
    if end_us is not None:
        ctx[END_KEY].int64_list.value[:] = [int(end_us)]
    if caption:
        ctx[CAPTION_KEY].bytes_list.value[:] = [c.encode() for c in caption]
    for name, cid, text in label_sets:
        ctx[f"clip/label/{name}/index"].int64_list.value[:] = [int(cid)]
        ctx[f"clip/label/{name}/text"].bytes_list.value[:] = [text.encode()]
    frames = ex.feature_lists.feature_list[IMAGE_KEY]
    for jpeg in frames_jpeg:
        frames.feature.add().bytes_list.value[:] = [jpeg]
    return ex.SerializeToString()


_CONTEXT_FEATURES = {
    LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64),
    LABEL_TEXT_KEY: tf.io.VarLenFeature(tf.string),
    LABEL_STRING_KEY: tf.io.VarLenFeature(tf.string),
    VIDEO_FILENAME_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    START_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    END_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    CAPTION_KEY: tf.io.VarLenFeature(tf.string),
}
_SEQUENCE_FEATURES = {IMAGE_KEY: tf.io.FixedLenSequenceFeature([], tf.string)}


def parse_sequence_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses one serialized record (graph-compatible; use inside `tf.data` map).

    Returns `frames` string [T] (JPEG), `label_index` int64 [L], `label_text` string [L'],
    `video_id` string [], `start_us` int64 [] (0 if absent), `end_us` int64 [] (-1 if
    absent), `caption` string [C]. Missing optional context keys give empty/default values.
    """
    ctx, seq = tf.io.parse_single_sequence_example(
        serialized, context_features=_CONTEXT_FEATURES, sequence_features=_SEQUENCE_FEATURES
    )
    dense = lambda key: tf.sparse.to_dense(ctx[key])  # noqa: E731
    return {
        "frames": seq[IMAGE_KEY],
        "label_index": dense(LABEL_INDEX_KEY),
        "label_text": tf.concat([dense(LABEL_TEXT_KEY), dense(LABEL_STRING_KEY)], axis=0),
        "video_id": ctx[VIDEO_FILENAME_KEY],
        "start_us": ctx[START_KEY],
        "end_us": ctx[END_KEY],
        "caption": dense(CAPTION_KEY),
    }


class ShardWriter:
    """Writes records round-robin into `num_shards` DMVR-named TFRecord shards.

    Shards are written under hidden temporary names and renamed to their final names only
    when the writer closes without error, so an interrupted run never leaves a half shard
    under a final name. Use as a context manager.
    """

    def __init__(self, out_dir: str | os.PathLike, split: str, num_shards: int):
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        self.out_dir = fileio.native(out_dir)  # pathlib.Path, or the URL of a remote dir.
        fileio.makedirs(out_dir)
        self.split, self.num_shards = split, num_shards
        names = [shard_name(split, i, num_shards) for i in range(num_shards)]
        self.paths = [fileio.native(fileio.join(out_dir, n)) for n in names]
        self._tmp = [fileio.join(out_dir, f".{n}.tmp-{os.getpid()}") for n in names]
        self._writers = [tf.io.TFRecordWriter(p) for p in self._tmp]
        self.counts = [0] * num_shards
        self._n = 0

    def write(self, serialized: bytes) -> None:
        """Appends one serialized record to the next shard (round-robin)."""
        i = self._n % self.num_shards
        self._writers[i].write(serialized)
        self.counts[i] += 1
        self._n += 1

    def close(self, commit: bool = True) -> list[pathlib.Path | str]:
        """Flushes; if `commit`, renames temporaries to final names, else deletes them."""
        for w in self._writers:
            w.close()
        for tmp, final in zip(self._tmp, self.paths):
            if commit:
                fileio.rename(tmp, final)
            else:
                fileio.remove(tmp, missing_ok=True)
        if commit:
            save_counts(self.out_dir, self.split, self.paths, self.counts)
        return self.paths

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(commit=exc_type is None)


def write_shards(
    out_dir: str | os.PathLike, split: str, examples_iterable: Iterable[bytes], num_shards: int
) -> list[pathlib.Path | str]:
    """Writes records into `{out_dir}/{split}-XXXXX-of-NNNNN` shards; returns their paths
    (`pathlib.Path`s; URL strings in a remote `out_dir`)."""
    with ShardWriter(out_dir, split, num_shards) as writer:
        for serialized in examples_iterable:
            writer.write(serialized)
    return writer.paths


def list_shards(data_dir: str | os.PathLike, split: str) -> list[str]:
    """Sorted shard paths of `split` in `data_dir`; raises FileNotFoundError when none."""
    data_dir = fileio.native(data_dir)
    if not fileio.isdir(data_dir):
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    pattern = re.compile(_SHARD_RE.format(split=re.escape(split)))
    found = {}
    for name in fileio.listdir(data_dir):
        m = pattern.match(name)
        if m:
            found[name] = (int(m.group(1)), int(m.group(2)))
    if not found:
        raise FileNotFoundError(
            f"no shards for split {split!r} in {data_dir} "
            f"(expected files named {split}-00000-of-000NN)"
        )
    totals = {n for _, n in found.values()}
    if len(totals) != 1:
        raise ValueError(
            f"shards of split {split!r} in {data_dir} disagree on their count: {sorted(found)}"
        )
    (n,) = totals
    missing = sorted(set(range(n)) - {i for i, _ in found.values()})
    if missing:
        names = ", ".join(shard_name(split, i, n) for i in missing[:3])
        raise FileNotFoundError(f"split {split!r} in {data_dir} is incomplete: missing {names}")
    return [fileio.join(data_dir, name) for name in sorted(found)]


# --- Record counts, cached beside the shards ------------------------------------------


# What this process counted (or cached), by (data dir, split), in the format of
# `num_examples.json`: a data dir that cannot be written (a read-only bucket) is still
# counted only once per run.
_COUNTED: dict[tuple[str, str], list] = {}


def _memo_key(data_dir, split: str) -> tuple[str, str]:
    return fileio.absolute(data_dir).rstrip("/"), split


def _shard_key(path) -> list:
    return [fileio.basename(path), fileio.size(path)]


def _read_counts(data_dir) -> dict:
    try:
        return json.loads(fileio.read_text(fileio.join(data_dir, COUNTS_FILE)))
    except (OSError, ValueError):
        return {}


def _store_counts(data_dir, split: str, entry: list, write: bool = True) -> None:
    _COUNTED[_memo_key(data_dir, split)] = entry
    if not write:
        return
    cache = _read_counts(data_dir)
    cache[split] = entry
    try:
        fileio.write_atomic(fileio.join(data_dir, COUNTS_FILE),
                            json.dumps(cache, indent=1) + "\n")
    except OSError:
        pass


def save_counts(data_dir, split: str, paths, counts) -> None:
    """Caches per-shard record counts in `num_examples.json` (best effort: dir may be read-only)."""
    _store_counts(data_dir, split, [[*_shard_key(p), int(c)] for p, c in zip(paths, counts)])


def count_records(path: str | os.PathLike, on_corrupt: str = "error") -> tuple[int, bool]:
    """(records, intact) of one TFRecord file. A truncated/corrupt file raises ValueError naming
    it, or (`on_corrupt='skip'`) counts the records readable before the damage, with a warning."""
    n = 0
    try:
        for _ in tf.data.TFRecordDataset(str(path)):
            n += 1
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        # TF's reason without its op wrapping ("{{function_node …}} … [Op:IteratorGetNext]").
        reason = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", e.message)
        reason = re.sub(r"\s*\[Op:\w+\].*$", "", reason, flags=re.S).strip()
        # TF's "truncated record at 195070' failed with Read less bytes…" (a stray quote).
        reason = re.sub(r"^(.*?)' failed with (.*)$", r"\1 (\2)", reason, flags=re.S)
        msg = f"shard {path} is truncated or corrupt after record {n}: {reason}"
        if on_corrupt != "skip":
            raise ValueError(
                f"{msg} (set dataset.on_corrupt='skip' to read the {n} good records)"
            ) from e
        print(f"WARNING: {msg}; using its first {n} records", flush=True)
        return n, False
    return n, True


def shard_counts(
    data_dir: str | os.PathLike, split: str, on_corrupt: str = "error", *,
    process_index: int = 0, process_count: int = 1,
    gather: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, int]:
    """Number of records in each shard of `split` ({path: count}), cached in `num_examples.json`.

    The cache entry is trusted only if shard names and byte sizes still match; otherwise the
    records are counted (a full read, which also finds truncated shards: see
    `count_records`) and the cache rewritten (and kept in this process, for a read-only
    data dir).

    With `process_count` > 1, every process must call this together: each counts only its
    own shards (`files[process_index::process_count]`, the files it reads with
    `dataset.process_split='files'`) and the counts are exchanged with `gather` (default:
    `jax.experimental.multihost_utils.process_allgather`), so a missing cache costs one read
    of each record across the hosts, not one per host. Process 0 writes the cache.
    """
    files = list_shards(data_dir, split)
    keys = [_shard_key(f) for f in files]
    known = _known_counts(data_dir, split, files, keys)
    if known is not None:
        return known
    if process_count > 1:
        counts, intact = _count_shared(files, on_corrupt, process_index, process_count, gather)
    else:
        counted = [count_records(f, on_corrupt) for f in files]
        counts, intact = [n for n, _ in counted], all(ok for _, ok in counted)
    if intact:  # Never cache a damaged split: the check must rerun.
        _store_counts(data_dir, split, [[*k, int(c)] for k, c in zip(keys, counts)],
                      write=process_index == 0)
    return dict(zip(files, counts))


def _known_counts(data_dir, split: str, files: list[str], keys: list) -> dict[str, int] | None:
    """The counts of `num_examples.json` (or of this process's earlier count) if they still
    match the shards' names and sizes, else None."""
    for cached in (_read_counts(data_dir).get(split), _COUNTED.get(_memo_key(data_dir, split))):
        if cached and [c[:2] for c in cached] == keys:
            return {f: int(c[2]) for f, c in zip(files, cached)}
    return None


def counts_of(data_dir: str | os.PathLike, split: str, files: Sequence[str],
              on_corrupt: str = "error") -> dict[str, int]:
    """Records in `files`, some of `split`'s shards (a process's own): from the cache when it
    is valid, else by reading those files only (checking them as `count_records` does)."""
    every = list_shards(data_dir, split)
    known = _known_counts(data_dir, split, every, [_shard_key(f) for f in every])
    if known is not None:
        return {f: known[f] for f in files}
    if list(files) == every:
        return shard_counts(data_dir, split, on_corrupt)
    return {f: count_records(f, on_corrupt)[0] for f in files}


_NOT_MINE, _DAMAGED, _INTACT, _FAILED = -1, 0, 1, 2


def _process_allgather(x: np.ndarray) -> np.ndarray:
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x))


def _count_shared(files: list[str], on_corrupt: str, process_index: int, process_count: int,
                  gather) -> tuple[list[int], bool]:
    """Counts this process's shards, gathers every process's: (counts of all, all intact).

    A damaged shard (with `on_corrupt='error'`) is raised on every process, after the
    gather, so no process waits for one that has already failed."""
    mine = np.full([2, len(files)], _NOT_MINE, np.int64)  # Rows: count, status.
    error = ""
    for i in range(process_index, len(files), process_count):
        try:
            n, ok = count_records(files[i], on_corrupt)
            mine[:, i] = n, _INTACT if ok else _DAMAGED
        except ValueError as e:
            error = error or str(e)
            mine[:, i] = 0, _FAILED
    everyone = np.asarray((gather or _process_allgather)(mine))
    if everyone.shape != (process_count, *mine.shape):
        raise RuntimeError(f"gathering the shard counts gave shape {everyone.shape}, expected "
                           f"{(process_count, *mine.shape)} (process_count={process_count})")
    if error:
        raise ValueError(error)
    status = everyone[:, 1].max(axis=0)
    failed = np.flatnonzero(status == _FAILED)
    if failed.size:
        f = int(failed[0])
        raise ValueError(f"shard {files[f]} is truncated or corrupt (found by process "
                         f"{f % process_count}; set dataset.on_corrupt='skip' to read its "
                         f"good records)")
    if (status == _NOT_MINE).any():
        raise RuntimeError(f"shard {files[int(np.argmin(status))]} was counted by no process")
    return everyone[:, 0].max(axis=0).tolist(), bool((status == _INTACT).all())
