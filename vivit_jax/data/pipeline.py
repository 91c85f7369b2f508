"""What the trainer, evaluation and benchmarks import from the data package: the batches of
`config.dataset` (`iterators`), its data dir and example counts (its `sources.Source`).

  sources.py    one Source per dataset kind (DMVR shards, TFDS, synthetic): files for this
                process, element datasets, counts, data dir, damaged shards
  examples.py   one element → a train or eval example (sampling, decoding, labels)
  iterators.py  train and eval (single- and multi-view) iterators over any source
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import ml_collections
import numpy as np

from vivit_jax.data import sources
from vivit_jax.data.iterators import eval_iterator, train_iterator
from vivit_jax.data.sources import CorruptData, find_damaged, process_files

__all__ = ["CorruptData", "eval_iterator", "find_damaged", "multiview_iterator",
           "num_examples", "process_files", "resolve_data_dir", "train_iterator"]


def resolve_data_dir(cfg_data: ml_collections.ConfigDict) -> pathlib.Path | str:
    """Directory holding the dataset's shards (generating `synthetic_motion` if needed).

    For TFDS datasets: the TFDS data dir ('' → TFDS's default) after checking num_classes.
    """
    return sources.for_config(cfg_data).data_dir()


def num_examples(cfg_data: ml_collections.ConfigDict, split: str, *,
                 process_index: int | None = None, process_count: int | None = None,
                 gather=None) -> int:
    """Examples in `split` (DMVR: counted once, cached in `num_examples.json`).

    On several processes (default: JAX's index and count) every process calls this together:
    without a valid `num_examples.json` each counts only its own shards and the counts are
    gathered (`dmvr_format.shard_counts`; `gather` replaces `process_allgather` in tests).
    """
    return sources.for_config(cfg_data).num_examples(
        split, process_index=process_index, process_count=process_count, gather=gather)


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
    """`eval_iterator` with `views=(num_clips, num_crops)`: every video's C×S test views
    together, `video` uint8 [B_local, C·S, F, s, s, 3], and `video_index`."""
    return eval_iterator(cfg_data, split, global_batch_size=global_batch_size,
                         process_index=process_index, process_count=process_count,
                         include_ids=include_ids, views=(num_clips, num_crops))
