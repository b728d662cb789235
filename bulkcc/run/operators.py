"""Talking to the operator endpoints: reading live operators, and sending operator changes.

Everything goes through the run's one client, so operator reads and writes share
the pacer (and the company's budget of 1200/min, 20/s) with every other call.

Reads: one `GET /api/v2/callcenters/{id}/operators` per center and, where the
plan needs it, one `GET …/operators/{user}/skill` per operator. An answer is
believed only if it reads whole (users a list, each with an id); the role of a
user is its `group_details` entry for that center.

Writes are verified like PATCHes are: an add or a removal must answer with the
user asked for, a skill change with the level sent; otherwise `mismatch`. Two
answers are not taken at their word:
- an error (4xx) to an add: the center's operators are read back. A user already
  there with the row's role (and skill level, which is set if it differs) is
  `unchanged` (or `updated`), saying so; with another role it is `failed`, since
  no endpoint changes a role. An error to a removal is `unchanged` only if the
  user is, read back, not an operator.
- a license error (no call center license available; any 4xx, a 403 included,
  which the client does not take for a refused key) is `failed` in plain words
  and never retried: it holds until a license is freed or bought.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkcc.operator_fields import SKILL_MAX, SKILL_MIN, OperatorRow
from bulkcc.plan.operators import (
    ADD,
    REMOVE,
    SKILL,
    CenterIndex,
    CenterLive,
    LiveOperator,
    OperatorPlan,
    OperatorRequest,
    centers_to_read,
    operators_path,
    plan_operators,
    skill_path,
    skills_to_read,
    with_skills,
)
from bulkcc.plan.payload import wire_int
from bulkcc.run.answers import answer_id, kind_of, shown
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult, is_license_error
from bulkcc.send.pool import get_call, run_pool
from bulkcc.status import Status
from bulkcc.workbook.operator_results import OperatorResult

LICENSE_MESSAGE = ("no call center license is available: free one or buy more, then re-run with --only-failed "
                   "(the API said: {error})")


@dataclass(frozen=True)
class _Get:
    """A GET the pool sends (it needs a path and a body)."""

    path: str
    key: Any
    body: Mapping[str, Any] = field(default_factory=dict)


# ---- reading -------------------------------------------------------------------


def parse_operators(data: Any, center_id: int) -> CenterLive | str:
    """A center's operators from the list answer, or why the answer cannot be believed."""
    if not isinstance(data, Mapping):
        return f"the answer is {kind_of(data)}, not a list of operators"
    users = data.get("users")
    if users is None:
        users = []  # the schema allows a null list: no users
    if not isinstance(users, list):
        return f"its users are {kind_of(users)}, not a list"
    if data.get("cursor"):
        # The spec's list has no pages: one that has more is not whole, and an operator missing from an
        # export would be removed by --exact-operators when it is applied.
        return (f"it gives a cursor ({shown(data.get('cursor'))}), as if it had more pages, which the operators "
                "list does not have: it cannot be read whole")
    operators: dict[int, LiveOperator] = {}
    for position, user in enumerate(users, start=1):
        user_id = answer_id(user.get("id")) if isinstance(user, Mapping) else None
        if user_id is None:
            what = shown(user.get("id")) if isinstance(user, Mapping) else kind_of(user)
            return f"user {position} of the list has no usable id ({what})"
        role = _role_in(user, center_id)
        if user_id in operators and operators[user_id].role != role:
            # Which role is live is then a guess: an export would write one, and --diff compare with it.
            return (f"user {user_id} is listed twice, as {operators[user_id].role or 'no role'} and as "
                    f"{role or 'no role'}")
        emails = user.get("emails")
        email = next((e for e in emails if isinstance(e, str) and e.strip()), None) if isinstance(emails, list) \
            else None
        name = user.get("display_name")
        operators[user_id] = LiveOperator(user_id, role, email=email.strip() if email else None,
                                          name=name.strip() if isinstance(name, str) and name.strip() else None)
    rooms = data.get("rooms")
    return CenterLive(center_id, operators, len(rooms) if isinstance(rooms, list) else 0)


def _role_in(user: Mapping[str, Any], center_id: int) -> str | None:
    details = user.get("group_details")
    for entry in details if isinstance(details, list) else ():
        if isinstance(entry, Mapping) and answer_id(entry.get("group_id")) == center_id:
            role = entry.get("role")
            return role if isinstance(role, str) and role else None
    return None


