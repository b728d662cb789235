"""A built-in stand-in for Dialpad's call center API, served on loopback by aiohttp.

It answers the three calls bulkcc makes (list, get, PATCH) the way the OpenAPI
file and the PATCH reference describe, and it can misbehave on purpose: rate
limiting (429 with Retry-After), random 5xx, dropped connections, slow answers,
and fields it accepts but does not store. Tests and `bulkcc simulate` use it to
exercise the client without touching a real company.

Each request goes through, in order: the API key check (401), the rate limit
(429), fault injection (drop, 5xx), the endpoint itself, then any injected delay.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import hmac
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bulkcc.sim import apispec
from bulkcc.sim.store import apply_patch, load_seed_file, make_callcenter, reference_errors, seed_store

__all__ = [
    "RequestRecord", "Simulator", "SimulatorConfig", "SlidingWindowLimiter", "ids_for_demo", "load_seed_file",
    "make_callcenter", "seed_store", "serve_forever",
]

API_PREFIX = "/api/v2/callcenters"
_CURSOR_PREFIX = "after:"
_SHUTDOWN_TIMEOUT = 0.5  # seconds closing waits for slow handlers before cancelling them


@dataclass
class SimulatorConfig:
    """How the simulator behaves; every probability is drawn per request."""

    api_key: str
    rate_limit_per_min: int = 1200  # Dialpad's documented limit for these calls
    latency_ms: tuple[int, int] = (0, 0)  # uniform extra latency of every answer
    fail_rate: float = 0.0  # answer 500/502/503 instead
    drop_rate: float = 0.0  # close the connection without an answer
    slow_rate: float = 0.0  # delay the answer by slow_ms (to trip client timeouts)
    slow_ms: int = 5000
    random_seed: int | None = None
    page_size: int = 100
    ignored_fields: frozenset[str] = frozenset()  # dotted PATCH paths accepted but not stored
    background_rps: float = 0.0  # other integrations of the company using the same budget


@dataclass
class RequestRecord:
    """One request as the simulator saw it."""

    t: float  # time.monotonic() at arrival, before any injected latency
    method: str
    path: str
    callcenter_id: int | None
    body: Any  # the parsed JSON body, or None (none, or not JSON)
    status: int | None = None  # the status answered; None while open or when dropped


class SlidingWindowLimiter:
    """Counts admitted requests in the last second and the last minute.

    A request is refused when admitting it would put more than `per_minute / 60`
    (at least 1) requests in the window (t-1, t], or more than `per_minute` in
    (t-60, t].
    Refused requests do not count: a client that waits as told gets through.
    `background_rps` is traffic of other integrations of the same company,
    modelled as a steady rate that takes its share of both windows.
    """

    def __init__(self, per_minute: int, background_rps: float = 0.0) -> None:
        self.per_second = max(1.0, per_minute / 60) - background_rps
        self.per_minute = per_minute - background_rps * 60
        self._admitted: list[float] = []  # arrival times, ascending, at most 60 s old

    def admit(self, now: float) -> float | None:
        """None if the request at `now` is admitted, else seconds until it would be."""
        del self._admitted[: bisect.bisect_right(self._admitted, now - 60)]
        in_last_second = self._admitted[bisect.bisect_right(self._admitted, now - 1):]
        waits = []
        if len(in_last_second) + 1 > self.per_second:
            waits.append(self._wait(in_last_second, self.per_second, 1, now))
        if len(self._admitted) + 1 > self.per_minute:
            waits.append(self._wait(self._admitted, self.per_minute, 60, now))
        if waits:
            return max(waits)
        self._admitted.append(now)
        return None

    @staticmethod
    def _wait(times: list[float], limit: float, window: float, now: float) -> float:
        # Enough of the oldest arrivals must leave the window to make room for one more.
        must_leave = len(times) + 1 - max(math.floor(limit), 0)
        if must_leave > len(times):
            return window  # the budget is all taken by background traffic
        return times[must_leave - 1] + window - now


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message}}, status=status, headers=headers)


def _server_error(status: int) -> web.Response:
    if status == 502:  # a gateway in front of the API answers plain text, not JSON
        return web.Response(status=502, text="502 Bad Gateway", content_type="text/plain")
    return _error(status, "Internal error" if status == 500 else "Service unavailable")


def _parse_id(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def encode_cursor(last_id: int) -> str:
    """The opaque cursor of the page after the call center `last_id`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the previous page; ValueError for a cursor we did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    last_id = _parse_id(text.removeprefix(_CURSOR_PREFIX)) if text.startswith(_CURSOR_PREFIX) else None
    if last_id is None:
        raise ValueError("bad cursor")
    return last_id


