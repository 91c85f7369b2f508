"""Model flops utilisation (MFU) for the trainer's log lines.

MFU = achieved model flops per second per device ÷ the device's peak. Model flops per clip
are 3 × the forward flops (forward + backward, the usual convention: rematerialisation and
the optimiser update are not counted), the forward flops being XLA's cost analysis of the
model's forward on one view, lowered for the CPU backend whatever the run's backend (the
model zoo's GMACs × 2; on GPUs XLA's own analysis misses cuBLAS/cuDNN custom calls). Peaks
are dense bfloat16 TFLOP/s per JAX device (a TPU v2/v3 chip is two devices); a float32 run
or a device not in the table takes `config.peak_tflops_per_device`.
"""
from __future__ import annotations

import math

import jax

# (substring of jax.Device.device_kind, dense bf16 TFLOP/s per device); first match wins.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("TPU v2", 22.5),  # 45 per chip, 2 cores.
    ("TPU v3", 61.5),  # 123 per chip, 2 cores.
    ("TPU v4 lite", 137.5),
    ("TPU v4", 275.0),  # Megacore: one device per chip.
    ("TPU v5 lite", 197.0),  # v5e.
    ("TPU v5", 459.0),  # v5p.
    ("TPU v6 lite", 918.0),  # v6e (Trillium).
    ("H100 PCIe", 756.0),
    ("GH200", 989.4),
    ("H100", 989.4),  # SXM.
    ("H200", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
)


def peak_tflops(device_kind: str, configured: float = 0.0) -> float:
    """The configured peak if > 0, else the table's for `device_kind`, else 0 (unknown)."""
    if configured > 0:
        return float(configured)
    for key, value in PEAK_TFLOPS:
        if key.lower() in device_kind.lower():
            return value
    return 0.0


def train_flops_per_clip(cfg) -> float:
    """3 × the forward flops of one view of `cfg`'s model (see the module docstring)."""
    from vivit_jax.evaluate import profile

    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        return 3.0 * profile.forward_flops(cfg)


class Utilisation:
    """Turns the trainer's clips/s into model TFLOP/s per device and MFU."""

    def __init__(self, cfg, devices):
        devices = list(devices)
        self.num_devices = len(devices)
        self.device_kind = devices[0].device_kind
        self.peak = peak_tflops(self.device_kind, float(cfg.peak_tflops_per_device))
        self.flops_per_clip = train_flops_per_clip(cfg) if self.peak else 0.0

    @property
    def enabled(self) -> bool:
        return self.peak > 0

    def metrics(self, clips_per_s: float) -> dict[str, float]:
        """`{'model_tflops_per_device': …, 'mfu': …}` ({} when the peak is unknown)."""
        if not self.enabled or not math.isfinite(clips_per_s) or clips_per_s <= 0:
            return {}  # No peak, or no rate yet (the compiling first step).
        tflops = self.flops_per_clip * clips_per_s / self.num_devices / 1e12
        return {"model_tflops_per_device": tflops, "mfu": tflops / self.peak}

    def describe(self) -> str:
        if not self.enabled:
            return (f"mfu: no peak known for {self.device_kind!r} (set "
                    f"--config.peak_tflops_per_device to log it)")
        return (f"mfu: {self.flops_per_clip / 1e9:,.2f} GFLOP per clip (3 × forward), peak "
                f"{self.peak:g} TFLOP/s per {self.device_kind} device")