def parse_skill(data: Any, center_id: int, user_id: int) -> int | str:
    """The skill level from a skill answer, or why the answer cannot be believed."""
    if not isinstance(data, Mapping):
        return f"the answer is {kind_of(data)}, not a skill level"
    for key, expected in (("user_id", user_id), ("call_center_id", center_id)):
        if data.get(key) is not None and answer_id(data.get(key)) != expected:
            return f"the answer is for {key} {shown(data.get(key))}, not {expected}"
    level = wire_int(data.get("skill_level"))
    if level is None or not SKILL_MIN <= level <= SKILL_MAX:
        return f"its skill_level {shown(data.get('skill_level'))} is not a level of {SKILL_MIN}-{SKILL_MAX}"
    return level


@dataclass
class OperatorReads:
    """What the operator reads gave: each center's operators, skill levels, and the reads that failed."""

    centers: dict[int, CenterLive] = field(default_factory=dict)
    skills: dict[tuple[int, int], int] = field(default_factory=dict)
    failures: dict[int, ApiResult] = field(default_factory=dict)  # center id -> its failed read
    skill_failures: dict[tuple[int, int], ApiResult] = field(default_factory=dict)
    started_at: list[float] = field(default_factory=list)

    def unreadable(self) -> dict[int, str]:
        """By center id, why its operators (or a skill level of one of them) could not be read."""
        why = {c: r.error or f"HTTP {r.http_status}" for c, r in self.failures.items()}
        for (center_id, user_id), result in self.skill_failures.items():
            why.setdefault(center_id, f"the skill level of user {user_id}: {result.error or result.http_status}")
        return why

    def readable(self) -> dict[int, CenterLive]:
        """The centers read whole (every skill level asked for included), skill levels filled in."""
        bad = {c for c, _ in self.skill_failures}
        return with_skills({c: live for c, live in self.centers.items() if c not in bad}, self.skills)

    def plan(self, rows: Sequence[OperatorRow], index: CenterIndex, *, exact: bool,
             held: Mapping[int | None, str] | None = None) -> OperatorPlan:
        """The --diff plan of `rows` against what was read (`held`: see `plan_operators`)."""
        return plan_operators(rows, index, live=self.readable(), unreadable=self.unreadable(), exact=exact,
                              held=held)


def _believed(result: ApiResult, parse: Callable[[Any], Any]) -> tuple[ApiResult, Any]:
    if not result.ok:
        return result, None
    parsed = parse(result.data)
    if isinstance(parsed, str):
        result.ok, result.error = False, f"the API answered, but {parsed}"
        return result, None
    return result, parsed


async def read_centers(client: ApiClient, center_ids: Sequence[int], reads: OperatorReads, *, concurrency: int,
                       stop: asyncio.Event, progress: QuietProgress | None = None) -> None:
    """One GET of operators per center, into `reads`."""
    await _read_each(client, [_Get(operators_path(c), c) for c in center_ids],
                     lambda item, data: parse_operators(data, item.key), reads.centers, reads.failures, reads,
                     concurrency=concurrency, stop=stop, progress=progress)


async def read_skills(client: ApiClient, pairs: Sequence[tuple[int, int]], reads: OperatorReads, *,
                      concurrency: int, stop: asyncio.Event, progress: QuietProgress | None = None) -> None:
    """One GET of the skill level per (center, user), into `reads`."""
    await _read_each(client, [_Get(skill_path(c, u), (c, u)) for c, u in pairs],
                     lambda item, data: parse_skill(data, *item.key), reads.skills, reads.skill_failures, reads,
                     concurrency=concurrency, stop=stop, progress=progress)


async def _read_each(client: ApiClient, items: Sequence[_Get], parse: Callable[[_Get, Any], Any],
                     found: dict[Any, Any], failures: dict[Any, ApiResult], reads: OperatorReads, *,
                     concurrency: int, stop: asyncio.Event, progress: QuietProgress | None) -> None:
    """One GET per item; what `parse` believes of an answer goes into `found`, the rest into `failures`."""
    progress = progress or QuietProgress()

    def on_result(item: _Get, result: ApiResult) -> None:
        result, value = _believed(result, lambda data: parse(item, data))
        reads.started_at.extend(result.started_at)
        if value is not None:
            found[item.key] = value
        else:
            failures[item.key] = result
        progress.advance("read" if value is not None else "failed", result.started_at)

    await run_pool(client, items, get_call, on_result, concurrency=concurrency, stop=stop)


