"""The one choke point for the server's text: every string of every answer, scrubbed where it is decoded.

A server chooses every string it sends: a call center's name, a role, an error
message, a key of an object. Any of them may hold the API key (an echo of the
`Authorization` header, a misconfigured proxy) or escape sequences that drive a
terminal or break a workbook (openpyxl refuses most control characters). So the
client runs each decoded 2xx answer through `scrub` once, before anything reads
it: every string, object keys included, at any depth, has the key (and any
`Bearer` token) replaced by `****` (`send.target.Redactor`) and its control
characters and lone surrogates made visible (`\\x1b`, `\\ud800`, as `values.printable` shows them; a
tab, a line break and a carriage return are text and stay). What the run, the journal, the
plan file, the results, the rollback and the review workbook get is only ever
the scrubbed answer; error answers are scrubbed the same way where the client
turns them into a message (`client.error_message`).

A live value that holds the key therefore reads as `****` everywhere, and a
rollback restores `****`, never the key. That is on purpose: the key must be
written nowhere. A string so changed is a `Scrubbed` (a str), so that export,
which writes a live value only when a cell holds it exactly, leaves its cell
blank with a note instead of writing the scrubbed text as if it were live.

The walk is iterative (a hostile answer nests as deep as the JSON parser allows)
and skipped outright for an answer whose raw text has neither a backslash (no
JSON escape, so every string is a plain slice of the text), nor a key form, nor
"bearer": the common page of a hundred call centers costs one scan of its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# C0 and C1 control characters and DEL, but tab, line feed and carriage return (text a cell holds); and lone
# surrogates, which a JSON text may escape ("\ud800") but no file can hold: written as they came, one
# stopped an apply with a traceback while it journaled (UTF-8 refuses them) and made a review no program opened.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

Redact = Callable[[str], str]


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Scrubbed(str):
    """A string of an answer that the choke point changed: not the text the server holds. Export leaves
    such a value's cell blank (it could not be written back exactly), whatever it shows."""

    __slots__ = ()


def scrub_text(text: str, redact: Redact) -> str:
    """One string of an answer: the key out, control characters made visible (`Scrubbed` if changed)."""
    scrubbed = redact(text)
    if _CONTROL.search(scrubbed):
        scrubbed = _CONTROL.sub(_escape, scrubbed)
    return Scrubbed(scrubbed) if scrubbed != text else text


def needs_scrub(raw: str, redact: Redact) -> bool:
    """Whether any string decoded from the JSON text `raw` could hold the key or a control character."""
    return "\\" in raw or redact(raw) != raw or _CONTROL.search(raw) is not None


def scrub(data: Any, redact: Redact) -> Any:
    """`data` (parsed JSON: dicts, lists, strings, numbers) with every string scrubbed (`scrub_text`).
    Containers are changed in place; the (possibly new) top value is returned."""
    if isinstance(data, str):
        return scrub_text(data, redact)
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for key, value in items:
                key = scrub_text(key, redact) if isinstance(key, str) else key
                if isinstance(value, str):
                    value = scrub_text(value, redact)
                elif isinstance(value, dict | list):
                    stack.append(value)
                node[key] = value
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = scrub_text(value, redact)
                elif isinstance(value, dict | list):
                    stack.append(value)
    return data
