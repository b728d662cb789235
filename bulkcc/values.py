"""Small value helpers every layer uses (bottom layer; imports nothing of bulkcc).

Spreadsheet cells and pandas columns carry blanks in several forms (None,
pd.NA, NaN, an empty or all-blank string) and numbers as numpy scalars; these
helpers say once what counts as blank and how a value becomes plain Python.
`printable` is the one way text from outside (a cell, a column name, an API
message) is shown on a terminal, in a table or a log: cut to a readable length,
its control and escape characters made visible.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

# Default length of shown text: a cell of 10 MB must not become 10 MB of output.
SHOWN_LIMIT = 500


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


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value[:SHOWN_LIMIT * 4]))
    try:
        return str(value)
    except ValueError:  # an int of over 4300 digits: str() refuses it
        return f"a number of about {int(value.bit_length() * 0.30103):,} digits"


def printable(text: Any, limit: int | None = SHOWN_LIMIT, *, quote: bool = False) -> str:
    """Text from outside (a cell, a column name, an API message, a header) safe to print.

    ESC, other control characters, bidi overrides, zero-width and line-separator
    characters and the like become `\\x1b`, `\\x0a`, `\\u202e` ..., so that no
    terminal or log viewer acts on them (clear the screen, set the window title,
    write the clipboard). The result holds at most `limit` characters (None: no
    limit), never cut inside an escape; when cut it ends in "…" and states the full
    length: `aaaa… (10,485,760 characters)`, or with `quote`
    `'aaaa…' (10,485,760 characters)`. Not text: shown as str() shows it.
    """
    raw = _as_text(text)
    if raw.isprintable() and (limit is None or len(raw) <= limit):  # the common case, at C speed
        return f"'{raw}'" if quote else raw
    pieces: list[str] = []
    length = 0
    cut = False
    for char in raw:
        piece = char if char.isprintable() else _escape(char)
        if limit is not None and length + len(piece) > limit:
            cut = True
            break
        pieces.append(piece)
        length += len(piece)
    shown = "".join(pieces) + ("…" if cut else "")
    if quote:
        shown = f"'{shown}'"
    return f"{shown} ({len(raw):,} characters)" if cut else shown


# Nouns whose plural is not the noun plus "s", as bulkcc's messages use them.
_PLURALS = {"entry": "entries", "property": "properties", "policy": "policies", "reply": "replies",
            "copy": "copies", "retry": "retries", "match": "matches", "box": "boxes", "batch": "batches",
            "status": "statuses", "address": "addresses", "person": "people", "query": "queries"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`noun` as it reads after `count`: "call center" or "call centers", "entry" or "entries".

    Only the last word changes ("call center" → "call centers"); `many` names an
    irregular plural outright.
    """
    if count == 1:
        return noun
    if many is not None:
        return many
    head, _, last = noun.rpartition(" ")
    return f"{head} {_PLURALS.get(last, last + 's')}" if head else _PLURALS.get(last, last + "s")


def counted(count: int, noun: str, many: str | None = None) -> str:
    """A count and its noun, in every message: "1 call center", "3 call centers", "0 rows", "1,200 rows"."""
    return f"{count:,} {plural(count, noun, many)}"