async def read_operator_state(client: ApiClient, label: str, rows: Sequence[OperatorRow], index: CenterIndex,
                              reads: OperatorReads, *, exact: bool, concurrency: int, progress: QuietProgress,
                              stop: asyncio.Event) -> None:
    """What --diff needs of `rows`: each named center's operators, then the skill levels the plan compares
    or must restore (`skills_to_read`), into `reads` (kept when stopped part way)."""
    await read_centers_then_skills(client, label, centers_to_read(rows, index), reads,
                                   lambda: skills_to_read(rows, index, reads.centers, exact=exact),
                                   concurrency=concurrency, progress=progress, stop=stop)


async def read_centers_then_skills(client: ApiClient, label: str, centers: Sequence[int], reads: OperatorReads,
                                   skills: Callable[[], Sequence[tuple[int, int]]], *, concurrency: int,
                                   progress: QuietProgress, stop: asyncio.Event) -> None:
    """Two phases into `reads`: the operators of `centers`, then the skill levels of the (center, user)
    pairs `skills` names once those are known; none of them when no center is to be read."""
    if not centers:
        return
    progress.start(len(centers), label, phase="reading operators")
    try:
        await read_centers(client, centers, reads, concurrency=concurrency, stop=stop, progress=progress)
    finally:
        progress.close()
    pairs = skills()
    if pairs and not stop.is_set():
        progress.start(len(pairs), label, phase="reading skills")
        try:
            await read_skills(client, pairs, reads, concurrency=concurrency, stop=stop, progress=progress)
        finally:
            progress.close()


# ---- writing -------------------------------------------------------------------


@dataclass
class _Job:
    """A request in the pool, and what its call decided (None: the call never finished deciding)."""

    request: OperatorRequest
    verdict: OperatorResult | None = None
    started_at: list[float] = field(default_factory=list)  # of every call it made, read-backs included


def _result(request: OperatorRequest, status: Status, api: ApiResult | None = None, error: str | None = None,
            attempts: int | None = None) -> OperatorResult:
    return OperatorResult(
        row=request.row, status=status, http_status=api.http_status if api else None,
        attempts=(api.attempts if api else 0) if attempts is None else attempts, error=error,
        duration_ms=api.duration_ms if api else None, action=request.describe(),
        call_center_id=request.center.id, user_id=request.user_id)


def verify(request: OperatorRequest, answer: Any) -> str | None:
    """Why a 2xx answer does not show the change made, or None when it does."""
    if not isinstance(answer, Mapping):
        return f"its answer is {kind_of(answer)}"
    if request.kind == SKILL:
        level = wire_int(answer.get("skill_level"))
        if level != request.body.get("skill_level"):
            return f"its answer shows skill level {shown(answer.get('skill_level'))}, not {request.body['skill_level']}"
        got = answer.get("user_id")
        if got is not None and answer_id(got) != request.user_id:
            return f"its answer is for user {shown(got)}, not {request.user_id}"
        return None
    got = answer.get("id")
    if answer_id(got) != request.user_id:
        return f"its answer is user {shown(got)}, not {request.user_id}" if got is not None else \
            "its answer names no user"
    role = request.body.get("role")
    answered = _role_in(answer, request.center.id) if request.kind == ADD and request.center.id else None
    if role is not None and answered is not None and answered != role:
        return f"its answer shows user {request.user_id} as {shown(answered)} in that call center, not {role}"
    return None


def _is_error_answer(api: ApiResult) -> bool:
    """A 4xx the API gave (the request itself refused): worth a read back; 429s were retried already."""
    return api.http_status is not None and 400 <= api.http_status < 500 and api.http_status != 429


async def _call(client: ApiClient, job: _Job, stop: asyncio.Event) -> ApiResult:
    request = job.request
    api = await client.call(request.method, request.path, dict(request.body), stop=stop)
    job.started_at.extend(api.started_at)
    if api.ok:
        problem = verify(request, api.data)
        ok_status = {ADD: Status.ADDED, REMOVE: Status.REMOVED, SKILL: Status.UPDATED}[request.kind]
        job.verdict = _result(request, ok_status, api) if problem is None else \
            _result(request, Status.MISMATCH, api, f"the API accepted, but {problem}")
    elif api.attempts == 0:
        job.verdict = _result(request, Status.NOT_SENT, api, api.error)
    elif _is_error_answer(api) and is_license_error(api.error):
        job.verdict = _result(request, Status.FAILED, api, LICENSE_MESSAGE.format(error=api.error))
    elif _is_error_answer(api) and request.kind in (ADD, REMOVE):
        job.verdict = await _read_back(client, job, api, stop)
    else:
        job.verdict = _result(request, Status.FAILED, api, api.error)
    return api


