"""A built-in stand-in for Dialpad's call center API, served on loopback by aiohttp.

It answers list, get and PATCH the way the OpenAPI file and the PATCH
reference describe, and (in `routes`) create, delete, an office's call
centers, operators, skill levels and status as the operators' OpenAPI file
does, with a pool of users and a limited number of call center licenses
(`operators`). It can misbehave on purpose: rate
limiting (429 with Retry-After) with other integrations' load taking a share,
random 5xx, dropped connections, slow answers, and fields it accepts but does
not store. Tests and `bulkcc simulate` use it to exercise the client without
touching a real company; with a state file (`sim.state`) its call centers
outlive it and are shared by every command that uses the file.

Each request goes through, in order: the API key check (401, before the body
is even parsed), the rate limit (429), the body (400 if not JSON or nested too
deeply), fault injection (drop, 5xx), the endpoint itself, then any injected
delay.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bulkcc.sim import apispec, routes
from bulkcc.sim.limits import DEFAULT_LIMITER, OtherLoad, SlidingWindowLimiter, make_limiter
from bulkcc.sim.operators import DEFAULT_LICENSES, DEFAULT_USERS, REFUSE, SEEDED_OPERATORS, ApiError, Company
from bulkcc.sim.state import MemoryState, StateError, StateFile
from bulkcc.sim.store import (
    USER_ID_BASE,
    apply_patch,
    load_seed_file,
    make_callcenter,
    merged_errors,
    reference_errors,
    seed_store,
)
from bulkcc.sim.wire import (
    AccessLogger,
    BodyError,
    decode_cursor,
    encode_cursor,
    error,
    parse_body,
    parse_id,
    parse_int64,
    server_error,
)

__all__ = [
    "DEFAULT_LICENSES", "DEFAULT_USERS", "USER_ID_BASE", "Company",
    "RequestLog", "RequestRecord", "Simulator", "SimulatorConfig", "SlidingWindowLimiter", "StateError", "StateFile",
    "decode_cursor", "encode_cursor", "ids_for_demo", "load_seed_file", "make_callcenter", "seed_store",
    "serve_forever",
]

API_PREFIX = "/api/v2/callcenters"
_SHUTDOWN_TIMEOUT = 0.5  # seconds closing waits for slow handlers before cancelling them
_MAX_ERROR_CHARS = 300  # per message: a schema error quotes the value, which may be a whole body
_WITH_BODY = frozenset({"PATCH", "POST", "DELETE"})


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
    # When that other load runs: (A, B) seconds after the first request; None: all the time.
    background_window: tuple[float, float] | None = None
    background_burst: int = 0  # N: the other load comes N at once, every N / background_rps seconds
    limiter: str = DEFAULT_LIMITER  # how the rate limit counts (`bulkcc.sim.limits.LIMITERS`)
    # How many of the latest requests `Simulator.requests` keeps (0: none). Bounded, because
    # a record holds its body: a 10,000-row run kept them all and the collector's pauses
    # turned into bursts of false 429s. `bulkcc simulate` and `--simulator` keep none.
    history: int = 10_000
    # The company: None keeps what the state file holds (DEFAULT_USERS / DEFAULT_LICENSES for a new one);
    # a value replaces it (and is kept in the file). Licenses count those the users already hold.
    users: int | None = None  # the pool: ids USER_ID_BASE + 1 .. + users
    licenses: int | None = None  # call center licenses the company has, in use or not
    offices: tuple[int, ...] = ()  # offices beyond those of the made-up regions and of the call centers
    # How many operators each call center of an in-memory store starts with (a state file's get the default).
    seeded_operators: tuple[int, int] = SEEDED_OPERATORS
    # An add of a user who is an operator of the center already: refused (400), or taken as an update
    # of its role and skill level (the body's, or the defaults operator and 100).
    repeated_add: str = REFUSE


@dataclass
class RequestRecord:
    """One request as the simulator saw it."""

    t: float  # the simulator's clock at arrival, before any injected latency
    method: str
    path: str
    callcenter_id: int | None
    body: Any  # the parsed JSON body, or None (none, not JSON, or refused before it was read)
    status: int | None = None  # the status answered; None while open or when dropped


class RequestLog(deque):
    """The latest `maxlen` requests, oldest first; compares equal to a list of the same records."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return list(self) == other
        return super().__eq__(other)

    __hash__ = None


