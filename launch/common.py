"""Pieces shared by the launchers: the train command, quoting, running or printing steps."""
from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence

# Paths the launchers write into remote shell commands unquoted (so that `~/` expands there).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.,+@%=:/~-]+")


class LaunchError(Exception):
    """A problem the user can fix; printed as one line `launch: error: …`."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One command: an argv list (run directly) or a shell line (run by `bash -o pipefail -c`).

    `what` names the step in the error line if it fails; `hint` says what to do then.
    """
    cmd: list[str] | str
    what: str = "command"
    hint: str = ""

    @property
    def line(self) -> str:
        """The command exactly as a shell would take it (what --dry-run prints)."""
        return self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)

    @property
    def argv(self) -> list[str]:
        return list(self.cmd) if isinstance(self.cmd, list) else [
            "bash", "-o", "pipefail", "-c", self.cmd]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line `launch: error: …` (exit code 2)."""

    def error(self, message):
        print(f"launch: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def train_command(config: str, workdir: str, overrides: Sequence[str] = (),
                  env: dict[str, str] | None = None, program: str = "vivit-train") -> str:
    """`[ENV=…] PROGRAM --config C --workdir W [--config.k=v …]`, shell-quoted.

    `program` is the trainer as the remote shell should find it, e.g. the venv's console
    script `.venv/bin/vivit-train` (a non-interactive ssh shell has no venv on its PATH).
    """
    parts = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    parts += [program, "--config", shlex.quote(config), "--workdir", shlex.quote(workdir)]
    parts += [shlex.quote(o) for o in overrides]
    return " ".join(parts)


def venv_program(venv: str, name: str = "vivit-train") -> str:
    """The console script `name` of the virtual environment `venv` (a path as the remote
    shell sees it); without a venv, `python3 -m vivit_jax.main` from the PATH's Python."""
    if not venv:
        return "python3 -m vivit_jax.main"
    return f"{plain_path(venv, '--venv').rstrip('/')}/bin/{name}"


def plain_path(path: str, flag: str) -> str:
    """`path` unchanged if a shell can take it unquoted (letters, digits, `_.,+@%=:/~-`)."""
    if not _PLAIN_PATH.fullmatch(path):
        raise LaunchError(f"{flag} {path!r}: use a path of letters, digits and _.,+@%=:/~- "
                          f"only (it is written unquoted into remote shell commands)")
    return path


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """`--config.k=v` arguments go to the trainer untouched; the rest to the launcher."""
    rest, overrides = [], []
    for a in argv:
        (overrides if a.startswith("--config.") else rest).append(a)
    return rest, overrides


def check_config(config: str, overrides: Sequence[str], root: str = ".") -> None:
    """Loads the config and its `--config.*` overrides here, as the trainer will on the
    workers, so that a missing file or a misspelt key stops the launch before a TPU is
    created or a job submitted. `root`: the checkout a relative config path is under."""
    import os

    from vivit_jax import config as config_lib
    from vivit_jax import fileio

    local = fileio.is_remote(config) or os.path.isabs(config) or root in ("", ".")
    path = config if local else os.path.join(root, config)
    try:
        config_lib.load(path, list(overrides))
    except ValueError as e:  # ConfigError: the file, key or value, named.
        raise LaunchError(f"{e} (the config is checked here before launching)") from None


def require(program: str, install_hint: str) -> None:
    """Fails with one line if `program` is not on the PATH."""
    if shutil.which(program) is None:
        raise LaunchError(f"{program!r} not found on PATH: {install_hint}")


def execute(steps: Sequence[Step | list[str] | str], *, dry_run: bool, stream=None) -> int:
    """Prints each step (dry run) or runs it, stopping at the first failure with one line
    `launch: error: <what> failed (exit code N)[: <hint>]` on stderr."""
    stream = stream or sys.stdout
    for step in steps:
        step = step if isinstance(step, Step) else Step(step)
        if dry_run:
            print(step.line, file=stream)
            continue
        print(f"+ {step.line}", file=stream, flush=True)
        try:
            rc = subprocess.call(step.argv)
        except FileNotFoundError:
            rc = 127
        if rc:
            print(f"launch: error: {step.what} failed (exit code {rc})"
                  + (f": {step.hint}" if step.hint else f": {step.line}"),
                  file=sys.stderr, flush=True)
            return rc
    return 0


def run_main(main_body) -> int:
    """Runs `main_body()`, turning a LaunchError into `launch: error: …` and exit code 2."""
    try:
        return main_body()
    except LaunchError as e:
        print(f"launch: error: {e}", file=sys.stderr, flush=True)
        return 2
