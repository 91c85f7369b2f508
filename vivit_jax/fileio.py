"""Files at any path the project accepts: local paths through `os` and `open`, URLs
(`gs://bucket/…`, or any scheme tf.io.gfile knows, e.g. `ram://` in tests) through
`tf.io.gfile`.

`pathlib` folds `gs://b/x` into `gs:/b/x`, so user paths stay strings here. Failures of
remote calls are raised as the matching `OSError` subclass (`FileNotFoundError`,
`PermissionError`, …) with one line naming the path, so callers catch one family of errors
for both kinds of path. TensorFlow is imported only when a remote path is touched.
"""
from __future__ import annotations

import builtins
import contextlib
import functools
import os
import pathlib
import posixpath
from typing import IO, Any


def is_remote(path) -> bool:
    """Whether `path` is a URL (`scheme://…`) rather than a local path."""
    return "://" in os.fspath(path) if isinstance(path, (str, os.PathLike)) else False


def native(path) -> pathlib.Path | str:
    """`pathlib.Path` for a local path (for callers that join with `/`), the URL string for
    a remote one (which pathlib would fold)."""
    return str(path) if is_remote(path) else pathlib.Path(path)


def absolute(path) -> str:
    """A local path made absolute (`~` expanded); a URL unchanged."""
    path = os.fspath(path)
    return path if is_remote(path) else os.path.abspath(os.path.expanduser(path))


def expanduser(path) -> str:
    """`~` expanded in a local path; a URL unchanged."""
    path = os.fspath(path)
    return path if is_remote(path) else os.path.expanduser(path)


def join(path, *parts: str) -> str:
    """`path/part/…`; local paths are normalised as pathlib does (`a//b` → `a/b`)."""
    path = os.fspath(path)
    if is_remote(path):
        return posixpath.join(path, *map(str, parts))
    return os.fspath(pathlib.Path(path).joinpath(*map(str, parts)))


def basename(path) -> str:
    return posixpath.basename(os.fspath(path).rstrip("/"))


def dirname(path) -> str:
    path = os.fspath(path)
    if is_remote(path):
        return posixpath.dirname(path.rstrip("/"))
    return os.path.dirname(path)


def _gfile():
    from vivit_jax.data.tf_quiet import tf

    return tf.io.gfile


_ERRORS = {"NotFoundError": FileNotFoundError, "PermissionDeniedError": PermissionError,
           "AlreadyExistsError": FileExistsError}


def _as_os_error(e: BaseException, path) -> OSError:
    """A tf.errors.* (or other) failure of `path` as one OSError line naming it."""
    reason = (getattr(e, "message", None) or str(e) or type(e).__name__).strip().splitlines()[0]
    if type(e).__name__ == "UnimplementedError":
        scheme = os.fspath(path).split("://", 1)[0]
        return OSError(f"{path}: the file system '{scheme}://' is not available here "
                       f"(tf.io.gfile: {reason})")
    if str(path) not in reason:
        reason = f"{path}: {reason}"
    return _ERRORS.get(type(e).__name__, OSError)(reason)


@contextlib.contextmanager
def _remote_errors(path):
    try:
        yield
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 — tf.errors.OpError and kin, as OSError.
        if type(e).__module__.startswith("tensorflow"):
            raise _as_os_error(e, path) from None
        raise


def _remote_call(fn):
    """Runs `fn(path, …)`; for URLs, TensorFlow's errors become OSErrors naming the path."""
    @functools.wraps(fn)
    def wrapper(path, *args, **kwargs):
        if not is_remote(path):
            return fn(path, *args, **kwargs)
        with _remote_errors(path):
            return fn(path, *args, **kwargs)
    return wrapper


@_remote_call
def exists(path) -> bool:
    return _gfile().exists(os.fspath(path)) if is_remote(path) else os.path.exists(path)


@_remote_call
def isdir(path) -> bool:
    return _gfile().isdir(os.fspath(path)) if is_remote(path) else os.path.isdir(path)


@_remote_call
def isfile(path) -> bool:
    if is_remote(path):
        g = _gfile()
        return g.exists(os.fspath(path)) and not g.isdir(os.fspath(path))
    return os.path.isfile(path)


@_remote_call
def listdir(path) -> list[str]:
    """Sorted entry names (object stores list sub-directories with a trailing '/': dropped)."""
    if is_remote(path):
        return sorted({n.rstrip("/") for n in _gfile().listdir(os.fspath(path))})
    return sorted(os.listdir(path))


