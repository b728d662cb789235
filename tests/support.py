"""Helpers the apply, client and command-line tests share: rows, simulators, scripted APIs, CLI runs.

Rows come from the sample generator (loaded once, by conftest); simulators and
scripted APIs are real aiohttp servers on loopback; CLI runs are real
subprocesses where a signal or a crash is part of the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web
from conftest import load_make_samples

from bulkcc.run.apply import ApplyOptions
from bulkcc.send.client import ApiClient
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.pacing import Pacer, RetryBudget, RetryPolicy
from bulkcc.send.target import Target
from bulkcc.sim.server import Simulator, SimulatorConfig, seed_store

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "callcenters.xlsx"
KEY = "sk-test-SECRET-1234567890"
WRONG_KEY = "sk-test-WRONG-0987654321"
CLI = [sys.executable, "-m", "bulkcc.cli", "apply"]
CLI_TIMEOUT = 60.0  # seconds one CLI run may take before the test gives up on it


SAMPLES = load_make_samples()


# ---------------------------------------------------------------- helpers

def realistic_rows(count: int) -> list[dict[str, Any]]:
    """Rows of ids 1001.. as admins fill them (every kind of change)."""
    rng = random.Random(SAMPLES.SEED)
    return [SAMPLES.realistic_row(i, rng) for i in range(count)]


def write_rows(path: Path, rows: Sequence[dict[str, Any]], header: Sequence[str] | None = None) -> Path:
    header = list(header or SAMPLES.used_columns(rows))
    return SAMPLES.write_workbook(path, header, [[row.get(c) for c in header] for row in rows])


def ids_of(rows: Sequence[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.asynccontextmanager
async def simulator(ids, **config: Any) -> AsyncIterator[Simulator]:
    settings = {"rate_limit_per_min": 6000, "random_seed": 1, **config}
    async with Simulator(SimulatorConfig(api_key=KEY, **settings), store=seed_store(ids, random.Random(0))) as sim:
        yield sim


def options(results: Path, base_url: str, *, rate: int = 6000, concurrency: int = 8, max_attempts: int = 3,
            timeout_s: float = 5.0, api_key: str = KEY, retry_policy: Any = None, retry_budget: Any = None,
            **kwargs: Any) -> ApplyOptions:
    connection = ConnectionOptions(target=Target(base_url), api_key=api_key, rate_per_min=rate,
                                   concurrency=concurrency, max_attempts=max_attempts, timeout_s=timeout_s)
    if retry_policy is not None:
        connection.retry_policy = retry_policy
    if retry_budget is not None:
        connection.retry_budget = retry_budget
    return ApplyOptions(results_path=results, connection=connection, **kwargs)


def patches(sim: Simulator) -> list:
    return [r for r in sim.requests if r.method == "PATCH"]


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most arrivals in any window [t, t + window) starting at an arrival."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times)), default=0)


def fast_retries(max_attempts: int) -> RetryPolicy:
    """A retry policy that waits milliseconds instead of seconds (given to ConnectionOptions)."""
    return RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=0.05)


class CliRun:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}>"


def cli_env(key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DIALPAD_API_KEY"}
    if key is not None:
        env["DIALPAD_API_KEY"] = key
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_cli(*args: str, cwd: Path, key: str | None = KEY, command: str = "apply"
                    ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI[:-1], command, *map(str, args), cwd=cwd, env=cli_env(key), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(process: asyncio.subprocess.Process) -> CliRun:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("bulkcc apply did not finish in time") from None
    return CliRun(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


async def run_cli(*args: str, cwd: Path, key: str | None = KEY, command: str = "apply") -> CliRun:
    """`python -m bulkcc.cli apply ARGS` (or another command), asynchronously: a simulator in this
    loop keeps serving meanwhile."""
    return await finish(await start_cli(*args, cwd=cwd, key=key, command=command))


async def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class LoopbackServer:
    """A small aiohttp server of a test's own on 127.0.0.1 (a free port), used as `async with`: it answers
    every method and path with `_handle` (the path without its leading slash in `match_info["name"]`),
    unless a subclass lays out its own `routes`."""

    base_url = ""

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{name:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()


ProxyHook = Callable[["Proxy", web.Request, bytes], Awaitable[web.StreamResponse | None]]


class Proxy(LoopbackServer):
    """In front of the simulator: each request is forwarded, unless `hook` answers it (it may forward first)."""

    def __init__(self, sim: Simulator, hook: ProxyHook | None = None) -> None:
        self.sim, self.hook = sim, hook

    async def forward(self, request: web.Request, data: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as session, session.request(
                request.method, f"{self.sim.base_url}{request.path_qs}", data=data, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        answer = await self.hook(self, request, data) if self.hook is not None else None
        return answer if answer is not None else await self.forward(request, data)


class ScriptedApi(LoopbackServer):
    """A tiny aiohttp app for what the simulator does not do: exact statuses, redirects, hostile answers.

    `scripts` maps a path (without the leading slash; "*" for any other) to the
    steps answered one per request, the last repeated forever. A step is
    ("json", status, payload[, headers]), ("text", status, text[, headers]),
    ("raw", status, body_bytes[, headers]) for exact bytes (broken JSON, HTML, a
    gzip bomb with its Content-Encoding), ("cut", status, body_bytes, claimed_length)
    to close the connection part way through a body, ("call", handler) where
    `handler(request)` returns (or is a coroutine of) the response (e.g. to echo a header back),
    ("drop",) to close the connection without an answer, or ("sleep", seconds, step).
    """

    def __init__(self, scripts: dict[str, list[tuple]]) -> None:
        self.scripts = {name: list(steps) for name, steps in scripts.items()}
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.bodies: dict[str, list[Any]] = defaultdict(list)

    @property
    def total(self) -> int:
        """Requests that arrived, on any path."""
        return sum(len(times) for times in self.arrivals.values())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        raw = await request.read()
        self.arrivals[name].append(time.monotonic())
        self.bodies[name].append(json.loads(raw) if raw else None)
        script = self.scripts.get(name, self.scripts.get("*"))
        if script is None:
            return web.json_response({"error": {"message": "not scripted"}}, status=404)
        step = script.pop(0) if len(script) > 1 else script[0]
        return await self._answer(request, step)

    async def _answer(self, request: web.Request, step: tuple) -> web.StreamResponse:
        kind = step[0]
        if kind == "sleep":
            await asyncio.sleep(step[1])
            return await self._answer(request, step[2])
        if kind == "drop":
            request.transport.close()
            return web.Response(status=204)  # never sent: the connection is gone
        if kind == "call":
            response = step[1](request)
            return await response if inspect.isawaitable(response) else response
        if kind == "cut":
            response = web.StreamResponse(status=step[1], headers={"Content-Type": "application/json"})
            response.content_length = step[3]
            await response.prepare(request)
            await response.write(step[2])
            request.transport.close()  # the rest of the claimed length never comes
            return response
        headers = step[3] if len(step) > 3 else None
        if kind == "json":
            return web.json_response(step[2], status=step[1], headers=headers)
        if kind == "raw":
            return web.Response(status=step[1], body=step[2], headers=headers)
        return web.Response(status=step[1], text=step[2], headers=headers)


def gzip_bomb(size: int = 64 << 20) -> bytes:
    """`size` bytes of zeros, gzipped (64 MiB: about 64 KB on the wire)."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


