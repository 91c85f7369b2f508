"""The persistent compilation cache: where 'auto' puts it, and a restarted run (a new
process) loads its steps from it instead of compiling them."""
import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from tests.conftest import xla_flags
from tests.test_train import small_config
from vivit_jax import compile_cache, train


@pytest.fixture
def no_cache_dir(monkeypatch):
    """'auto' with no directory set yet (the test session may set one)."""
    old = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    compile_cache.enable(old or "", "")


def test_auto_is_beside_a_remote_workdir_and_in_the_home_cache_for_a_local_one(
        no_cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.resolve("auto", "gs://bkt/runs/fe/") == "gs://bkt/runs/fe/compile_cache"
    assert compile_cache.resolve("auto", "/runs/fe") == str(tmp_path / "xdg/vivit_jax/jax")
    assert compile_cache.resolve("/elsewhere", "gs://bkt/runs/fe") == "/elsewhere"
    assert compile_cache.resolve("", "/runs/fe") == ""
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "set_by_user"))
    assert compile_cache.resolve("auto", "gs://bkt/fe") == str(tmp_path / "set_by_user")


# A restarted trainer in a fresh process: counts JAX's persistent-cache hits and misses.
RESTART = textwrap.dedent("""
    import json, sys
    import jax
    from jax import monitoring
    events = []
    monitoring.register_event_listener(lambda name, **kw: events.append(name))
    from vivit_jax import config as config_lib, train
    cfg = config_lib.load(sys.argv[1], json.loads(sys.argv[3]))
    train.train_and_evaluate(cfg, sys.argv[2], devices=jax.devices()[:1])
    print(json.dumps({"hits": events.count("/jax/compilation_cache/cache_hits"),
                      "misses": events.count("/jax/compilation_cache/cache_misses")}))
""")


def test_a_restarted_run_loads_its_steps_from_the_cache(repo, data_cache, tmp_path,
                                                         no_cache_dir):
    cache = tmp_path / "cache"
    overrides = [f"--config.dataset.data_dir={data_cache}", "--config.log_every_steps=1",
                 "--config.eval_every_steps=0", "--config.model.hidden_size=32",
                 "--config.model.num_heads=2", "--config.model.mlp_dim=64",
                 "--config.batch_size=16", "--config.eval_batch_size=16",
                 "--config.num_train_steps=3", "--config.eval_test_split=false",
                 f"--config.compile_cache_dir={cache}",
                 "--config.mesh=(('data',1),('fsdp',1),('model',1))"]
    env = dict(os.environ, XLA_FLAGS=xla_flags(1),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cfg_path = str(repo / "configs/synthetic/vivit_tiny.py:runlocal")
    runs = []
    for name in ("first", "restarted"):
        proc = subprocess.run([sys.executable, "-c", RESTART, cfg_path, str(tmp_path / name),
                               json.dumps(overrides)], capture_output=True, text=True, env=env,
                              cwd=repo, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if name == "first":
            entries = set(os.listdir(cache))
    first, restarted = runs
    assert first["misses"] >= 2 and len(entries) >= 2  # At least the train and eval steps.
    assert restarted["misses"] == 0 and restarted["hits"] == first["misses"], runs
    assert set(os.listdir(cache)) == entries  # Nothing recompiled, nothing new written.


def test_a_cache_off_run_compiles_and_writes_nothing(repo, data_cache, tmp_path, no_cache_dir):
    cfg = small_config(repo, data_cache, "--config.num_train_steps=3",
                       "--config.eval_test_split=false", "--config.compile_cache_dir=",
                       "--config.mesh=(('data',1),('fsdp',1),('model',1))")
    train.train_and_evaluate(cfg, str(tmp_path / "wd"), devices=jax.devices()[:1])
    assert not jax.config.jax_compilation_cache_dir
    assert sorted(os.listdir(tmp_path / "wd")) == ["checkpoints", "config.json", "metrics.jsonl",
                                                  "results.json", "tensorboard"]
