"""Device prefetch: the next global batches are assembled and sent while the current step runs.

`to_device(batches, sharding, depth)` moves each host batch (this process's rows) onto the
devices as global arrays (`jax.make_array_from_process_local_data`, multi-host safe: every
process sends only its own rows, no collective) in a background thread, `depth` batches
ahead. The trainer's loop then only dispatches steps; the host→device copy of batch k+1
overlaps step k. An error of the host iterator (e.g. `pipeline.CorruptData`) is raised by
`next()` in order, after the batches before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import jax
import numpy as np

_END = object()


def to_global(local_batch: dict[str, np.ndarray], sharding) -> dict[str, jax.Array]:
    """This process's rows of a batch → global arrays laid out by `sharding`."""
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in local_batch.items()}


def to_device(batches: Iterator[dict[str, np.ndarray]], sharding,
              depth: int = 2) -> Iterator[dict[str, jax.Array]]:
    """`batches` as global device arrays, up to `depth` (>= 1) of them sent ahead."""
    if depth < 1:
        raise ValueError(f"prefetch depth={depth}: expected >= 1")
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                if not put(to_global(batch, sharding)):
                    return
        except BaseException as e:  # Handed to the consumer, raised where the batch was due.
            put(e)
            return
        put(_END)

    thread = threading.Thread(target=work, name="device_prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