@contextlib.asynccontextmanager
async def api_client(base_url: str, *, max_attempts: int = 3, timeout_s: float = 2.0, rate: int = 6000,
                     budget: RetryBudget | None = None, key: str = KEY) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        yield ApiClient(session, base_url, Pacer(rate),
                        policy=RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=0.05),
                        budget=budget or RetryBudget(), timeout_s=timeout_s, rng=random.Random(0))


OK_ANSWER = ("json", 200, {"id": "1", "name": "x"})


# ---------------------------------------------------------------- saved plans and reviews

THREAD_CLI_TIMEOUT = 30.0


async def invoke_in_thread(*args: Any, key: str = KEY) -> Any:
    """`bulkcc ARGS` through click's runner in a worker thread: a simulator on this loop keeps answering."""
    from click.testing import CliRunner

    from bulkcc.cli import main

    call = asyncio.to_thread(CliRunner().invoke, main, [str(a) for a in args], env={"DIALPAD_API_KEY": key})
    return await asyncio.wait_for(call, THREAD_CLI_TIMEOUT)


def edit_sheet(path: Path, cells: dict[tuple[int, str], Any], name: str = "edited.xlsx",
               sheet_name: str = "callcenters") -> Path:
    """A copy of a workbook with cells {(excel row, column name): value} of one sheet set, as an admin
    would in Excel."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    sheet = workbook[sheet_name]
    header = [c.value for c in sheet[1]]
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=header.index(column) + 1).value = value
    edited = path.with_name(name)
    workbook.save(edited)
    return edited


