"""vivit-train's one restart with glibc's huge-page malloc: when it happens, and when not."""
import pytest

from vivit_jax import main

MADVISE = "always [madvise] never\n"


def test_restart_env_appends_the_tunable():
    env = main.huge_pages_env({"PATH": "/bin"}, ("glibc", "2.36"), MADVISE)
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    # The user's own tunables are kept, ours appended.
    env = main.huge_pages_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, ("glibc", "2.39"),
                              MADVISE)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("environ, libc, thp", [
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, ("glibc", "2.36"), MADVISE),  # Restarted.
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, ("glibc", "2.36"), MADVISE),  # User's.
    ({"VIVIT_HUGEPAGES": "0"}, ("glibc", "2.36"), MADVISE),  # Turned off.
    ({}, ("glibc", "2.31"), MADVISE),  # glibc without the tunable.
    ({}, ("", ""), MADVISE),  # musl or unknown.
    ({}, ("glibc", "2.36"), "[always] madvise never\n"),  # Huge pages already everywhere.
    ({}, ("glibc", "2.36"), "always madvise [never]\n"),  # Off in the kernel.
])
def test_no_restart(environ, libc, thp):
    assert main.huge_pages_env(environ, libc, thp) is None


def test_called_from_python_never_restarts(monkeypatch, tmp_path):
    """`run_train(argv)` (tests, notebooks) must not exec: only the console script does."""
    def boom(*a):
        raise AssertionError("execve called")
    monkeypatch.setattr(main.os, "execve", boom)
    assert main.run_train(["--config", str(tmp_path / "missing.py"), "--workdir",
                           str(tmp_path / "w")]) == 2
