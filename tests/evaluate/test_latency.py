"""Latency per view and compiled memory of a tiny model (numbers are machine-dependent: only
their consistency is checked)."""
import pathlib

import jax
import pytest

from vivit_jax import config as config_lib
from vivit_jax.evaluate import latency

REPO = pathlib.Path(__file__).resolve().parents[2]


def tiny(*extra):
    return config_lib.load(str(REPO / "configs/synthetic/vivit_tiny.py:runlocal"), [
        "--config.model.hidden_size=32", "--config.model.num_heads=2",
        "--config.model.mlp_dim=64", "--config.batch_size=8", *extra])


def test_latency_per_view():
    res = latency.latency_per_view(tiny(), batch_sizes=(1, 2), repeats=2)
    assert sorted(res) == [1, 2]
    for b, r in res.items():
        assert r["ms_per_view"] == pytest.approx(r["ms_per_batch"] / b) and r["ms_per_view"] > 0
    with pytest.raises(ValueError, match="repeats=0"):
        latency.latency_per_view(tiny(), repeats=0)


def test_compiled_memory():
    small = latency.compiled_memory(tiny(), devices=jax.devices()[:1])
    assert small["num_params"] == 31848  # Same count as the trainer prints for this model.
    fwd, step = small["forward"], small["train_step"]
    assert fwd["batch"] == 1 and step["batch"] == 8 and step["devices"] == 1
    # Arguments of the forward = the fp32 parameters + one fp32 view [1, 8, 32, 32, 3].
    assert fwd["argument_size_bytes"] == 4 * (31848 + 8 * 32 * 32 * 3)
    assert step["temp_size_bytes"] > fwd["temp_size_bytes"] > 0
    # The train step's arguments hold the params, two AdamW moments, the batch and the step.
    assert step["argument_size_bytes"] >= 4 * (3 * 31848 + 8 * 8 * 32 * 32 * 3)


def test_profile_cli_reports_latency_and_memory(capsys):
    from vivit_jax.evaluate import profile

    spec = str(REPO / "configs/synthetic/vivit_tiny.py:runlocal")
    assert profile.main(["--config", spec, "--json", "--latency", "--batch", "2",
                         "--repeats", "1", "--memory", "--train-batch", "8"]) == 0
    import json
    r = json.loads(capsys.readouterr().out)
    assert sorted(r["latency"]) == ["1", "2"] and r["backend"] == jax.default_backend()
    step = r["memory"]["train_step"]
    assert step["batch"] == 8
    # Peak = arguments + outputs not donated + temporaries.
    assert step["peak_memory_bytes"] == (step["argument_size_bytes"] + step["output_size_bytes"]
                                         + step["temp_size_bytes"] - step["alias_size_bytes"])
    # Without --train-batch the train step is the config's (its help says so), not batch 1.
    assert profile.main(["--config", spec, "--json", "--memory",
                         "--config.batch_size=16"]) == 0
    assert json.loads(capsys.readouterr().out)["memory"]["train_step"]["batch"] == 16
    assert profile.main(["--config", spec, "--latency", "--batch", "0"]) == 1
    assert "--batch=0" in capsys.readouterr().err
