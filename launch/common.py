"""Pieces shared by the launchers: the train command, quoting, running or printing."""
from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence


def train_command(config: str, workdir: str, overrides: Sequence[str] = (),
                  env: dict[str, str] | None = None) -> str:
    """`[ENV=…] vivit-train --config C --workdir W [--config.k=v …]`, shell-quoted."""
    parts = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    parts += ["vivit-train", "--config", shlex.quote(config), "--workdir", shlex.quote(workdir)]
    parts += [shlex.quote(o) for o in overrides]
    return " ".join(parts)


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """`--config.k=v` arguments go to the trainer untouched; the rest to the launcher."""
    rest, overrides = [], []
    for a in argv:
        (overrides if a.startswith("--config.") else rest).append(a)
    return rest, overrides


def execute(commands: Sequence[list[str]], *, dry_run: bool, stream=None) -> int:
    """Prints each command (dry run) or runs it, stopping at the first failure."""
    stream = stream or sys.stdout
    for cmd in commands:
        line = " ".join(shlex.quote(c) for c in cmd)
        if dry_run:
            print(line, file=stream)
            continue
        print(f"+ {line}", file=stream, flush=True)
        rc = subprocess.call(cmd)
        if rc:
            print(f"launch: command failed with exit code {rc}: {line}", file=sys.stderr)
            return rc
    return 0