@_remote_call
def glob(pattern) -> list[str]:
    """Sorted paths matching `pattern` (`*` within one path component)."""
    if is_remote(pattern):
        return sorted(_gfile().glob(os.fspath(pattern)))
    import glob as glob_lib

    return sorted(glob_lib.glob(os.fspath(pattern)))


@_remote_call
def makedirs(path) -> None:
    if is_remote(path):
        _gfile().makedirs(os.fspath(path))
    else:
        os.makedirs(path, exist_ok=True)


def open(path, mode: str = "r", **kwargs) -> IO[Any]:  # Shadows builtins.open here.
    """A file object; local `kwargs` (e.g. `newline=''`) go to `open`, remote ones are
    ignored (GFile writes what it is given)."""
    if not is_remote(path):
        return builtins.open(path, mode, **kwargs)
    with _remote_errors(path):
        if "w" in mode and os.fspath(path).startswith(_APPENDING_SCHEMES):
            if _gfile().exists(os.fspath(path)):
                _gfile().remove(os.fspath(path))
        return _RemoteFile(_gfile().GFile(os.fspath(path), mode), path)


# File systems whose GFile mode 'w' appends to an existing file instead of replacing it
# (TensorFlow 2.21's in-memory `ram://`): the old file is removed first.
_APPENDING_SCHEMES = ("ram://",)


class _RemoteFile:
    """A GFile whose reads, writes and close raise OSErrors naming the path."""

    def __init__(self, f, path):
        self._f, self._path = f, path

    def __getattr__(self, name):
        attr = getattr(self._f, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _remote_errors(self._path):
                return attr(*args, **kwargs)
        return call

    def __iter__(self):
        with _remote_errors(self._path):
            yield from self._f

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        with _remote_errors(self._path):
            self._f.close()


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_text(path) -> str:
    data = read_bytes(path)
    return data.decode() if isinstance(data, bytes) else data


def write_bytes(path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode())


def write_atomic(path, data: str | bytes) -> None:
    """Writes the whole file at once: locally under a hidden temporary name renamed over
    `path`; remotely in one object write (an object appears complete or not at all)."""
    data = data.encode() if isinstance(data, str) else data
    if is_remote(path):
        write_bytes(path, data)
        return
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@_remote_call
def rename(path, dst) -> None:
    """Moves `path` to `dst`, replacing it."""
    if is_remote(path):
        _gfile().rename(os.fspath(path), os.fspath(dst), overwrite=True)
    else:
        os.replace(path, dst)


@_remote_call
def remove(path, missing_ok: bool = False) -> None:
    if is_remote(path):
        if missing_ok and not _gfile().exists(os.fspath(path)):
            return
        _gfile().remove(os.fspath(path))
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


@_remote_call
def rmtree(path) -> None:
    """Removes the directory `path` and everything under it."""
    if is_remote(path):
        _gfile().rmtree(os.fspath(path))
    else:
        import shutil

        shutil.rmtree(path)


@_remote_call
def size(path) -> int:
    """Bytes in the file."""
    return int(_gfile().stat(os.fspath(path)).length) if is_remote(path) \
        else os.path.getsize(path)


@_remote_call
def mtime(path) -> float:
    """Last modification, seconds since the epoch."""
    if is_remote(path):
        return _gfile().stat(os.fspath(path)).mtime_nsec / 1e9
    return os.path.getmtime(path)


@_remote_call
def copy(path, dst) -> None:
    """Copies the file `path` to `dst` (replacing it), local or remote on either side."""
    if is_remote(path) or is_remote(dst):
        with _remote_errors(dst):
            _gfile().copy(os.fspath(path), os.fspath(dst), overwrite=True)
    else:
        import shutil

        shutil.copyfile(path, dst)


class _RecordWriter:
    """A `tf.io.TFRecordWriter` whose write and close failures are OSErrors."""

    def __init__(self, path):
        from vivit_jax.data.tf_quiet import tf

        self._path, self._errors = path, tf.errors.OpError
        with self._failures():
            self._w = tf.io.TFRecordWriter(os.fspath(path))

    @contextlib.contextmanager
    def _failures(self):
        try:
            yield
        except self._errors as e:
            raise OSError(f"writing {self._path} failed: {e.message.strip()}") from None

    def write(self, record: bytes) -> None:
        with self._failures():
            self._w.write(record)

    def close(self) -> None:
        with self._failures():
            self._w.close()


def record_writer(path) -> _RecordWriter:
    """A TFRecord file writer at `path` (local or remote: TensorFlow writes it); `write(bytes)`
    and `close()` raise `OSError('writing <path> failed: <reason>')` (a full disk, a
    read-only bucket…)."""
    return _RecordWriter(path)
