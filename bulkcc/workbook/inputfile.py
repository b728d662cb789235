"""Opening an input file from outside: only a regular file, of bounded size, never a traceback.

Every reader goes through here before it parses anything, so that a path that is
a folder, a FIFO (which would block the open until something writes to it), a
device (`/dev/zero` grows memory without limit), a socket, a broken symlink or a
file in a folder that cannot be read is one clear `InputError`, and a file larger
than `MAX_INPUT_BYTES` is refused before it is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bulkcc.errors import InputError
from bulkcc.values import printable

# The same bound as an xlsx's uncompressed content: a real call center sheet is a few MB.
MAX_INPUT_BYTES = 200 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def shown_path(path: Path) -> str:
    return printable(str(path), 300)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def _refuse_os_error(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{shown_path(path)}: no such file")
    if isinstance(exc, PermissionError):
        return InputError(f"cannot read {shown_path(path)}: permission denied (the file, or a folder above it, "
                          "may not be read by this user); copy it somewhere readable or fix its permissions")
    reason = exc.strerror or exc.__class__.__name__
    return InputError(f"cannot read {shown_path(path)}: {printable(reason, 200)}")


def _check_mode(path: Path, mode: int, size: int, limit: int) -> None:
    if stat.S_ISDIR(mode):
        raise InputError(f"{shown_path(path)} is a folder, not a workbook")
    kind = _kind(mode)
    if kind is not None:
        raise InputError(f"{shown_path(path)} is {kind}, not a file: bulkcc reads only regular .xlsx or "
                         ".csv files; save the data to a file first")
    if size > limit:
        raise InputError(f"{shown_path(path)} is {size / 1e6:,.0f} MB, over the {limit / 1e6:,.0f} MB limit "
                         "for an input; split the file")


def _open_checked(path: Path, limit: int) -> int:
    """A read-only descriptor of `path`, once it is known to be a regular file within `limit`.

    The kind is checked with stat() before any open, so a FIFO or a device is never
    opened; the open itself (non-blocking, then checked again with fstat) catches a
    file swapped in between and a file that exists but may not be read.
    """
    try:
        info = os.stat(path)
        _check_mode(path, info.st_mode, info.st_size, limit)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _refuse_os_error(path, exc) from exc
    try:
        opened = os.fstat(fd)
        _check_mode(path, opened.st_mode, opened.st_size, limit)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_input_file(path: Path, limit: int | None = None) -> None:
    """Refuse anything but a readable regular file of at most `limit` bytes (default MAX_INPUT_BYTES)."""
    os.close(_open_checked(path, MAX_INPUT_BYTES if limit is None else limit))


def read_input_bytes(path: Path, limit: int | None = None) -> bytes:
    """The whole file, checked as by `check_input_file`; never more than `limit` bytes are read."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    fd = _open_checked(path, limit)
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)  # bounded even if the file grows while it is read
    except OSError as exc:
        raise _refuse_os_error(path, exc) from exc
    if len(data) > limit:
        raise InputError(f"{shown_path(path)} grew past the {limit / 1e6:,.0f} MB limit for an input while "
                         "it was read; split the file")
    return data
