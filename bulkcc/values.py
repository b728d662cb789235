"""Small value helpers every layer uses (bottom layer; imports nothing of bulkcc).

Spreadsheet cells and pandas columns carry blanks in several forms (None,
pd.NA, NaN, an empty or all-blank string) and numbers as numpy scalars; these
helpers say once what counts as blank and how a value becomes plain Python.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def is_nan(value: Any) -> bool:
    """True for a float NaN (the one value that is not equal to itself)."""
    return isinstance(value, float) and value != value


def is_missing(value: Any) -> bool:
    """None, pandas' NA or NaT, or a float NaN: no value at all."""
    if value is None or is_nan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def is_blank(value: Any) -> bool:
    """A cell that holds nothing an admin typed: missing, or text of only blanks."""
    if isinstance(value, str):
        return not value.strip()
    return is_missing(value)


def native(value: Any) -> Any:
    """A parsed cell as a plain Python value (numpy scalars unwrapped, NA as None)."""
    if is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, tuple | list):
        return value.item()
    return value


def sha256_file(path: str | Path) -> str:
    """The file's SHA-256, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def printable(text: str, limit: int | None = 500) -> str:
    """Text from outside (an API message, a header) safe to print: control characters made visible.

    ESC, other control characters, bidi overrides and the like become `\\x1b`,
    `\\u202e` ... so that no terminal or log viewer interprets them; the result is
    cut to `limit` characters (never inside an escape), ending in `…` when cut.
    """
    text = str(text)
    if text.isprintable() and (limit is None or len(text) <= limit):
        return text  # the common case, checked at C speed: nothing to escape, nothing to cut
    pieces: list[str] = []
    length = 0
    for char in text:
        if char.isprintable() or char == " ":
            piece = char
        elif ord(char) < 0x100:
            piece = f"\\x{ord(char):02x}"
        elif ord(char) < 0x10000:
            piece = f"\\u{ord(char):04x}"
        else:
            piece = f"\\U{ord(char):08x}"
        if limit is not None and length + len(piece) > limit:
            return "".join(pieces) + "…"
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)
