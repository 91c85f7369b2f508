"""Test setup: 8 fake CPU devices at -O0 (before jax is imported), quiet TF, a compilation
cache of the run, seeded tests."""
import os
import shutil
import tempfile

# The suite is mostly cold compilations of tiny programs run a few times (a model per
# family, per mesh, per export), so XLA:CPU is set to compile fast: LLVM's optimisations off
# (-O0, ~3× faster compiles) and its classic elemental fusion emitters instead of the newer
# MLIR ones (another ~35 %: STAT's train step 6.3 → 4.1 s, a tiny ViViT's 1.55 → 1.02 s;
# the compiled step runs ~10 % slower, which tiny programs do not notice). What is under
# test (lowering, partitioning, numerics to float tolerance) is unchanged. Subprocesses
# (CLIs, TensorFlow's XLA) inherit the flags; `xla_flags` keeps them for another device count.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8 "
                                   "--xla_backend_optimization_level=0 "
                                   "--xla_cpu_use_fusion_emitters=false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The trainer's persistent compilation cache (`compile_cache_dir='auto'` follows JAX's own
# directory) goes to a directory of this test run, removed at its end, not ~/.cache. (The
# controller sets it first; xdist's workers and the CLIs the tests start inherit it.)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"vivit_jax_tests_xla_{os.getpid()}"))

import pathlib  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def xla_flags(devices: int) -> str:
    """This run's XLA_FLAGS (the -O0 above included) with `devices` fake CPU devices, for a
    subprocess that needs another device count."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", os.environ["XLA_FLAGS"])
    return f"--xla_force_host_platform_device_count={devices} {flags.strip()}".strip()


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> pathlib.Path:
    """One synthetic_motion cache shared by the tests of a session."""
    return tmp_path_factory.mktemp("vivit_cache")


def pytest_sessionfinish(session):
    """The controller (not an xdist worker) removes the run's compilation cache."""
    if not hasattr(session.config, "workerinput") and "vivit_jax_tests_xla_" in os.environ.get(
            "JAX_COMPILATION_CACHE_DIR", ""):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
