"""What the simulator reads from a request and writes back, one piece at a time.

Errors as the API shapes them (JSON, but the gateway's plain-text 502), ids and
int64 query values as the OpenAPI types them, list cursors, request bodies
parsed with their nesting bounded, and an access log that leaves out the
query string (it can carry `?apikey=`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

CURSOR_PREFIX = "after:"
MAX_DEPTH = 32  # containers inside containers; the deepest valid body needs 5 (routing_options.open.dtmf[].options)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"^-?[0-9]+$")


class BodyError(ValueError):
    """A request body the API answers 400 for before looking at its fields."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message}}, status=status, headers=headers)


def server_error(status: int) -> web.Response:
    if status == 502:  # a gateway in front of the API answers plain text, not JSON
        return web.Response(status=502, text="502 Bad Gateway", content_type="text/plain")
    return error(status, "Internal error" if status == 500 else "Service unavailable")


def parse_id(text: str | None) -> int | None:
    """A call center id from the path: digits only (anything else is not found)."""
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_int64(text: str) -> int | None:
    """A `format: int64` query value (negative ones too), or None if it is not one."""
    if not text.isascii() or not _INTEGER.match(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def encode_cursor(last_id: int) -> str:
    """The opaque cursor of the page after the call center `last_id`."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the previous page; ValueError for a cursor we did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    last_id = parse_id(text.removeprefix(CURSOR_PREFIX)) if text.startswith(CURSOR_PREFIX) else None
    if last_id is None:
        raise ValueError("bad cursor")
    return last_id


def parse_body(raw: bytes) -> Any:
    """The JSON body (None when empty); BodyError if it is not JSON or nested over MAX_DEPTH.

    The decoder itself stops at Python's recursion limit (RecursionError, which
    would be a 500); anything shallower is measured without recursion, before
    the schema check, whose messages quote the value they are about.
    """
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BodyError(f"Request body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError:
        raise BodyError("Request body is not valid JSON") from None
    if depth(body) > MAX_DEPTH:
        raise BodyError(f"Request body is nested too deeply (at most {MAX_DEPTH} levels)")
    return body


def depth(value: Any) -> int:
    """How many containers deep `value` goes (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break  # deep enough to refuse: no need to walk the rest
        stack.extend((child, level + 1) for child in children)
    return deepest


class AccessLogger(AbstractAccessLogger):
    """`127.0.0.1 "PATCH /api/v2/callcenters/1" 200 0.004s`: the path only, never the query."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path,
                         response.status, time)