async def _read_back(client: ApiClient, job: _Job, api: ApiResult, stop: asyncio.Event) -> OperatorResult:
    """After an error to an add or a removal: is the operator, read back, already as the row wants?"""
    request = job.request
    center_id = request.center.id
    assert center_id is not None  # only resolved requests are sent
    listed = await client.call("GET", operators_path(center_id), stop=stop)
    job.started_at.extend(listed.started_at)
    listed, live = _believed(listed, lambda data: parse_operators(data, center_id))
    if live is None:
        return _result(request, Status.FAILED, api, f"{api.error} (reading the operators back to see why failed: "
                                                    f"{listed.error})")
    current = live.operators.get(request.user_id)
    label = request.center.label
    # An attempt before the last went unanswered (timeout, 5xx): it may be what took effect.
    earlier = (f"an earlier attempt went unanswered but took effect: read back, user {request.user_id} is "
               f"{'not ' if request.kind == REMOVE else ''}an operator of {label} ({api.error})")
    if request.kind == REMOVE:
        if current is None and api.attempts > 1:
            return _result(request, Status.REMOVED, api, earlier)
        if current is None:
            return _result(request, Status.UNCHANGED, api, f"user {request.user_id} was not an operator of {label}: "
                                                           f"nothing to remove ({api.error})")
        return _result(request, Status.FAILED, api, api.error)
    if current is None:
        return _result(request, Status.FAILED, api, api.error)
    role = request.body.get("role")
    if api.attempts > 1 and (role is None or current.role == role):
        return _result(request, Status.ADDED, api, earlier)
    if role is not None and current.role != role:
        return _result(request, Status.FAILED, api, (
            f"user {request.user_id} is already an operator of {label} as {current.role or 'an unknown role'}, "
            f"the row says {role}: no API endpoint changes an operator's role ({api.error})"))
    already = f"user {request.user_id} is already {current.role or 'an operator'} in {label}"
    if "skill_level" not in request.body:
        return _result(request, Status.UNCHANGED, api, f"{already}: nothing changed ({api.error})")
    return await _converge_skill(client, job, api, already, stop)


async def _converge_skill(client: ApiClient, job: _Job, api: ApiResult, already: str,
                          stop: asyncio.Event) -> OperatorResult:
    """An add of an operator already there: its skill level is read, and set when it differs."""
    request = job.request
    assert request.center.id is not None
    center_id, user_id, wanted = request.center.id, request.user_id, request.body["skill_level"]
    got = await client.call("GET", skill_path(center_id, user_id), stop=stop)
    job.started_at.extend(got.started_at)
    got, level = _believed(got, lambda data: parse_skill(data, center_id, user_id))
    if level is None:
        return _result(request, Status.FAILED, api, f"{already}, and its skill level could not be read: {got.error}")
    if level == wanted:
        return _result(request, Status.UNCHANGED, api, f"{already}, skill {level}: nothing changed")
    patch = await client.call("PATCH", skill_path(center_id, user_id), {"skill_level": wanted}, stop=stop)
    job.started_at.extend(patch.started_at)
    attempts = api.attempts + patch.attempts
    if not patch.ok:
        return _result(request, Status.FAILED, patch, f"{already}; setting its skill level {level} → {wanted} "
                                                      f"failed: {patch.error}", attempts=attempts)
    skill = OperatorRequest(SKILL, request.center, user_id, {"skill_level": wanted}, request.row)
    problem = verify(skill, patch.data)
    if problem is not None:
        return _result(request, Status.MISMATCH, patch, f"{already}; the API accepted skill level {wanted}, but "
                                                        f"{problem}", attempts=attempts)
    return _result(request, Status.UPDATED, patch, f"{already}: its skill level was set, {level} → {wanted}",
                   attempts=attempts)


OnOperatorResult = Callable[[OperatorResult, list[float]], None]


async def send_requests(client: ApiClient, requests: Sequence[OperatorRequest], on_result: OnOperatorResult, *,
                        concurrency: int, stop: asyncio.Event) -> None:
    """Send each request (resolved: its center's id known) through the pool; `on_result` gets each
    outcome and the start times of every call made for it. Raises RunStopped like the pool."""

    def finished(job: _Job, api: ApiResult) -> None:
        if job.verdict is None:  # the call raised (a refused key, a spent budget) with this result
            status = Status.NOT_SENT if api.attempts == 0 else Status.FAILED
            job.verdict = _result(job.request, status, api, api.error)
            job.started_at = job.started_at or list(api.started_at)
        on_result(job.verdict, job.started_at)

    await run_pool(client, [_Job(r) for r in requests], _call, finished, concurrency=concurrency, stop=stop)
