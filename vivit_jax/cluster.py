"""The process side of a run on many hosts: joining a multi-process job from the
environment, and a SIGTERM stop that every process agrees on.
"""
from __future__ import annotations

import os
import signal

import jax
import numpy as np


def maybe_initialize_distributed() -> None:
    """Joins a multi-process run when the environment describes one.

    `VIVIT_COORDINATOR_ADDRESS` (host:port), `VIVIT_NUM_PROCESSES`, `VIVIT_PROCESS_ID` for
    plain hosts and GPU clusters; `VIVIT_DISTRIBUTED=auto` lets JAX detect a TPU pod or
    SLURM allocation itself.
    """
    addr = os.environ.get("VIVIT_COORDINATOR_ADDRESS")
    if addr:
        jax.distributed.initialize(addr, int(os.environ["VIVIT_NUM_PROCESSES"]),
                                   int(os.environ["VIVIT_PROCESS_ID"]))
    elif os.environ.get("VIVIT_DISTRIBUTED") == "auto":
        jax.distributed.initialize()


class PreemptionWatcher:
    """Turns SIGTERM (TPU maintenance, SLURM time limits, `kill`) into a clean stop.

    The handler only sets a flag; the loop checkpoints the current step and returns. With
    several processes the flag is OR-ed across them so that all stop at the same step.
    """

    def __init__(self):
        self.received = False
        self.stopped = False
        self._previous = None
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # Not the main thread (e.g. a notebook worker): no handler.
            self._previous = None

    def _handle(self, signum, frame):
        del signum, frame
        self.received = True

    def should_stop(self) -> bool:
        flag = self.received
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            flag = bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))
        self.stopped = flag
        return flag

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
