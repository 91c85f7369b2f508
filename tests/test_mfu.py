"""MFU in the trainer's logs: the peak table, the flops convention, the logged values."""
import jax
import pytest

from tests.test_train import read_metrics, small_config
from vivit_jax import config as config_lib
from vivit_jax import mfu, train


@pytest.mark.parametrize("kind, peak", [
    ("TPU v3", 61.5), ("TPU v4", 275.0), ("TPU v5 lite", 197.0), ("TPU v5", 459.0),
    ("TPU v6 lite", 918.0), ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
    ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA L40S", 362.1), ("NVIDIA L4", 121.0),
    ("cpu", 0.0)])
def test_peak_table_by_device_kind(kind, peak):
    assert mfu.peak_tflops(kind) == peak
    assert mfu.peak_tflops(kind, configured=12.5) == 12.5  # The config wins.


def test_train_flops_are_three_forwards_of_the_matmuls(repo):
    """ViViT Model 1 at tiny size: XLA's count of one forward is the matmul flops
    (2 per multiply-add) of the tubelet embedding, the blocks and the head, plus the few
    percent of softmax, LayerNorm and GELU — ×3 for forward + backward."""
    cfg = config_lib.load(str(repo / "configs/synthetic/vivit_tiny.py"))
    m, d = cfg.model, cfg.dataset
    n = (d.num_frames // 2) * (d.image_size // 8) ** 2 + 1  # Tokens + CLS.
    h, f = m.hidden_size, m.mlp_dim
    embed = 2 * (n - 1) * (2 * 8 * 8 * 3) * h
    block = 2 * n * (4 * h * h + 2 * h * f) + 2 * 2 * n * n * h  # Projections, MLP, QK^T, AV.
    head = 2 * h * d.num_classes
    matmuls = embed + m.num_layers * block + head
    got = mfu.train_flops_per_clip(cfg)
    assert 3 * matmuls <= got <= 1.08 * 3 * matmuls, (got, 3 * matmuls)


def test_trainer_logs_mfu_with_a_configured_peak(repo, data_cache, tmp_path):
    cfg = small_config(repo, data_cache, "--config.num_train_steps=3",
                       "--config.eval_test_split=false", "--config.peak_tflops_per_device=0.02",
                       "--config.mesh=(('data',2),('fsdp',1),('model',1))")
    train.train_and_evaluate(cfg, str(tmp_path), devices=jax.devices()[:2])
    per_clip = mfu.train_flops_per_clip(cfg)
    rows = read_metrics(tmp_path)
    assert "mfu" not in rows[0] and rows[0]["clips_per_s"] == 0  # The compiling step.
    for row in rows[1:]:
        tflops = per_clip * row["clips_per_s"] / 2 / 1e12  # 2 devices.
        assert row["model_tflops_per_device"] == pytest.approx(tflops, rel=1e-6)
        assert row["mfu"] == pytest.approx(tflops / 0.02, rel=1e-6)
        assert row["mfu"] > 0


def test_no_mfu_on_an_unknown_device_without_a_peak(repo, data_cache, tmp_path):
    cfg = small_config(repo, data_cache, "--config.num_train_steps=3",
                       "--config.eval_test_split=false",
                       "--config.mesh=(('data',1),('fsdp',1),('model',1))")
    train.train_and_evaluate(cfg, str(tmp_path), devices=jax.devices()[:1])
    rows = read_metrics(tmp_path)
    assert len(rows) == 3
    # Steps 2-3 have a rate (with a peak they would log MFU, as above), yet no MFU figure.
    for row in rows[1:]:
        assert row["clips_per_s"] > 0
        assert "mfu" not in row and "model_tflops_per_device" not in row
