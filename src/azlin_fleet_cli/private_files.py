"""Files the CLI creates, created so another local user cannot redirect or swap them.

Every file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (mode 0600) relative to a directory descriptor the CLI
opened and checked, written to a temp name and renamed into place within that directory. Nothing is deleted and
then re-created under the same name, and nothing is read back through a path that could have become a symlink.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def create_file(dir_fd: int, name: str, data: bytes = b"") -> None:
    """Create ``name`` in the directory (never following or replacing anything there), mode 0600, with data."""
    fd = os.open(name, _CREATE, 0o600, dir_fd=dir_fd)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def write_file_atomic(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``name`` in the directory through an exclusive temp file and a rename (an existing entry is replaced,
    a symlink there is replaced, never followed)."""
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, _CREATE, 0o600, dir_fd=dir_fd)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def read_file(dir_fd: int, name: str) -> bytes:
    """Read a regular file of the directory without following a symlink at ``name``."""
    fd = os.open(name, _READ, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, f"{name!r} is not a regular file")
        return handle.read()


def open_dir(path: Path) -> int:
    """A descriptor of the directory ``path`` (its last component must not be a symlink)."""
    return os.open(path, _DIR)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextmanager
def private_workdir(prefix: str = "azlin-fleet-") -> Iterator[Path]:
    """A fresh directory only the user can enter (mkdtemp: 0700, unpredictable name), removed at the end."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
