"""The benchmark scripts run end to end on tiny cases and print the figures they promise
(their numbers are machine-dependent and recorded in BENCHMARKS.md, not asserted here)."""
import importlib
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))


def _json_rows(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_model_throughput_and_matmul_ceiling(capsys):
    bench = importlib.import_module("model_throughput")
    assert bench.main(["--families", "vivit_st,vidtr_compact", "--layers", "1", "--size", "32",
                       "--calls", "1", "--repeats", "1", "--matmul-n", "128"]) == 0
    rows = _json_rows(capsys.readouterr().out)
    assert [r["family"] for r in rows] == ["vivit_st", "vidtr_compact"]
    for r in rows:
        assert r["forward_clips_per_s"] > 0 and r["train_clips_per_s"] > 0
        # A train step costs more flops per clip than a forward pass (backward ≈ 2×).
        assert r["train_gflop_per_clip"] > 2 * r["forward_gflop_per_clip"] > 0
        assert r["forward_of_matmul"] == pytest.approx(r["forward_gflops"] / r["matmul_gflops"])
        assert r["date"] and r["command"].startswith("python")


def test_memory_and_scaling(capsys):
    memory = importlib.import_module("memory")
    assert memory.main(["--kinds", "joint,separable", "--frames", "2,4", "--size", "32",
                        "--layers", "1", "--remat", "false"]) == 0
    rows = _json_rows(capsys.readouterr().out)
    assert [(r["kind"], r["frames"]) for r in rows] == [
        ("joint", 2), ("separable", 2), ("joint", 4), ("separable", 4)]
    assert all(r["peak_mib"] > 0 for r in rows) and rows[0]["joint_over_this"] == 1.0

    scaling = importlib.import_module("scaling")
    assert scaling.main(["--families", "timesformer_joint,timesformer_divided",
                         "--frames", "4,8", "--sizes", "32,64", "--layers", "1"]) == 0
    rows = {r["family"]: r for r in _json_rows(capsys.readouterr().out)}
    # Joint attention grows faster with T than divided attention does.
    assert rows["timesformer_joint"]["per_2x_T"] > rows["timesformer_divided"]["per_2x_T"] > 1.9


def test_peers_when_torch_is_installed(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    peers = importlib.import_module("peers")
    assert peers.main(["--layers", "1", "--size", "32", "--calls", "1", "--repeats", "1"]) == 0
    rows = _json_rows(capsys.readouterr().out)
    assert {(r["model"], r["part"]) for r in rows} == {
        (m, p) for m in ("vivit_st", "timesformer_divided") for p in ("forward", "train")}
    assert all(r["ours_clips_per_s"] > 0 and r["peer_clips_per_s"] > 0 for r in rows)
