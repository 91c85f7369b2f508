"""The benchmark scripts run end to end on tiny cases and print the figures they promise
(their numbers are machine-dependent and recorded in BENCHMARKS.md, not asserted here)."""
import importlib
import json
import math
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

SMALL = ["--layers", "1", "--config.model.hidden_size=64", "--config.model.mlp_dim=128",
         "--config.model.num_heads=2"]  # ViT families at 64 wide: compiles in seconds.
MACHINE_KEYS = {"date", "platform", "cpu", "cpu_count", "backend", "device_kind", "jax",
                "command"}


def _json_rows(out: str, script: str) -> list[dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for r in rows:
        assert MACHINE_KEYS <= set(r), MACHINE_KEYS - set(r)
        assert r["command"].startswith(f"python benchmarks/{script}.py ")
        assert r["cpu_count"] >= 1
    return rows


@pytest.mark.parametrize("script", ["model_throughput", "memory", "scaling", "peers",
                                    "train_step", "input_pipeline", "input_pipeline_torch", "conv",
                                    "optimizer_update", "prepare_throughput"])
def test_help(script, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(script).main(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_model_throughput_and_matmul_ceiling(capsys):
    bench = importlib.import_module("model_throughput")
    assert bench.main(["--families", "vivit_st", "--size", "32", "--calls", "1",
                       "--repeats", "1", "--matmul-n", "128", *SMALL]) == 0
    out = capsys.readouterr().out
    rows = _json_rows(out, "model_throughput")
    assert [r["family"] for r in rows] == ["vivit_st"]
    for r in rows:
        assert r["forward_clips_per_s"] > 0 and r["train_clips_per_s"] > 0
        assert r["matmul_gflops"] > 0 and r["params"] > 0
        # A train step costs more flops per clip than a forward pass (backward ≈ 2×).
        assert r["train_gflop_per_clip"] > 2 * r["forward_gflop_per_clip"] > 0
        assert r["forward_of_matmul"] == pytest.approx(r["forward_gflops"] / r["matmul_gflops"])
        assert r["forward_target_miss"] == pytest.approx(max(0, 0.7 - r["forward_of_matmul"]))
    assert "vivit_st: forward/matmul " in out  # The target line, met or by how much missed.


def test_memory_and_scaling(capsys):
    memory = importlib.import_module("memory")
    assert memory.main(["--kinds", "separable", "--frames", "4", "--size", "32",
                        "--remat", "false", *SMALL]) == 0
    (row,) = _json_rows(capsys.readouterr().out, "memory")
    assert (row["kind"], row["frames"], row["remat"], row["reference"]) == (
        "separable", 4, False, "separable")
    assert row["peak_mib"] > row["temp_mib"] > 0 and row["joint_over_this"] == 1.0
    # Remat under scan, timed: the saving and the step-time cost sit in the same row.
    assert memory.main(["--kinds", "divided", "--frames", "4", "--size", "32", "--scan",
                        "--remat-policy", "dots_no_batch", "--time-steps", "1", *SMALL]) == 0
    out = capsys.readouterr().out
    base, remat = _json_rows(out, "memory")
    assert (base["remat"], remat["remat"], remat["remat_policy"]) == (False, True,
                                                                      "dots_no_batch")
    assert base["step_s"] > 0 and remat["step_s"] > 0 and remat["saving_vs_no_remat"] > 0
    assert remat["remat_time_cost"] == remat["step_s"] / base["step_s"] - 1
    assert "remat time cost, divided T=4: +" in out

    scaling = importlib.import_module("scaling")
    assert scaling.main(["--families", "timesformer_joint,timesformer_divided",
                         "--frames", "4,8", "--t-size", "64", "--sizes", "32,64", *SMALL]) == 0
    rows = {r["family"]: r for r in _json_rows(capsys.readouterr().out, "scaling")}
    # Joint attention grows faster with T than divided attention does.
    assert rows["timesformer_joint"]["per_2x_T"] > rows["timesformer_divided"]["per_2x_T"] > 1.9
    assert all(r["T8"] > r["T4"] > 0 and r["R64"] > r["R32"] > 0 for r in rows.values())


def test_optimizer_update_forms(capsys):
    bench = importlib.import_module("optimizer_update")
    assert bench.main(["--optimizers", "adamw", "--size", "32", "--frames", "4", "--calls", "1",
                       "--repeats", "1", *SMALL]) == 0
    rows = _json_rows(capsys.readouterr().out, "optimizer_update")
    assert [r["form"] for r in rows] == ["where", "cond", "unguarded"]
    assert len({r["params"] for r in rows}) == 1 and rows[0]["params"] > 0
    for r in rows:
        assert r["ms"] > 0 and r["where_over_this"] == pytest.approx(rows[0]["ms"] / r["ms"])


def test_peers_same_architecture_and_torch_rates():
    """The peer's side on a tiny case (ours is `common.throughput`, tested above) and the
    parameter counts of both sides equal (`peers.main` prints them at full size)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vivit_jax.evaluate import profile

    peers = importlib.import_module("peers")
    sizes = tuple(f"--config.model.{k}={v}" for k, v in peers.widths(64).items())
    for kind in peers.PEERS:
        model = peers.hf_model(kind, frames=4, size=32, layers=1, width=64)
        ours = peers.family_config(kind, frames=4, size=32, batch=2, layers=1,
                                   overrides=peers.OURS + sizes)
        assert profile.count_params(ours) == sum(p.numel() for p in model.parameters())
    rates = peers.torch_rates(model, frames=4, size=32, batch=2, calls=1, repeats=1)
    assert rates["forward_clips_per_s"] > 0 and rates["train_clips_per_s"] > 0


FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize("kind, fixture", [
    ("vivit_st", "hf_vivit/gelu"), ("timesformer_divided", "hf_timesformer/divided_space_time")])
def test_peers_param_counts_equal_the_hugging_face_fixtures(kind, fixture):
    """No torch needed: the committed fixtures hold what transformers built (every tensor's
    shape in the safetensors header); our side is `peers.py`'s config of the same sizes (read
    from the fixture's config.json), as `peers.main` builds it at full size."""
    peers = importlib.import_module("peers")
    path = FIXTURES / fixture
    raw = (path / "model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    header.pop("__metadata__", None)
    theirs = sum(math.prod(t["shape"]) for t in header.values())
    hf = json.loads((path / "config.json").read_text())
    patch = hf["tubelet_size"][1] if kind == "vivit_st" else hf["patch_size"]
    tubelet = "x2" if kind == "vivit_st" else ""
    ours = peers.family_config(
        kind, frames=hf["num_frames"], size=hf["image_size"], batch=2,
        layers=hf["num_hidden_layers"], overrides=peers.OURS + (
            f"--config.model.variant=B/{patch}{tubelet}",
            f"--config.model.hidden_size={hf['hidden_size']}",
            f"--config.model.num_heads={hf['num_attention_heads']}",
            f"--config.model.mlp_dim={hf['intermediate_size']}",
            f"--config.dataset.num_classes={len(hf['id2label'])}"))
    from vivit_jax.evaluate import profile

    assert profile.count_params(ours) == theirs


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_peers_main_puts_both_sides_against_the_matmul_ceiling(capsys, dtype):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    peers = importlib.import_module("peers")
    assert peers.main(["--models", "timesformer_divided", "--layers", "1", "--size", "32",
                       "--frames", "4", "--width", "64", "--calls", "1", "--repeats", "1",
                       "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    fwd, step = _json_rows(out, "peers")
    for r in (fwd, step):
        assert r["dtype"] == dtype and r["ours_params"] == r["peer_params"]
        assert r["ratio"] == pytest.approx(r["ours_clips_per_s"] / r["peer_clips_per_s"])
        assert r["peer_gflops"] == pytest.approx(r["peer_clips_per_s"] * r["gflop_per_clip"])
        assert r["target_needs_of_ceiling"] == pytest.approx(
            2 * r["peer_gflops"] / r["matmul_gflops_ours"])
        assert r["matmul_gflops_peer"] > 0
    assert step["gflop_per_clip"] > 2 * fwd["gflop_per_clip"]
    assert f"dense {dtype} matmul ceiling in this run: XLA " in out


def test_peers_without_torch_says_how_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError.
    assert importlib.import_module("peers").main(["--layers", "1"]) == 2
    assert "pip install" in capsys.readouterr().err


def test_mfu_on_a_tiny_config_without_tensorflow():
    """The trainer's own step, timed in a fresh process that never imports TensorFlow (the
    script runs on a bare accelerator image)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    tiny = root / "configs/synthetic/vivit_fe_tiny.py"
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import mfu; "
            f"rc = mfu.main(['--config', '{tiny}:runlocal', '--batch', '8', '--steps', '1', "
            "'--repeats', '1', '--peak-tflops', '1', '--forward-gmacs', '0.5']); "
            "print('tensorflow imported:', 'tensorflow' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "tensorflow imported: False"
    (row,) = _json_rows("\n".join(lines), "mfu")
    # Model flops = 3 × forward × batch; MFU = achieved / peak; the compiled step's own count
    # (forward, backward and update) is above the forward's.
    assert row["tflop_per_step"] == pytest.approx(3 * 0.5e9 * 2 * 8 / 1e12)
    assert row["mfu"] == pytest.approx(row["achieved_tflops"] / 1.0) and row["step_ms"] > 0
    assert row["achieved_tflops"] == pytest.approx(
        row["tflop_per_step"] / (row["step_ms"] / 1e3), rel=1e-6)
    assert row["input"] == [8, 8, 32, 32, 3] and row["dtype"] == "bfloat16"
    assert row["xla_compiled_tflop_per_step"] > 0


def test_conv(capsys):
    bench = importlib.import_module("conv")
    assert bench.main(["--cases", "stat_kv_pool,vivit_tubelet", "--calls", "1",
                       "--repeats", "1"]) == 0
    rows = _json_rows(capsys.readouterr().out, "conv")
    assert [r["case"] for r in rows] == ["stat_kv_pool", "vivit_tubelet"]
    for r in rows:
        assert r["xla_ms"] > 0 and r["ours_ms"] > 0
        assert r["speedup"] == pytest.approx(r["xla_ms"] / r["ours_ms"])
        assert r["xla_fwd_ms"] > 0 and r["ours_fwd_ms"] > 0
        assert r["fwd_speedup"] == pytest.approx(r["xla_fwd_ms"] / r["ours_fwd_ms"])


def test_prepare_throughput_on_two_tiny_clips(tmp_path, capsys):
    bench = importlib.import_module("prepare_throughput")
    bench.main(["--clips", "2", "--seconds", "0.4", "--width", "96", "--height", "64",
                "--workers", "1", "--rounds", "1", "--scratch", str(tmp_path)])
    (row,) = _json_rows(capsys.readouterr().out, "prepare_throughput")
    assert row["case"] == "prepare --workers 1" and row["clips"] == 2 and row["wall_s"] > 0
    assert len(list((tmp_path / "out_w1").glob("train-*-of-*"))) == 1  # sqrt(2) → 1 shard
