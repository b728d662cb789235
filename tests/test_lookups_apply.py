"""Names people use, end to end against the simulator: agents by email, offices by name, call centers by
their live name; what is never guessed stops its row; the look-ups cost the fewest requests; a saved plan
looks nothing up again.

The simulator is the witness: its company holds the state reached, its request log what was sent (every
look-up is a GET there, on the run's one pacer). Library runs (`apply_async`) on the test's loop; the CLI in
a worker thread, so the simulator keeps answering.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook
from support import options

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, InvalidRowsError
from bulkcc.run.apply import apply_async
from bulkcc.run.export import ExportQuery, export_async
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import KEY_ENV, Target
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.sim.store import OFFICE_NAMES

pytestmark = pytest.mark.timeout(60)

KEY = "lookups-test-key"
FAST = 600_000  # requests per minute: loopback only
IDS = list(ids_for_demo(5))
DACH = 5_100_000_000_000_002  # the simulator's office named "DACH"
WRITES = ("POST", "DELETE", "PATCH")
CLI_TIMEOUT_S = 30


def _sim(users: int = 500, ids: Sequence[int] = IDS) -> Simulator:
    config = SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST, random_seed=1, users=users,
                             seeded_operators=(0, 0))
    return Simulator(config, store=seed_store(ids, random.Random(0)))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """5 made-up call centers (no operators), 500 users (5 pages of 100; users 97 and 197 … are suspended)."""
    async with _sim() as simulator:
        yield simulator


def _options(sim: Simulator, results: Path, **kwargs: Any) -> Any:
    return options(results, sim.base_url, api_key=KEY, rate=FAST, concurrency=16, max_attempts=2, **kwargs)


def _book(path: Path, operators: Sequence[dict[str, Any]] = (), centers: Sequence[dict[str, Any]] = ()) -> Path:
    """A workbook: a callcenters sheet (id, name, office_name) and an operators sheet of `operators`."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(["id", "name", "office_id", "office_name"])
    for center in centers:
        sheet.append([center.get(c) for c in ("id", "name", "office_id", "office_name")])
    columns = ["call_center_id", "call_center_name", "user_id", "user_email", "role", "skill_level"]
    ops = workbook.create_sheet("operators")
    ops.append(columns)
    for row in operators:
        ops.append([row.get(c) for c in columns])
    workbook.save(path)
    return path


def _email(user: int) -> str:
    return f"user{user - USER_ID_BASE}@example.com"


def _gets(sim: Simulator) -> Counter:
    return Counter(r.path for r in sim.requests if r.method == "GET")


def _writes(sim: Simulator) -> list:
    return [r for r in sim.requests if r.method in WRITES]


async def _cli(*args: Any, key: str | None = KEY) -> Result:
    env = {KEY_ENV: key} if key else {KEY_ENV: ""}
    call = asyncio.to_thread(CliRunner().invoke, main, [str(a) for a in args], env=env)
    return await asyncio.wait_for(call, CLI_TIMEOUT_S)


def _target(sim: Simulator) -> list[str]:
    return ["--base-url", sim.base_url, "--rate-limit", str(FAST), "--concurrency", "16", "--max-attempts", "2"]


