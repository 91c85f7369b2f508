"""Where metrics go: a JSON-lines file, TensorBoard scalars, and progress lines with ETA."""
from __future__ import annotations

import datetime
import json
import pathlib
import sys
import time
import uuid
from typing import Any

from vivit_jax import fileio


class MetricWriter:
    """Writes `{"step": s, "split": …, name: value}` lines to `metrics.jsonl` and TensorBoard.

    Only process 0 writes (the values are global already). A remote workdir (`gs://…`,
    which cannot be appended to) is written through a local staging directory whose files
    are copied over after every write.
    """

    def __init__(self, workdir, *, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.remote = None
        if fileio.is_remote(workdir):
            import tempfile
            self.remote = str(workdir)
            workdir = pathlib.Path(tempfile.mkdtemp(prefix="vivit_metrics_"))
            # A resumed run appends to the lines of the runs before it (staged, then copied).
            earlier = fileio.join(self.remote, "metrics.jsonl")
            if enabled and fileio.exists(earlier):
                fileio.copy(earlier, str(workdir / "metrics.jsonl"))
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self.tb_dir = pathlib.Path(workdir) / "tensorboard"
        self._tb = None
        if enabled and tensorboard:
            # tensorboardX: event files without the full TensorBoard/TF summary stack
            # (tensorflow-cpu does not ship tf.summary's TensorBoard backend).
            from tensorboardX import SummaryWriter
            # Remote: the staged event file is copied over, so its name must not be that of
            # an earlier run's (tensorboardX names them by the second and host only).
            suffix = f".{uuid.uuid4().hex[:8]}" if self.remote is not None else ""
            self._tb = SummaryWriter(str(self.tb_dir), filename_suffix=suffix)

    def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), "split": split, "time": round(time.time(), 3)}
        row.update({k: float(v) for k, v in metrics.items()})
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), int(step))
            self._tb.flush()
        if self.remote is not None:
            self._sync()

    def _sync(self) -> None:
        """Copies the staged files to the remote workdir (overwriting)."""
        staged = self.path.parent
        for f in staged.rglob("*"):
            if f.is_file():
                dst = fileio.join(self.remote, f.relative_to(staged).as_posix())
                fileio.makedirs(fileio.dirname(dst))
                fileio.write_bytes(dst, f.read_bytes())

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self.remote is not None and self.enabled:
            self._sync()  # What the TensorBoard writer flushed on closing.
            import shutil
            shutil.rmtree(self.path.parent, ignore_errors=True)
            self.enabled = False  # The staging directory is gone: nothing more is written.


def _fmt_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class Progress:
    """Periodic progress lines: step/total, clips/s, elapsed and ETA."""

    def __init__(self, total_steps: int, start_step: int, clips_per_step: int,
                 *, stream=None, enabled: bool = True):
        self.total = total_steps
        self.start_step = start_step
        self.clips_per_step = clips_per_step
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last_t, self.last_step = self.t0, start_step

    def mark_compiled(self, step: int) -> None:
        """Restarts the rate clock after the first (compiling) step."""
        self.last_t, self.last_step = time.perf_counter(), step
        self.t_steady, self.steady_step = self.last_t, step

    def rate(self, step: int) -> float:
        """Clips/s since the last report (steady state, compile excluded)."""
        now = time.perf_counter()
        dt = max(now - self.last_t, 1e-9)
        clips = (step - self.last_step) * self.clips_per_step
        self.last_t, self.last_step = now, step
        return clips / dt

    def report(self, step: int, clips_per_s: float, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        steps_per_s = clips_per_s / self.clips_per_step if self.clips_per_step else 0
        eta = (self.total - step) / steps_per_s if steps_per_s > 0 else float("nan")
        parts = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        pct = 100.0 * step / max(self.total, 1)
        eta_s = _fmt_duration(eta) if eta == eta else "?"
        print(f"step {step}/{self.total} ({pct:.0f}%) {parts} | {clips_per_s:.1f} clips/s | "
              f"elapsed {_fmt_duration(elapsed)} ETA {eta_s}", file=self.stream, flush=True)