class Simulator:
    """The fake API: `async with Simulator(config, store=...) as sim: sim.base_url ...`.

    `store` maps id to call center in internal form (ints); the simulator changes
    it in place as PATCHes arrive. With `state` (a `StateFile` whose `load` gave
    the store) every change is also on disk before it is answered, and changes
    other simulators make to the file are seen. The latest requests are logged
    in `requests` (`config.history` of them). `clock` is for tests that drive
    the rate limit without sleeping. `company` holds the users, licenses and
    operators (`sim.operators.Company`): tests read it (or set `licenses` on it
    for an in-memory simulator; the config's `users` / `licenses` are kept in a
    state file too).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        store: dict[int, dict[str, Any]] | None = None,
        *,
        state: MemoryState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store: dict[int, dict[str, Any]] = store if store is not None else {}
        self.state = state or MemoryState()
        self.requests: RequestLog = RequestLog(maxlen=max(0, config.history))
        self.host, self.port = host, port
        self._access_log = access_log
        self._clock = clock
        self._rng = random.Random(config.random_seed)
        self._limiter = make_limiter(config.limiter, config.rate_limit_per_min, OtherLoad(
            config.background_rps, config.background_window, config.background_burst))
        self._runner: web.AppRunner | None = None
        self._set_up_company()

    @property
    def company(self) -> Company:
        """The users, licenses and operators: the state's (a re-read of its file keeps the object)."""
        assert self.state.company is not None  # set up by the constructor
        return self.state.company

    def _set_up_company(self) -> None:
        config = self.config
        if self.state.company is None:  # in memory: made up from the store, as the call centers are
            self.state.company = Company(
                users=DEFAULT_USERS if config.users is None else config.users,
                licenses=DEFAULT_LICENSES if config.licenses is None else config.licenses,
                offices=set(config.offices), configured=True)
            self.state.company.seed(self.store, sorted(self.store), config.seeded_operators)
        company = self.state.company
        record = company.config_record()
        wanted = {**record, "offices": sorted(company.offices | set(config.offices)),
                  **{k: v for k, v in (("users", config.users), ("licenses", config.licenses)) if v is not None}}
        if wanted != record:  # kept in the state file, like any other change
            with self.state.changing(self.store):
                self.commit([wanted])

    def commit(self, records: list[dict[str, Any]]) -> None:
        """Write company records, then apply them (inside `state.changing`): on disk before answered."""
        self.state.write(records)
        for record in records:
            self.company.apply(self.store, record)

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
        routes.register(app.router, self)
        kwargs: dict[str, Any] = {"access_log_class": AccessLogger} if self._access_log else {"access_log": None}
        runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT, **kwargs)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:  # e.g. the port is in use: leave nothing half started
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]  # the free port the OS chose for port 0

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            self.state.close(self.store)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def patch_count(self, cc_id: int, *, applied_only: bool = True) -> int:
        """How many PATCHes of `cc_id` arrived (answered 200 only, by default), of those still in `requests`."""
        return sum(
            1 for r in self.requests
            if r.method == "PATCH" and r.callcenter_id == cc_id and (r.status == 200 or not applied_only)
        )

    # ------------------------------------------------------------ pipeline

    @web.middleware
    async def _pipeline(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        record = RequestRecord(
            t=self._clock(), method=request.method, path=request.path,
            callcenter_id=parse_id(request.match_info.get("id")), body=None,
        )
        self.requests.append(record)
        # Draw every roll up front, so a seed gives the same faults whatever the answers.
        drop_roll, fail_roll, slow_roll = self._rng.random(), self._rng.random(), self._rng.random()
        fail_status = self._rng.choice([500, 502, 503])
        delay_ms = self._rng.uniform(*self.config.latency_ms)
        if slow_roll < self.config.slow_rate:
            delay_ms += self.config.slow_ms

        # The key first: nobody without it gets the body parsed (or anything else).
        response = self._refusal(request, record.t)
        if response is None:
            response = await self._read_body(request, record)
        if response is None and drop_roll < self.config.drop_rate:
            if request.transport is not None:
                request.transport.close()
            # What we return is never sent: the connection is already closed.
            return web.Response(status=204)
        if response is None and fail_roll < self.config.fail_rate:
            response = server_error(fail_status)
        if response is None:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # the router's 404/405, as JSON like the rest
                allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                response = error(exc.status, exc.reason, allow)
            except ApiError as exc:
                response = error(exc.status, exc.message)
            except StateError as exc:  # the state file is locked or unwritable: nothing was changed
                response = error(503, f"Service unavailable: {exc}")
        if delay_ms > 0:
            # The change (if any) is already stored: a client that times out cannot
            # assume its PATCH did not happen, just as with the real API.
            await asyncio.sleep(delay_ms / 1000)
        record.status = response.status
        return response

    async def _read_body(self, request: web.Request, record: RequestRecord) -> web.Response | None:
        try:
            raw = await request.read()
        except web.HTTPException as exc:  # e.g. a body over aiohttp's size limit
            return error(exc.status, exc.reason)
        try:
            record.body = parse_body(raw)
        except BodyError as exc:
            if request.method in _WITH_BODY:  # a GET's body means nothing: only these are refused for it
                return error(400, str(exc))
        return None

    def _key_given(self, request: web.Request) -> bool:
        """The key as a bearer token, or as `?apikey=` (the OpenAPI's two security schemes)."""
        expected = self.config.api_key.encode()
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected):
            return True
        in_url = request.query.get("apikey")
        return in_url is not None and hmac.compare_digest(in_url.encode(), expected)

    def _refusal(self, request: web.Request, now: float) -> web.Response | None:
        """401 for a missing or wrong key, 429 over the rate limit, else None."""
        if not self._key_given(request):
            return error(401, "Invalid or missing API key (expected Authorization: Bearer <key>, or ?apikey=<key>)")
        wait = self._limiter.admit(now)
        if wait is not None:
            retry_after = max(1, math.ceil(wait))
            return error(429, "Rate limit exceeded, retry later", {"Retry-After": str(retry_after)})
        return None

    # ------------------------------------------------------------ endpoints

    def _lookup(self, request: web.Request) -> tuple[int, dict[str, Any]] | web.Response:
        cc_id = parse_id(request.match_info["id"])
        if cc_id is None or cc_id not in self.store:
            return error(404, "Call center not found")
        return cc_id, self.store[cc_id]

    async def _get(self, request: web.Request) -> web.Response:
        self.state.sync(self.store)
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(apispec.to_wire(found[1]))

    async def _patch(self, request: web.Request) -> web.Response:
        # Parsed once already (and refused there if it is not JSON or too deep); read() is cached.
        body: Any = parse_body(await request.read())
        errors = apispec.update_body_errors(body) or reference_errors(body)
        if errors:
            return error(400, "; ".join(e[:_MAX_ERROR_CHARS] for e in errors[:5]))
        # Sync, merge and write under one lock: a change another command made to this
        # call center a moment ago is merged with, not overwritten.
        with self.state.changing(self.store):
            found = self._lookup(request)
            if isinstance(found, web.Response):
                return found
            cc_id, stored = found
            merged = apply_patch(stored, body, self.config.ignored_fields)
            errors = merged_errors(body, merged)
            if errors:
                return error(400, "; ".join(errors))
            self.state.record(merged)  # on disk before it is in memory or answered
            self.store[cc_id] = merged
        return web.json_response(apispec.to_wire(merged))

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        office_id = parse_int64(query["office_id"]) if query.get("office_id") else None
        if query.get("office_id") and office_id is None:
            return error(400, "office_id must be an integer")
        name_search = query.get("name_search", "").casefold()
        self.state.sync(self.store)
        return self.page(request, lambda cc: (office_id is None or cc.get("office_id") == office_id)
                         and name_search in str(cc.get("name") or "").casefold())

    def page(self, request: web.Request, keep: Callable[[dict[str, Any]], bool]) -> web.Response:
        """One page of the call centers `keep` accepts, by id, after the request's `cursor`."""
        try:
            after = decode_cursor(request.query["cursor"]) if request.query.get("cursor") else None
        except ValueError:
            return error(400, "Invalid cursor")
        matches = [
            (cc_id, cc) for cc_id, cc in sorted(self.store.items()) if (after is None or cc_id > after) and keep(cc)
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
    state: MemoryState | None = None,
) -> None:
    """Serve the simulator on 127.0.0.1:`port` until cancelled (Ctrl-C under asyncio.run).

    `announce` receives the base URL once the server listens. A port in use
    raises OSError before anything is served.
    """
    async with Simulator(config, store, state=state, port=port, access_log=True) as sim:
        announce(sim.base_url)
        await asyncio.Event().wait()  # cancellation ends the wait; `async with` closes the server


def ids_for_demo(count: int, first_id: int = 4_800_000_000_000_001) -> Iterable[int]:
    """Realistic-looking call center ids for a demo store (`seed_store(ids_for_demo(250), rng)`)."""
    return range(first_id, first_id + count)