def _sheet(path: Path, name: str) -> list[dict[str, Any]]:
    rows = list(load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


# ---- the done-means runs ------------------------------------------------------------------------


async def test_thirty_agents_by_email_join_a_live_center_by_its_name_for_the_fewest_lookups(
        sim: Simulator, tmp_path: Path) -> None:
    center = IDS[2]
    name = sim.store[center]["name"]
    users = [USER_ID_BASE + n for n in range(101, 131)]
    emails = [_email(u) for u in users]
    emails[3] = f"  {emails[3].upper()} "  # typed in capitals, with blanks: the same user
    book = _book(tmp_path / "in.xlsx", [{"call_center_name": name.lower(), "user_email": e} for e in emails])

    outcome = await apply_async(book, _options(sim, tmp_path / "results.xlsx", diff=True))

    assert outcome.exit_code == EXIT_OK, outcome.message
    assert [r.status for r in outcome.operator_results] == ["added"] * 30
    assert set(sim.company.operators[center]) == set(users)
    # The fewest possible: 500 users are 5 pages (fewer than 30 look-ups by email), the 5 centers 1 page;
    # then --diff reads the center's operators once. Each name once.
    assert _gets(sim) == {"/api/v2/users": 5, "/api/v2/callcenters": 1,
                          f"/api/v2/callcenters/{center}/operators": 1}
    assert [r.path for r in _writes(sim)] == [f"/api/v2/callcenters/{center}/operators"] * 30
    assert outcome.summary.requests_sent == 5 + 1 + 1 + 30  # the look-ups count against the run's budget

    results = _sheet(tmp_path / "results.xlsx", "Operators")
    columns = list(results[0])
    for column, context in (("call_center_name", "info.call_center_id"), ("user_email", "info.user_id")):
        assert columns.index(context) == columns.index(column) + 1  # each id right beside the name it came from
    assert [(r["info.call_center_id"], r["info.user_id"]) for r in results] == [(str(center), str(u)) for u in users]
    assert "(user104@example.com)" in results[3]["action"] or "(USER104@EXAMPLE.COM)" in results[3]["action"]
    undo = _sheet(tmp_path / "results-rollback.xlsx", "agents")  # each removed again, its names beside its ids
    assert {(r["call_center_id"], r["user_id"], r["was_operator"]) for r in undo} == {(str(center), str(u), "FALSE")
                                                                                      for u in users}
    assert undo[0]["call_center_name"] == name.lower() and undo[0]["user_email"] == _email(users[0])


async def test_a_center_created_by_office_name_gets_its_agents_by_name_in_the_same_run(
        sim: Simulator, tmp_path: Path) -> None:
    users = [USER_ID_BASE + n for n in (150, 151, 152)]
    book = _book(tmp_path / "in.xlsx", centers=[{"name": "Support Graz", "office_name": " dach "}],
                 operators=[{"call_center_name": "SUPPORT  GRAZ", "user_email": _email(u), "role": "supervisor"}
                            for u in users])

    outcome = await apply_async(book, _options(sim, tmp_path / "results.xlsx"))

    assert outcome.exit_code == EXIT_OK, outcome.message
    [created] = outcome.results
    assert created.status == "created"
    assert sim.store[created.id]["office_id"] == DACH and sim.store[created.id]["name"] == "Support Graz"
    assert {u: op["role"] for u, op in sim.company.operators[created.id].items()} == dict.fromkeys(users,
                                                                                                 "supervisor")
    # 1 office page; 3 emails: the listing ran to its budget of 3 pages, went on, and was left for 3
    # look-ups by email (the worst case: twice the least); 1 center page; the create's own office check.
    assert _gets(sim) == {"/api/v2/offices": 1, "/api/v2/users": 6, "/api/v2/callcenters": 1,
                          f"/api/v2/offices/{DACH}/callcenters": 1}
    results = _sheet(tmp_path / "results.xlsx", "Results")
    assert (results[0]["office_name"], results[0]["info.office_id"]) == (" dach ", str(DACH))
    # The center created in the run: its id beside its name on the Operators sheet too.
    operators = _sheet(tmp_path / "results.xlsx", "Operators")
    assert {(r["call_center_name"], r["info.call_center_id"]) for r in operators} == {("SUPPORT  GRAZ",
                                                                                        str(created.id))}
    assert list(operators[0]).index("info.call_center_id") == list(operators[0]).index("call_center_name") + 1


async def test_an_unknown_email_an_unknown_office_and_an_ambiguous_name_stop_their_rows(
        sim: Simulator, tmp_path: Path) -> None:
    sim.store[IDS[0]]["name"] = "Twin"
    sim.store[IDS[1]]["name"] = " twin"  # another live center of the same name, written another way
    good = USER_ID_BASE + 160
    book = _book(tmp_path / "in.xlsx",
                 centers=[{"name": "Support Dahc", "office_name": "DAHC"}],
                 operators=[{"call_center_id": str(IDS[2]), "user_email": "nobody@example.com"},
                            {"call_center_name": "Twin", "user_id": str(good)},
                            {"call_center_id": str(IDS[2]), "user_email": _email(good)},
                            {"call_center_id": str(IDS[3]), "user_email": _email(USER_ID_BASE + 97)}])

    result = await _cli("apply", book, "--results", tmp_path / "results.xlsx", *_target(sim))

    assert result.exit_code == EXIT_INVALID, result.output
    text = " ".join(result.output.split())
    assert "'DAHC' names no office of the company: did you mean 'DACH'? If not, type the office's name" in text
    assert "'nobody@example.com' is the email of no user of the company" in text
    assert f"'Twin' names 2 call centers (live call center {IDS[0]} in office" in text
    assert "user 6200000000000097" in text and "is suspended" in text
    assert "error: 4 invalid rows: nothing was sent" in text
    assert _writes(sim) == []  # none at all: invalid rows stop the run

    sim.requests.clear()
    skipped = await apply_async(book, _options(sim, tmp_path / "skipped.xlsx", skip_invalid=True))
    assert skipped.exit_code == EXIT_INVALID
    assert [r.status for r in skipped.results] == ["invalid"]
    assert [r.status for r in skipped.operator_results] == ["invalid", "invalid", "added", "invalid"]
    assert [(r.method, r.path, r.body) for r in _writes(sim)] == [
        ("POST", f"/api/v2/callcenters/{IDS[2]}/operators", {"user_id": good})]  # only the row named rightly


async def test_a_saved_plan_holds_the_ids_and_their_names_and_apply_looks_nothing_up(
        sim: Simulator, tmp_path: Path) -> None:
    users = [USER_ID_BASE + n for n in (120, 121)]
    book = _book(tmp_path / "in.xlsx", centers=[{"name": "Vertrieb Linz", "office_name": "DACH"}],
                 operators=[{"call_center_name": "Vertrieb Linz", "user_email": _email(u)} for u in users]
                 + [{"call_center_name": sim.store[IDS[4]]["name"], "user_email": _email(users[0])}])
    plan_file, review = tmp_path / "plan.json", tmp_path / "review.xlsx"

    made = await _cli("plan", book, "--out", plan_file, "--report", review, *_target(sim))

    assert made.exit_code == EXIT_OK, made.output
    # 2 emails among 500 users: 2 pages of the listing, which goes on, then the 2 by email (the worst case).
    assert "Names: looked up 2 emails, 1 office name and 2 call center names in 6 requests (2 user pages, " \
           "2 email look-ups, 1 office page, 1 call center page)." in made.output
    assert "operators rows 2, 3: call_center_name 'Vertrieb Linz' → the call center created by callcenters " \
           "row 2" in made.output
    assert f"operators rows 2, 4: user_email '{_email(users[0])}' → user {users[0]} (" in made.output
    assert f'create "Vertrieb Linz" in office {DACH} ("DACH")' in made.output
    review_rows = _sheet(review, "Operators")
    assert review_rows[0]["user"] == f"{users[0]} ({_email(users[0])})"
    assert _sheet(review, "Creates")[0]["office"] == f"{DACH} (DACH)"

    document = json.loads(plan_file.read_text("utf-8"))
    for mangle in (lambda d: d["operators"]["requests"][0].update(user_email=5),
                   lambda d: next(r for r in d["requests"] if r.get("kind") == "create").update(office_name=""),
                   lambda d: d["operators"]["requests"][0].update(user_name="x")):
        edited = json.loads(json.dumps(document))
        mangle(edited)
        (tmp_path / "edited.json").write_text(json.dumps(edited), "utf-8")
        refused = await _cli("apply", tmp_path / "edited.json", "--results", tmp_path / "no.xlsx", *_target(sim))
        assert refused.exit_code == EXIT_USAGE and "is not a valid bulkcc plan" in refused.output, refused.output

    sim.requests.clear()
    sent = await _cli("apply", plan_file, "--results", tmp_path / "results.xlsx", *_target(sim))
    assert sent.exit_code == EXIT_OK, sent.output
    looked_up = {"/api/v2/users", "/api/v2/offices", "/api/v2/callcenters"}
    assert not looked_up & set(_gets(sim))  # the plan holds the ids: nothing is looked up again
    assert sorted(r.method for r in _writes(sim)) == ["POST"] * 4
    operators = _sheet(tmp_path / "results.xlsx", "Operators")
    assert [r["info.user_email"] for r in operators] == [_email(users[0]), _email(users[1]), _email(users[0])]
    created = _sheet(tmp_path / "results.xlsx", "Results")[0]  # the office's name beside its id, as planned
    assert (created["office_id"], created["info.office_name"]) == (str(DACH), "DACH")


async def test_plan_without_a_key_plans_what_the_sheet_says_and_names_the_rows_that_wait(
        sim: Simulator, tmp_path: Path) -> None:
    book = _book(tmp_path / "in.xlsx", [{"call_center_id": str(IDS[0]), "user_email": "a@example.com"},
                                        {"call_center_id": str(IDS[0]), "user_id": str(USER_ID_BASE + 5)}])
    result = await _cli("plan", book, "--out", tmp_path / "plan.json", key=None)
    assert result.exit_code == EXIT_USAGE, result.output  # --out wrote nothing: a script must not read "all good"
    assert "1 row waits for names to be looked up" in " ".join(result.output.split())
    assert "plan file not written: 1 row waits for names to be looked up" in " ".join(result.output.split())
    assert not (tmp_path / "plan.json").exists() and sim.requests == []
    assert (await _cli("validate", book, key=None)).exit_code == EXIT_OK  # a sheet of emails validates offline


async def test_invalid_names_raise_before_anything_is_sent_from_the_library_too(sim: Simulator,
                                                                              tmp_path: Path) -> None:
    book = _book(tmp_path / "in.xlsx", [{"call_center_name": "Nowhere", "user_id": str(USER_ID_BASE + 5)}])
    with pytest.raises(InvalidRowsError) as raised:
        await apply_async(book, _options(sim, tmp_path / "results.xlsx"))
    problems = raised.value.validation.operators.problems
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "call_center_name", "Nowhere")]
    assert _writes(sim) == []


