"""Output paths checked before the work that fills them: one line naming the path, not an
OSError traceback after an hour of decoding or evaluation.

Files are made and removed through `fileio` (local or `gs://…`); what only a local path has
(an ancestor that is a file, permission bits) is read with `os`.
"""
from __future__ import annotations

import os

from vivit_jax import fileio
from vivit_jax.fileio import is_remote as _remote


class UnwritableOutput(PermissionError):
    """An output directory or file cannot be written; the message names it."""


def nearest_existing(path) -> str:
    """The local `path` made absolute, or its nearest ancestor that exists."""
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent


def _no_file_in_the_way(directory: str, label: str) -> None:
    """Refuses a local `directory` that is, or lies under, an existing file (os.makedirs would
    say only "File exists" or "Not a directory")."""
    parent = nearest_existing(directory)
    if not os.path.isdir(parent):
        raise UnwritableOutput(f"{label}: {parent!r} is a file, not a directory")


def writable_dir(path, what: str = "output directory") -> None:
    """Creates `path` if needed and checks that a file can be written into it."""
    path = str(path)
    probe = fileio.join(path, f".write_probe_{os.getpid()}")
    if not _remote(path):
        _no_file_in_the_way(path, f"{what} {path!r}")
    try:
        fileio.makedirs(path)
        fileio.write_text(probe, "ok")
        fileio.remove(probe)
    except Exception as e:  # noqa: BLE001 — OSError, and whatever else a file system raises.
        reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise UnwritableOutput(f"{what} {path!r} is not writable: {reason}") from None


def writable_file(path, what: str = "output file") -> None:
    """Checks that `path` can be written (its directory is created if needed); an existing
    file is left as it is."""
    path = str(path)
    if os.path.isdir(path) and not _remote(path):
        raise UnwritableOutput(f"{what} {path!r} is a directory")
    parent = fileio.dirname(path) or "."
    if not _remote(path):
        _no_file_in_the_way(parent, f"{what} {path!r}")
    writable_dir(parent, f"{what} {path!r}: its directory")


def creatable_dir(path, what: str = "output directory") -> None:
    """Checks, without creating anything, that `path` exists as a writable directory or could
    be created (its nearest existing ancestor is a writable directory). Remote paths are
    not probed: object stores have no permissions to read ahead; their write reports."""
    path = str(path)
    if _remote(path):
        return
    _no_file_in_the_way(path, f"{what} {path!r}")
    parent = nearest_existing(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnwritableOutput(f"{what} {path!r}: {parent!r} is not writable")
