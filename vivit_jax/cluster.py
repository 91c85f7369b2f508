"""The process side of a run on many hosts: joining a multi-process job from the
environment, a SIGTERM stop that every process agrees on, and host-side rows (numbers or
byte strings) gathered from every process.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence

import jax
import numpy as np

# Set by launch/gpu.py's SLURM script: the file the trainer writes when SIGTERM stops it
# before its last step, so that the script knows to `scontrol requeue` the job.
PREEMPTION_MARKER_ENV = "VIVIT_PREEMPTION_MARKER"


def distributed_args(environ: Mapping[str, str]) -> dict | None:
    """The keyword arguments of `jax.distributed.initialize` for this environment, or None
    for a single-process run.

    `VIVIT_COORDINATOR_ADDRESS` (host:port), `VIVIT_NUM_PROCESSES`, `VIVIT_PROCESS_ID` for
    plain hosts and GPU clusters; `VIVIT_DISTRIBUTED=auto` lets JAX detect a TPU pod or a
    SLURM job itself. Under SLURM JAX gives process SLURM_LOCALID the node's GPU of that
    number (all GPUs visible to every task: `--gpus-per-node`); if SLURM bound the task to a
    single GPU instead (`--gpus-per-task=1`, `--gpu-bind`), that one GPU is device 0.
    """
    addr = environ.get("VIVIT_COORDINATOR_ADDRESS")
    if addr:
        missing = [k for k in ("VIVIT_NUM_PROCESSES", "VIVIT_PROCESS_ID") if k not in environ]
        if missing:
            raise ValueError(f"VIVIT_COORDINATOR_ADDRESS={addr} is set but "
                             f"{' and '.join(missing)} not: set all three")
        try:
            return {"coordinator_address": addr,
                    "num_processes": int(environ["VIVIT_NUM_PROCESSES"]),
                    "process_id": int(environ["VIVIT_PROCESS_ID"])}
        except ValueError:
            raise ValueError(f"VIVIT_NUM_PROCESSES={environ['VIVIT_NUM_PROCESSES']!r} and "
                             f"VIVIT_PROCESS_ID={environ['VIVIT_PROCESS_ID']!r} must be "
                             f"integers") from None
    if environ.get("VIVIT_DISTRIBUTED") == "auto":
        visible = [d for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        if "SLURM_LOCALID" in environ and len(visible) == 1:
            return {"local_device_ids": [0]}
        return {}
    return None


def maybe_initialize_distributed() -> None:
    """Joins a multi-process run when the environment describes one (`distributed_args`)."""
    kwargs = distributed_args(os.environ)
    if kwargs is not None:
        jax.distributed.initialize(**kwargs)


class PreemptionWatcher:
    """Turns SIGTERM (TPU maintenance, SLURM time limits, `kill`) into a clean stop.

    The handler only sets a flag; the loop checkpoints the current step and returns. With
    several processes the flag is OR-ed across them so that all stop at the same step.
    When the loop stops on it and `VIVIT_PREEMPTION_MARKER` names a file, process 0 writes
    that file (the SLURM script requeues the job when it finds it after a clean exit).
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
        if flag and not self.stopped:
            self._write_marker()
        self.stopped = flag
        return flag

    def _write_marker(self) -> None:
        path = os.environ.get(PREEMPTION_MARKER_ENV)
        if not path or jax.process_index() != 0:
            return
        try:
            with open(path, "w") as f:
                f.write("stopped by SIGTERM before the last step; resume from the workdir\n")
        except OSError as e:  # The run still stops cleanly; only the requeue is lost.
            print(f"warning: could not write {PREEMPTION_MARKER_ENV}={path}: {e.strerror}",
                  flush=True)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def allgather_rows(x: np.ndarray) -> np.ndarray:
    """This process's rows of `x` → every process's rows, concatenated in process order
    (the processes may hold different numbers of rows)."""
    from jax.experimental import multihost_utils

    counts = np.asarray(multihost_utils.process_allgather(np.int32(len(x)))).reshape(-1)
    padded = np.zeros((max(int(counts.max()), 1),) + x.shape[1:], x.dtype)
    padded[:len(x)] = x
    rows = np.asarray(multihost_utils.process_allgather(padded))
    return np.concatenate([r[:c] for r, c in zip(rows, counts)])


def allgather_bytes(items: Sequence[bytes]) -> list[bytes]:
    """This process's byte strings → every process's, in process order (gathered as
    NUL-padded fixed-width rows, so a string's trailing NULs are not kept)."""
    width = int(allgather_rows(np.int32([max([len(b) for b in items], default=0)])).max())
    raw = np.zeros((len(items), max(width, 1)), np.uint8)
    for r, b in enumerate(items):
        raw[r, :len(b)] = np.frombuffer(b, np.uint8)
    return [bytes(r).rstrip(b"\0") for r in allgather_rows(raw)]