async def test_export_shows_names_beside_ids_and_applied_unedited_plans_nothing(sim: Simulator,
                                                                              tmp_path: Path) -> None:
    sim.company.apply(sim.store, {"kind": "operator", "callcenter_id": IDS[0], "user_id": USER_ID_BASE + 7,
                                  "role": "operator", "skill_level": 70})
    connection = ConnectionOptions(target=Target(sim.base_url), api_key=KEY, rate_per_min=FAST, concurrency=8)
    await export_async(tmp_path / "live.xlsx", ExportQuery(), connection, operators=True)
    centers = _sheet(tmp_path / "live.xlsx", "callcenters")
    assert [(r["info.office_id"], r["info.office_name"]) for r in centers] == [
        (str(sim.store[cc]["office_id"]), OFFICE_NAMES[sim.store[cc]["office_id"]]) for cc in IDS]
    header = list(centers[0])
    assert header.index("info.office_name") == header.index("info.office_id") + 1
    [agent] = _sheet(tmp_path / "live.xlsx", "operators")
    assert (agent["user_id"], agent["user_email"], agent["info.user_email"], agent["info.call_center_name"]) == (
        str(USER_ID_BASE + 7), None, _email(USER_ID_BASE + 7), sim.store[IDS[0]]["name"])
    assert agent["info.user_name"]

    sim.requests.clear()
    outcome = await apply_async(tmp_path / "live.xlsx", _options(sim, tmp_path / "results.xlsx", diff=True))
    assert outcome.exit_code == EXIT_OK and _writes(sim) == []
    assert not {"/api/v2/users", "/api/v2/offices"} & set(_gets(sim))  # ids: nothing is looked up