class Simulator:
    """The fake API: `async with Simulator(config, store=...) as sim: sim.base_url ...`.

    `store` maps id to call center in internal form (ints); the simulator changes
    it in place as PATCHes arrive. Every request is logged in `requests`.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        store: dict[int, dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.config = config
        self.store: dict[int, dict[str, Any]] = store if store is not None else {}
        self.requests: list[RequestRecord] = []
        self.host, self.port = host, port
        self._access_log = access_log
        self._rng = random.Random(config.random_seed)
        self._limiter = SlidingWindowLimiter(config.rate_limit_per_min, config.background_rps)
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the simulator is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._pipeline])
        app.router.add_get(API_PREFIX, self._list)
        app.router.add_get(API_PREFIX + "/{id}", self._get)
        app.router.add_patch(API_PREFIX + "/{id}", self._patch)
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        self._runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT, **kwargs)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the free port the OS chose for port 0

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def patch_count(self, cc_id: int, *, applied_only: bool = True) -> int:
        """How many PATCHes of `cc_id` arrived (answered 200 only, by default)."""
        return sum(
            1 for r in self.requests
            if r.method == "PATCH" and r.callcenter_id == cc_id and (r.status == 200 or not applied_only)
        )

    # ------------------------------------------------------------ pipeline

    @web.middleware
    async def _pipeline(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        record = RequestRecord(
            t=time.monotonic(), method=request.method, path=request.path,
            callcenter_id=_parse_id(request.match_info.get("id")), body=None,
        )
        self.requests.append(record)
        # Draw every roll up front, so a seed gives the same faults whatever the answers.
        drop_roll, fail_roll, slow_roll = self._rng.random(), self._rng.random(), self._rng.random()
        fail_status = self._rng.choice([500, 502, 503])
        delay_ms = self._rng.uniform(*self.config.latency_ms)
        if slow_roll < self.config.slow_rate:
            delay_ms += self.config.slow_ms
        try:
            raw = await request.read()
            record.body = json.loads(raw) if raw else None
        except web.HTTPException as exc:  # e.g. a body over aiohttp's size limit
            record.status = exc.status
            return _error(exc.status, exc.reason)
        except ValueError:
            pass  # not JSON: the PATCH handler answers 400

        response = self._refusal(request, record.t)
        if response is None and drop_roll < self.config.drop_rate:
            if request.transport is not None:
                request.transport.close()
            # What we return is never sent: the connection is already closed.
            return web.Response(status=204)
        if response is None and fail_roll < self.config.fail_rate:
            response = _server_error(fail_status)
        if response is None:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # the router's 404/405, as JSON like the rest
                allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                response = _error(exc.status, exc.reason, allow)
        if delay_ms > 0:
            # The change (if any) is already stored: a client that times out cannot
            # assume its PATCH did not happen, just as with the real API.
            await asyncio.sleep(delay_ms / 1000)
        record.status = response.status
        return response

    def _refusal(self, request: web.Request, now: float) -> web.Response | None:
        """401 for a missing or wrong key, 429 over the rate limit, else None."""
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key_ok = hmac.compare_digest(key.strip().encode(), self.config.api_key.encode())
        if scheme.lower() != "bearer" or not key_ok:
            return _error(401, "Invalid or missing API key (expected Authorization: Bearer <key>)")
        wait = self._limiter.admit(now)
        if wait is not None:
            retry_after = max(1, math.ceil(wait))
            return _error(429, "Rate limit exceeded, retry later", {"Retry-After": str(retry_after)})
        return None

    # ------------------------------------------------------------ endpoints

    def _lookup(self, request: web.Request) -> tuple[int, dict[str, Any]] | web.Response:
        cc_id = _parse_id(request.match_info["id"])
        if cc_id is None or cc_id not in self.store:
            return _error(404, "Call center not found")
        return cc_id, self.store[cc_id]

    async def _get(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(apispec.to_wire(found[1]))

    async def _patch(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "Request body is not valid JSON")
        errors = apispec.update_body_errors(body) or reference_errors(body)
        if errors:
            return _error(400, "; ".join(errors[:5]))
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        cc_id, stored = found
        self.store[cc_id] = apply_patch(stored, body, self.config.ignored_fields)
        return web.json_response(apispec.to_wire(self.store[cc_id]))

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            after = decode_cursor(query["cursor"]) if query.get("cursor") else None
        except ValueError:
            return _error(400, "Invalid cursor")
        office_id = _parse_id(query.get("office_id")) if query.get("office_id") else None
        if query.get("office_id") and office_id is None:
            return _error(400, "office_id must be an integer")
        name_search = query.get("name_search", "").casefold()
        matches = [
            (cc_id, cc) for cc_id, cc in sorted(self.store.items())
            if (after is None or cc_id > after)
            and (office_id is None or cc.get("office_id") == office_id)
            and name_search in str(cc.get("name") or "").casefold()
        ]
        page = matches[: self.config.page_size]
        answer: dict[str, Any] = {"items": [apispec.to_wire(cc) for _, cc in page]}
        if len(matches) > len(page):  # a cursor only when another page follows
            answer["cursor"] = encode_cursor(page[-1][0])
        return web.json_response(answer)


async def serve_forever(
    config: SimulatorConfig,
    store: dict[int, dict[str, Any]],
    port: int,
    announce: Callable[[str], None],
) -> None:
    """Serve the simulator on 127.0.0.1:`port` until cancelled (Ctrl-C under asyncio.run).

    `announce` receives the base URL once the server listens.
    """
    async with Simulator(config, store, port=port, access_log=True) as sim:
        announce(sim.base_url)
        await asyncio.Event().wait()  # cancellation ends the wait; `async with` closes the server


def ids_for_demo(count: int, first_id: int = 4_800_000_000_000_001) -> Iterable[int]:
    """Realistic-looking call center ids for a demo store (`seed_store(ids_for_demo(250), rng)`)."""
    return range(first_id, first_id + count)
