"""Names looked up: the decisions (pure, over a Directory made by hand), the look-ups' cost against the
simulator, and what a hostile server's answers can and cannot make bulkcc believe.

The run-level flows against the simulator are in test_lookups_apply.py.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openpyxl import Workbook
from support import ScriptedApi, api_client, options

from bulkcc.errors import EXIT_USAGE, InvalidRowsError, LiveStateError
from bulkcc.operator_fields import email_key
from bulkcc.plan.directory import Suggestions, office_of
from bulkcc.plan.lookups import Center, Directory, Office, User, Wanted, resolve, wanted
from bulkcc.run.apply import apply_async
from bulkcc.run.resolve import read_directory
from bulkcc.sim.server import Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.validate.validation import Validation, validate_sheet
from bulkcc.workbook.opsheet import build_operator_sheet
from bulkcc.workbook.reader import _build_sheet

pytestmark = pytest.mark.timeout(30)

KEY = "lookups-unit-key"
PATH = Path("book.xlsx")
OPS = ["call_center_id", "call_center_name", "user_id", "user_email"]


def _validation(centers: list[list[Any]], operators: list[list[Any]] | None = None) -> Validation:
    return validate_sheet(_build_sheet(PATH, "callcenters", centers),
                          operators=build_operator_sheet(PATH, [OPS, *operators]) if operators else None)


def _problems(validation: Validation) -> dict[tuple[str | None, int | None, str | None], str]:
    found = {(p.sheet, p.row, p.column): p.message for p in validation.problems}
    if validation.operators is not None:
        found.update({(p.sheet, p.row, p.column): p.message for p in validation.operators.problems})
    return found


# ---- the decisions ------------------------------------------------------------------------------


def test_a_create_s_name_live_in_another_office_is_ambiguous_in_its_own_office_it_is_the_create_s() -> None:
    sheet = _validation([["id", "name", "office_id"], [None, "Support", "7"], [None, "Sales", "7"]],
                        [[None, "support", "1", None], [None, "SALES", "2", None]])
    live = [Center(100, "Support", office_id=8), Center(101, "Sales ", office_id=7)]
    resolution = resolve(sheet, Directory(centers=live))
    problems = _problems(resolution.validation)
    assert problems == {("operators", 2, "call_center_name"): (
        "call_center_name 'support' names 2 call centers (the call center created by callcenters row 2; live call "
        "center 100 in office 8): which one is meant is not known; use call_center_id, or give the call centers "
        "distinct names")}
    # Live in the create's own office: the create is refused as a clash by the run, and its agents wait on it.
    assert resolution.validation.operators.center_rows == {3: 3}


def test_a_name_of_an_update_row_is_that_center_live_or_renamed_and_another_live_one_is_ambiguous() -> None:
    sheet = _validation([["id", "name"], ["5", "Sales"], ["6", "Renamed"]],
                        [[None, "sales", "1", None], [None, "Old name", "2", None], [None, "Renamed", "3", None]])
    directory = Directory(centers=[Center(5, "SALES"), Center(6, "Old Name"), Center(7, "renamed")])
    resolved = resolve(sheet, directory).validation
    assert set(_problems(resolved)) == {("operators", 4, "call_center_name")}  # 'Renamed': row 3's 6, and live 7
    assert [(r.excel_row, r.call_center_id, r.call_center_name) for r in resolved.operators.rows] == [
        (2, None, "sales"), (3, 6, "Old name")]  # 6 is live as "Old Name" (the sheet renames it: still 6)
    assert resolved.operators.center_rows == {2: 2}


def test_names_written_two_ways_are_one_name_and_emails_only_differ_by_case_and_outer_blanks() -> None:
    nfd = unicodedata.normalize("NFD", "Café Köln")
    sheet = _validation([["id", "name", "office_name"], [None, "New", f"  {nfd}  "]],
                        [["1001", None, None, " Anna@Example.COM "], ["1001", None, None, "anna@example.com."]])
    directory = Directory(users={"anna@example.com": [User(42, ("anna@example.com",), "Anna")],
                                 "anna@example.com.": []},
                          offices=[Office(9, "café  KÖLN", "active")])
    resolution = resolve(sheet, directory)
    assert resolution.validation.typed.at[2, "office_id"] == 9
    assert [(r.excel_row, r.user_id, r.user_email) for r in resolution.validation.operators.rows] == [
        (2, 42, "Anna@Example.COM")]
    assert "'anna@example.com.' is the email of no user" in _problems(resolution.validation)[
        ("operators", 3, "user_email")]  # nothing looser than case: a trailing dot is another address


def test_users_and_offices_that_give_no_one_thing_are_errors_that_say_why() -> None:
    sheet = _validation([["id", "name", "office_name"], [None, "A", "Twice"], [None, "B", "Gone"],
                         [None, "C", "Berln"]],
                        [["1001", None, None, "two@x.io"], ["1001", None, None, "old@x.io"],
                         ["1001", None, None, "back@x.io"]])
    directory = Directory(
        users={"two@x.io": [User(1, ("two@x.io",)), User(2, ("Two@x.io",), state="pending")],
               "old@x.io": [User(3, ("old@x.io",), "Old Timer", "deleted")],
               # A deleted user whose address a new one took: the active one, not a guess.
               "back@x.io": [User(4, ("back@x.io",), state="deleted"), User(5, ("back@x.io",), state="active")]},
        offices=[Office(1, "Twice"), Office(2, "twice"), Office(3, "Gone", "cancelled"), Office(4, "Berlin")])
    resolution = resolve(sheet, directory)
    problems = _problems(resolution.validation)
    assert problems[(None, 2, "office_name")].startswith("office_name 'Twice' names 2 offices (1, 2)")
    assert problems[(None, 3, "office_name")] == ("office_name 'Gone': office 3 is cancelled; a call center cannot "
                                                   "be created there")
    assert "did you mean 'Berlin'?" in problems[(None, 4, "office_name")]
    assert problems[("operators", 2, "user_email")].startswith("user_email 'two@x.io' is the email of 2 users (1, 2)")
    assert "user 3 (Old Timer) is deleted" in problems[("operators", 3, "user_email")]
    assert [(r.excel_row, r.user_id) for r in resolution.validation.operators.rows] == [(4, 5)]


@pytest.mark.timeout(20)
def test_close_names_cost_each_distinct_name_once_and_a_bounded_amount_in_all() -> None:
    # A mistyped domain on every row of a big company's sheet: difflib, at ~50 µs a comparison, took a
    # second per row and hundreds of rows, with nothing on the screen.
    company = [f"first{n}.last{n}@company.com" for n in range(5000)]
    typed = [f"first{n}.last{n}@company.co" for n in range(150)] * 2 + ["first7.last7@company.com\u200b"]
    sheet = _validation([["id"]], [[str(1001 + row // 150), None, None, email] for row, email in enumerate(typed)])
    users = {email_key(e): [] for e in typed}
    directory = Directory(users=users, all_emails=company, users_by="listing", suggestions=Suggestions(work=10_000))
    problems = _problems(resolve(sheet, directory).validation)
    hints = [("did you mean" in problems[("operators", row, "user_email")]) for row in range(2, 2 + len(typed))]
    # The first two distinct names fill the budget (2 x 5,000 compared), their repeats cost nothing; a name
    # only an invisible character sets apart is offered its match whatever is left.
    assert hints == [True, True] + [False] * 148 + [True, True] + [False] * 148 + [True]
    assert "did you mean 'first0.last0@company.com'" in problems[("operators", 2, "user_email")]
    assert problems[("operators", 302, "user_email")].endswith(
        ": did you mean 'first7.last7@company.com' (it differs only in invisible characters)? If not, type the "
        "email the user signs in with, or use user_id")


def test_a_name_typed_in_an_id_column_is_told_the_column_it_goes_in() -> None:
    sheet = _validation([["id", "name", "office_id"], [None, "New", "DACH"]],
                        [["Support Berlin", None, "anna@x.io", None], ["1001", None, "12a", None]])
    problems = _problems(sheet)
    assert problems[(None, 2, "office_id")] == ("'DACH' is not a whole number; to give the office by its name, use "
                                                "office_name instead of office_id")
    assert problems[("operators", 2, "call_center_id")].endswith(
        "; to give the call center by its name, use call_center_name instead of call_center_id")
    assert problems[("operators", 2, "user_id")].endswith("; to give the user by email, use user_email instead of "
                                                          "user_id")
    assert problems[("operators", 3, "user_id")] == (  # an id mistyped
        "'12a' is not a whole number; user_id takes an id: a whole number of 1 to 19 digits")


def test_one_user_by_id_and_by_email_for_one_center_is_one_operator_twice() -> None:
    sheet = _validation([["id", "name"]], [["1001", None, "42", None], ["1001", None, None, "anna@x.io"]])
    resolution = resolve(sheet, Directory(users={"anna@x.io": [User(42, ("anna@x.io",))]}))
    problems = _problems(resolution.validation)
    assert set(problems) == {("operators", 2, "user_id"), ("operators", 3, "user_email")}
    assert "user 42 is listed more than once for call center 1001 (also in row 3, once looked up)" in problems[
        ("operators", 2, "user_id")]
    # The center named by the name of a callcenters row that has its id, on one row: that center too.
    sheet = _validation([["id", "name"], ["1001", "Support"]],
                        [[None, "support", "42", None], ["1001", None, None, "anna@x.io"]])
    resolution = resolve(sheet, Directory(users={"anna@x.io": [User(42, ("anna@x.io",))]},
                                          centers=[Center(1001, "Support")]))
    assert set(_problems(resolution.validation)) == {("operators", 2, "user_id"), ("operators", 3, "user_email")}


def test_what_the_sheet_needs_looked_up_and_what_waits_without_a_directory() -> None:
    sheet = _validation([["id", "name", "office_name"], [None, "A", "Berlin"], ["7", "Sales", None]],
                        [["1001", None, None, "a@x.io"], [None, "Sales", "5", None], [None, "Live", "6", None],
                         ["1002", None, None, "A@X.IO"]])
    want = wanted(sheet)
    assert (dict(want.emails), want.offices, want.centers) == ({"a@x.io": "a@x.io"}, True, True)
    offline = resolve(sheet, Directory())
    assert offline.waiting == 4 and offline.found == []  # the office row, two email rows, the live name
    assert [r.excel_row for r in offline.validation.operators.rows] == [3]  # 'Sales' is the sheet's row 3
    assert not wanted(_validation([["id"], ["1"]], [["1001", None, "5", None]]))


# ---- what the look-ups cost, against the simulator -------------------------------------------------


@pytest.mark.parametrize(("users", "emails", "expected", "least"), [
    (500, 1, {"email look-up": 1}, 1),  # one email: one look-up
    (50, 3, {"user page": 1}, 1),  # a small company: one page holds them all
    (500, 30, {"user page": 5}, 5),  # a migration: 5 pages, not 30 look-ups
    (500, 3, {"user page": 3, "email look-up": 3}, 3),  # the worst case: twice the least
])
async def test_users_cost_the_fewest_requests_or_at_worst_twice_that(users: int, emails: int,
                                                                     expected: dict[str, int], least: int) -> None:
    config = SimulatorConfig(api_key=KEY, rate_limit_per_min=600_000, users=users, seeded_operators=(0, 0))
    async with Simulator(config, store=seed_store(ids_for_demo(2), random.Random(0))) as sim:
        sheet = _validation([["id"]], [["1001", None, None, f"user{n}@example.com"] for n in range(1, emails + 1)])
        async with api_client(sim.base_url, rate=600_000, key=KEY) as client:
            directory = await read_directory(client, wanted(sheet), concurrency=8, stop=asyncio.Event())
        assert directory.requests == expected
        assert len(sim.requests) == sum(expected.values()) <= 2 * least
        assert all(len(found) == 1 for found in (directory.users or {}).values())


# ---- a hostile server ------------------------------------------------------------------------------


def _user(user_id: Any, email: str, **more: Any) -> dict[str, Any]:
    return {"id": user_id, "emails": [email], "state": "active", **more}


def _ops_book(path: Path, emails: list[str]) -> Path:
    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id"])
    sheet = workbook.create_sheet("operators")
    sheet.append(["call_center_id", "user_email"])
    for email in emails:
        sheet.append(["1001", email])
    workbook.save(path)
    return path


async def _apply(api: ScriptedApi, book: Path, tmp_path: Path, **kwargs: Any):
    # The scripts answer the look-ups and the sends: no reads before the first write for a rollback.
    kwargs.setdefault("no_rollback", True)
    return await apply_async(book, options(tmp_path / "results.xlsx", api.base_url, api_key=KEY, max_attempts=2,
                                           **kwargs))


ADD = "api/v2/callcenters/1001/operators"


async def test_a_server_that_ignores_the_email_filter_cannot_hand_over_someone_else(tmp_path: Path) -> None:
    others = {"items": [_user("7", "boss@x.io"), _user("8", "eve@x.io")]}
    async with ScriptedApi({"api/v2/users": [("json", 200, others)], ADD: [("json", 200, {"id": "7"})]}) as api:
        with pytest.raises(InvalidRowsError) as raised:
            await _apply(api, _ops_book(tmp_path / "in.xlsx", ["anna@x.io"]), tmp_path)
        assert "'anna@x.io' is the email of no user" in raised.value.validation.operators.problems[0].message
        assert ADD not in api.arrivals  # nothing was sent


async def test_two_users_of_one_email_and_server_text_in_messages_are_never_taken_at_their_word(
        tmp_path: Path) -> None:
    twins = {"items": [_user("7", "anna@x.io"), _user(8, "ANNA@x.io"),  # an int64 as a number or as a string
                       _user("9", "bob@x.io", display_name=f"Bob {KEY} \x1b[2J", state="suspended")]}
    async with ScriptedApi({"api/v2/users": [("json", 200, twins)]}) as api:
        with pytest.raises(InvalidRowsError) as raised:
            await _apply(api, _ops_book(tmp_path / "in.xlsx", ["anna@x.io", "bob@x.io"]), tmp_path)
        messages = [p.message for p in raised.value.validation.operators.problems]
        assert messages[0].startswith("user_email 'anna@x.io' is the email of 2 users (7, 8)")
        assert "user 9 (Bob **** \\x1b[2J) is suspended" in messages[1]  # the key redacted, the escape visible
        assert KEY not in " ".join(messages) and "\x1b" not in " ".join(messages)
        assert api.total == 1 and ADD not in api.arrivals  # one page held every user


async def test_a_users_listing_that_cannot_be_trusted_stops_the_run_before_anything_is_sent(
        tmp_path: Path) -> None:
    looping = {"items": [_user("7", "a@x.io")], "cursor": "again"}
    async with ScriptedApi({"api/v2/users": [("json", 200, looping)], ADD: [("json", 200, {"id": "7"})]}) as api:
        with pytest.raises(LiveStateError) as raised:
            await _apply(api, _ops_book(tmp_path / "in.xlsx", ["a@x.io", "b@x.io", "c@x.io"]), tmp_path)
        assert "listing users loops" in str(raised.value) and "nothing was sent" in str(raised.value)
        assert raised.value.exit_code == EXIT_USAGE and ADD not in api.arrivals
    async with ScriptedApi({"api/v2/users": [("json", 503, {"error": {"message": "down"}})]}) as api:
        with pytest.raises(LiveStateError) as raised:
            await _apply(api, _ops_book(tmp_path / "in2.xlsx", ["a@x.io"]), tmp_path)
        assert "HTTP 503: down" in str(raised.value) and ADD not in api.arrivals
        assert len(api.arrivals["api/v2/users"]) == 2  # retried as any read, then given up


async def test_a_user_or_an_office_listed_on_two_pages_is_one_not_two(tmp_path: Path) -> None:
    first = {"items": [_user("7", "a@x.io")], "cursor": "p2"}
    second = {"items": [_user("7", "a@x.io"), _user("8", "b@x.io")]}
    async with ScriptedApi({"api/v2/users": [("json", 200, first), ("json", 200, second)],
                            ADD: [("json", 200, _user("7", "a@x.io")), ("json", 200, _user("8", "b@x.io"))]}) as api:
        outcome = await _apply(api, _ops_book(tmp_path / "in.xlsx", ["a@x.io", "b@x.io"]), tmp_path)
        assert [r.status for r in outcome.operator_results] == ["added", "added"]
        assert [body["user_id"] for body in api.bodies[ADD]] == [7, 8]
        assert {path: len(times) for path, times in api.arrivals.items()} == {"api/v2/users": 2, ADD: 2}
    dach = {"id": "5", "name": "DACH", "state": "active"}
    pages = [("json", 200, {"items": [dach], "cursor": "p2"}),
             ("json", 200, {"items": [dach, {"id": 6, "name": "EMEA"}]})]
    async with ScriptedApi({"api/v2/offices": pages}) as api, api_client(api.base_url, key=KEY) as client:
        directory = await read_directory(client, Wanted(offices=True), concurrency=2, stop=asyncio.Event())
    assert office_of("dach", directory) == Office(5, "DACH", "active")  # not "names 2 offices (5, 5)"


def _users_api(users: list[dict[str, Any]], *, filter_by: Any = None, page: int = 100) -> Any:
    """A users endpoint whose email filter is `filter_by(stored, asked)` (None: the filter is ignored)."""
    def answer(request: web.Request) -> web.Response:
        asked = request.query.get("email")
        items = [u for u in users if asked is None or filter_by is None or any(filter_by(e, asked)
                                                                                   for e in u["emails"])]
        start = int(request.query.get("cursor", "0"))
        more = {"cursor": str(start + page)} if start + page < len(items) else {}
        return web.json_response({"items": items[start:start + page], **more})
    return answer


async def test_an_email_filter_not_applied_costs_one_listing_and_one_in_another_case_finds_its_user(
        tmp_path: Path) -> None:
    company = [_user(str(100 + n), f"u{n}@x.io") for n in range(1000)]  # 10 pages
    # The filter ignored, the whole company paged: each look-up read every page (2 of 10 pages, then 2 x 10)
    async with ScriptedApi({"api/v2/users": [("call", _users_api(company))],
                            ADD: [("json", 200, _user("101", "u1@x.io")), ("json", 200, _user("102", "u2@x.io"))]}
                           ) as api:
        outcome = await _apply(api, _ops_book(tmp_path / "in.xlsx", ["u1@x.io", "u2@x.io"]), tmp_path)
        assert [r.status for r in outcome.operator_results] == ["added", "added"]
        # 2 pages, 2 look-ups (one page each: an answer that pages is no filtered one), the 8 pages left
        assert len(api.arrivals["api/v2/users"]) == 12
    # A filter that matches case: typed in capitals, a user no look-up finds is in the listing; a typo is
    # offered the close emails (read from that listing).
    stored = [_user("7", "anna@x.io"), _user("8", "bob@x.io")]
    async with ScriptedApi({"api/v2/users": [("call", _users_api(stored, filter_by=str.__eq__))],
                            ADD: [("json", 200, _user("7", "anna@x.io"))]}) as api:
        outcome = await _apply(api, _ops_book(tmp_path / "in2.xlsx", [" Anna@X.io"]), tmp_path, restart=True)
        assert [r.status for r in outcome.operator_results] == ["added"] and api.bodies[ADD] == [{"user_id": 7}]
        with pytest.raises(InvalidRowsError) as raised:
            await _apply(api, _ops_book(tmp_path / "in3.xlsx", ["anan@x.io"]), tmp_path, restart=True)
        assert "'anan@x.io' is the email of no user of the company: did you mean 'anna@x.io'? If not, type" in (
            raised.value.validation.operators.problems[0].message)


async def test_only_failed_re_sends_its_rows_though_a_row_done_before_names_a_user_suspended_since(
        tmp_path: Path) -> None:
    state = {"7": "active"}

    def users(request: web.Request) -> web.Response:
        return web.json_response({"items": [_user("7", "a@x.io", state=state["7"]), _user("8", "b@x.io")]})

    async with ScriptedApi({"api/v2/users": [("call", users)],
                            ADD: [("json", 200, _user("7", "a@x.io")), ("json", 500, {}), ("json", 500, {}),
                                  ("json", 200, _user("8", "b@x.io"))]}) as api:
        first = await _apply(api, _ops_book(tmp_path / "in.xlsx", ["a@x.io", "b@x.io"]), tmp_path)
        assert [r.status for r in first.operator_results] == ["added", "failed"]
        state["7"] = "suspended"  # between the runs: row 2 is done, and now names a suspended user
        again = await apply_async(tmp_path / "results.xlsx", options(
            tmp_path / "again.xlsx", api.base_url, api_key=KEY, max_attempts=2, only_failed=True, no_rollback=True))
        assert [(r.row, r.status) for r in again.operator_results] == [(2, "added"), (3, "added")]
        assert api.bodies[ADD][-1] == {"user_id": 8}


async def test_a_deleted_call_center_is_no_live_one_its_name_names_the_live_one_or_none(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id"])
    sheet = workbook.create_sheet("operators")
    sheet.append(["call_center_name", "user_id"])
    sheet.append(["Support", "7"])
    sheet.append(["Old desk", "7"])
    book = tmp_path / "in.xlsx"
    workbook.save(book)
    listing = {"items": [{"id": "1001", "name": "Support", "state": "deleted", "office_id": "5"},
                         {"id": "1002", "name": "support", "state": "active", "office_id": "5"},
                         {"id": "1003", "name": "Old desk", "state": "cancelled", "office_id": "5"}]}
    add = "api/v2/callcenters/1002/operators"
    async with ScriptedApi({"api/v2/callcenters": [("json", 200, listing)], add: [("json", 200, _user("7", "a@x.io"))],
                            "*": [("json", 500, {})]}) as api:
        with pytest.raises(InvalidRowsError) as raised:
            await _apply(api, book, tmp_path)
        assert [p.message for p in raised.value.validation.operators.problems] == [
            "call_center_name 'Old desk': call center 1003 is cancelled, so no operator can be added to it; use a "
            "live call center's name or call_center_id"]
        outcome = await _apply(api, book, tmp_path, skip_invalid=True)
        assert [(r.row, r.status, r.call_center_id) for r in outcome.operator_results] == [
            (2, "added", 1002), (3, "invalid", None)]  # the deleted 1001 of that name is no second center
        assert set(api.arrivals) == {"api/v2/callcenters", add}


def test_the_confirmation_shows_each_name_beside_its_id_and_what_the_look_ups_cost() -> None:
    from dataclasses import replace

    from bulkcc.cli.apply import describe_plan
    from bulkcc.plan import make_plan
    from bulkcc.send.target import Target

    sheet = _validation([["id", "name", "office_name"], [None, "New", "berlin"]],
                        [[None, "New", None, "Anna@x.io"], ["1001", None, None, "anna@x.io "]])
    directory = Directory(users={"anna@x.io": [User(42, ("anna@x.io",), "Anna Berg")]},
                          offices=[Office(9, "Berlin")], centers=[Center(1001, "Old")],
                          requests={"email look-up": 1, "office page": 1, "call center page": 1}, users_by="email")
    resolution = resolve(sheet, directory)
    lines = describe_plan(replace(make_plan(resolution.validation), lookups=resolution),
                          Target("https://dialpad.com"))
    assert lines[1:5] == [
        "Names: looked up 1 email, 1 office name and 1 call center name in 3 requests (1 email look-up, "
        "1 office page, 1 call center page).",
        "  row 2: office_name 'berlin' → office 9 (Berlin)",
        "  operators row 2: call_center_name 'New' → the call center created by callcenters row 2",
        "  operators rows 2, 3: user_email 'Anna@x.io' → user 42 (Anna Berg)"]
    assert '  row 2: POST /api/v2/callcenters create "New" in office 9 ("berlin")' in lines
    assert "    add user 42 (anna@x.io) to call center 1001 as operator" in lines
