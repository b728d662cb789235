"""Reading one answer of the API: bounded, parsed as a JSON object or said why not, its error message.

Everything an answer says is the server's text: a body is read only up to a bound
(a 10 MB error page or a gzip bomb cannot fill memory), and a message quotes it
only `printable` (the client redacts the key first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp

from bulkcc.values import printable

MAX_ERROR_TEXT = 500
MAX_ANSWER_BYTES = 16 << 20  # a page of 100 call centers is a few hundred KB
MAX_ERROR_BYTES = 64 << 10  # enough of an error answer for its message
SHOWN_BYTES = 120  # how much of an unexpected answer a message quotes


# "no call center license is available", "No licenses left", "insufficient licenses" …: a licence
# word and a word about how many there are (matched on the API's own message). "API access is not
# in your license" says neither, so it stays a refused key.
_LICENSE = re.compile(r"licen[cs]e", re.IGNORECASE)
_NONE_LEFT = re.compile(r"(available|left|remaining|insufficient|exhausted|exceed|out of|run out)", re.IGNORECASE)


def is_license_error(message: str | None) -> bool:
    """Whether an error answer's message says no (call center) license is available."""
    return bool(message) and bool(_LICENSE.search(message or "")) and bool(_NONE_LEFT.search(message or ""))


def error_message(status: int, text: str, redact: Callable[[str], str] = str) -> str:
    """The API's own message: JSON error.message, message, or the text itself; `redact`ed once decoded
    (a JSON escape may spell the key) and before it is cut to length (a cut may split the key)."""
    try:
        payload = json.loads(text)
    except (ValueError, TypeError):
        payload = None
    message = None
    if isinstance(payload, dict):
        inner = payload.get("error")
        if isinstance(inner, dict):
            message = inner.get("message")
        elif isinstance(inner, str):
            message = inner
        message = message or payload.get("message")
    message = " ".join(redact(str(message or text or "")).split())
    message = printable(message, limit=MAX_ERROR_TEXT)
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"


def not_an_object(status: int, content_type: str | None, raw: bytes, text: str, why: str) -> str:
    """A 2xx that is no verified answer: what came back (status, type, size, first bytes, printable)."""
    shown = printable(" ".join(text.split()), limit=SHOWN_BYTES)
    start = f': "{shown}"' if shown else ""
    return (f"HTTP {status} but {why}, so the call is not verified "
            f"({content_type or 'no Content-Type'}, {len(raw)} bytes{start})")


def parse_object(raw: bytes, charset: str | None) -> tuple[dict[str, Any] | None, str]:
    """The answer as a JSON object, or None and why it is not one."""
    if not raw.strip():
        return None, "the answer is empty"
    try:
        text = raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None, f"the answer is not {charset or 'UTF-8'} text"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a hostile [[[[...]]]] nesting
        return None, "the answer is not JSON"
    if not isinstance(data, dict):
        kind = {list: "a JSON list", str: "a JSON string", bool: "a JSON boolean",
                type(None): "JSON null"}.get(type(data), "a JSON number")
        return None, f"the answer is {kind}, not an object"
    return data, ""


def decoded(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body (decompressed), and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(min(1 << 16, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], True
