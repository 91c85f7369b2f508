"""tf.data train and eval iterators over any source (`sources`), yielding numpy batches.

Train: the source's epochs of this process's elements (seeded shuffles) → enumerate →
skip(start_step · B_local) → `examples.train_example` (stateless ops seeded by (seed,
process, element index)) → batch. The stream is a deterministic function of (seed,
start_step): resuming at step k yields exactly the batches a run from step 0 yields from
step k on. Resuming skips the records already consumed (read, not decoded).

Eval: one ordered pass; `examples.eval_example` (one centred test clip, or with `views` all
T temporal clips × S spatial crops of each video kept together); the last batch is padded
with `mask` = 0 and every process yields the same number of batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import ml_collections
import numpy as np

from vivit_jax.data import config as data_config
from vivit_jax.data import dmvr_format, examples, host_ops, sources
from vivit_jax.data.tf_quiet import tf

_MAX_EPOCHS = 2**31  # "Infinite": epochs are numbered so each gets its own shuffle seed.


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
    data_config.check(cfg_data)
    cfg = cfg_data
    b_local = _local_batch(global_batch_size, process_count)
    clip_fn = host_ops.build_train_clip(cfg)
    data_config.check_process_split(cfg)
    # 'examples': every process reads the same global stream and keeps its slice of each
    # global batch, so batches do not depend on the process count (exact reproducibility
    # across topologies, at the cost of every host reading every record).
    by_examples = cfg.process_split == "examples" and process_count > 1
    if by_examples:
        keep_index, process_index, process_count = process_index, 0, 1
    base_seed = tf.constant([seed, process_index], tf.int64)
    source = sources.for_config(cfg)
    epoch, files = source.train_epochs(cfg.train_split, process_index, process_count, base_seed)

    ds = tf.data.Dataset.range(_MAX_EPOCHS).flat_map(epoch)
    if by_examples:
        ds = ds.enumerate().skip(start_step * global_batch_size)
        ds = ds.filter(lambda i, ex: (i % global_batch_size) // b_local == keep_index)
    else:
        ds = ds.enumerate().skip(start_step * b_local)

    def augment(i: tf.Tensor, ex: dict) -> dict[str, tf.Tensor]:
        return examples.train_example(
            ex, cfg, tf.random.experimental.stateless_fold_in(base_seed, i), clip_fn)

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(b_local, drop_remainder=True).prefetch(cfg.prefetch)
    ds = ds.with_options(_options(threads))
    return source.checked(iter(ds.as_numpy_iterator()), cfg.train_split, files)


def _eval_batches(cfg, split, b_local, process_index, process_count, num_clips, num_crops):
    """(numpy batches of this process, element spec, batches every process yields, global
    index of this process's first video)."""
    dmvr_format.configure_tf()
    data_config.check(cfg)
    source = sources.for_config(cfg)
    ds, per_process, files = source.eval_elements(split, process_index, process_count)
    ds = ds.map(
        lambda ex: examples.eval_example(ex, cfg, num_clips, num_crops),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    spec = ds.element_spec
    ds = ds.batch(b_local).prefetch(cfg.prefetch).with_options(_options())
    num_batches = -(-max(per_process) // b_local)
    first = sum(per_process[:process_index])
    return source.checked(ds.as_numpy_iterator(), split, files), spec, num_batches, first


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
    views: tuple[int, int] | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """One ordered pass over `split`: `video`, `label`, `mask` (1 real, 0 padding).

    `views=None`: one centred clip per video, `video` uint8 [B_local, F, s, s, 3].
    `views=(C, S)`: all views of each video kept together, `video` uint8
    [B_local, C·S, F, s, s, 3] (view v = temporal clip v // S, spatial crop v % S; crops
    left/centre/right or top/centre/bottom of the long side after the short side is resized
    to `min_resize`; S=1 is the centre crop), plus `video_index` int32: the video's position
    in the split's evaluation order, unique across processes and covering 0..N-1 exactly
    once (-1 for padding). `global_batch_size` counts videos, not views.

    Every batch has B_local rows; every process yields the same number of batches (padding
    with all-masked batches where its slice is shorter). `include_ids=True` adds `video_id`
    (bytes; b"" for padding) and `video_span` (int64 [B, 2]: the record's clip start and end,
    µs; end -1 if unknown), e.g. to check coverage — leave it off for device transfer.
    """
    num_clips, num_crops = views or (0, 1)
    if views is not None and (num_clips < 1 or num_crops not in (1, 3)):
        raise ValueError(f"num_clips={num_clips} must be >= 1 and num_crops={num_crops} 1 or 3")
    b_local = _local_batch(global_batch_size, process_count)
    batches, spec, num_batches, first = _eval_batches(
        cfg_data, split, b_local, process_index, process_count, num_clips, num_crops
    )
    seen = 0
    for out, n in _padded(batches, spec, b_local, num_batches):
        out["mask"] = (np.arange(b_local) < n).astype(np.float32)
        if views is not None:
            index = first + seen + np.arange(b_local, dtype=np.int32)
            out["video_index"] = np.where(out["mask"] > 0, index, -1).astype(np.int32)
        seen += n
        ids = {k: out.pop(k) for k in ("video_id", "video_span")}
        if include_ids:
            out.update(ids)
        yield out
