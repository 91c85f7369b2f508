"""Test setup: 8 fake CPU devices (before jax is imported), quiet TF, seeded tests."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> pathlib.Path:
    """One synthetic_motion cache shared by the tests of a session."""
    return tmp_path_factory.mktemp("vivit_cache")
