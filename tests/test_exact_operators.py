"""An agent list is exact, and only exact: --exact-operators never removes a user a row names, valid or
not, and the Operators sheet of the results is a faithful input (fed back, it never undoes the run).

Against a small stateful API on loopback (`creates_api.CallCenterApi`: its operators are the witness
of the state reached, its log of what was sent).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from creates_api import CallCenterApi
from openpyxl import Workbook
from support import fast_retries, invoke_in_thread, options

from bulkcc.errors import EXIT_INVALID, EXIT_OK
from bulkcc.run.apply import apply_async

pytestmark = pytest.mark.timeout(60)

OFFICE = 124


def _api(live: dict[int, dict[int, str]]) -> CallCenterApi:
    api = CallCenterApi()
    for cc_id, users in live.items():
        api.store[cc_id] = {"id": cc_id, "name": f"Center {cc_id}", "office_id": OFFICE}
        api.operators[cc_id] = {user: {"role": role, "skill_level": 50} for user, role in users.items()}
    return api


def _sheet(path: Path, rows: list[list], columns: tuple[str, ...] = ("call_center_id", "user_id", "role")) -> Path:
    """A workbook whose callcenters sheet has one row per center (by id) and whose operators sheet has
    `columns` (no remove column, as many hand-made sheets)."""
    workbook = Workbook()
    centers = workbook.active
    centers.title = "callcenters"
    centers.append(["id", "name"])
    for cc_id in sorted({row[0] for row in rows if str(row[0]).isdigit()}):
        centers.append([str(cc_id), f"Center {cc_id}"])
    ops = workbook.create_sheet("operators")
    ops.append(list(columns))
    for row in rows:
        ops.append([str(v) if isinstance(v, int) else v for v in row])
    workbook.save(path)
    return path


def _opts(tmp_path: Path, api: CallCenterApi, name: str, **kwargs) -> object:
    return options(tmp_path / name, api.base_url, retry_policy=fast_retries, diff=True, **kwargs)


def _live(api: CallCenterApi) -> dict[int, dict[int, str]]:
    return {cc: {u: op["role"] for u, op in users.items()} for cc, users in api.operators.items()}


async def test_a_center_with_an_invalid_operator_row_gets_no_exact_removals_and_the_plan_says_why(tmp_path):
    live = {1001: {501: "operator", 502: "supervisor", 503: "operator"}, 1002: {601: "operator", 602: "operator"}}
    rows = [[1001, 501, "operator"], [1001, 502, "supervisr"],  # a typo: the row is invalid, 502 is listed
            [1002, 601, "operator"]]
    book = _sheet(tmp_path / "agents.xlsx", rows)
    async with _api(live) as api:
        planned = await invoke_in_thread("plan", book, "--diff", "--exact-operators", "--skip-invalid",
                                         "--base-url", api.base_url)
        outcome = await apply_async(book, _opts(tmp_path, api, "r.xlsx", exact_operators=True, skip_invalid=True))
        assert _live(api) == {1001: live[1001], 1002: {601: "operator"}}  # 602 removed; nobody from 1001
        assert outcome.exit_code == EXIT_INVALID  # the invalid row
        assert [(r.row, r.status) for r in outcome.operator_results] == [
            (2, "unchanged"), (3, "invalid"), (4, "unchanged"), (None, "removed")]
    assert ("--exact-operators, call center 1001: 2 operators of 'Center 1001' that the sheet does not list are "
            "not removed in this run: operators row 3 is invalid, so whom it lists is not known") in planned.stdout
    assert "remove user 602 from 'Center 1002'" in planned.stdout and "remove user 50" not in planned.stdout


async def test_an_invalid_row_that_does_not_say_its_center_holds_back_every_exact_removal(tmp_path):
    live = {1001: {501: "operator", 502: "operator"}, 1002: {601: "operator", 602: "operator"}}
    rows = [[1001, 501, "operator"], ["ten-oh-one", 502, "operator"], [1002, 601, "operator"]]
    async with _api(live) as api:
        outcome = await apply_async(_sheet(tmp_path / "agents.xlsx", rows),
                                    _opts(tmp_path, api, "r.xlsx", exact_operators=True, skip_invalid=True))
        assert _live(api) == live and api.count("DELETE") == 0
    assert [r.status for r in outcome.operator_results] == ["unchanged", "invalid", "unchanged"]


async def test_the_operators_results_sheet_fed_back_redoes_a_failed_removal_and_never_undoes_one(tmp_path):
    """A sheet with no remove column: --exact-operators removes the supervisor it leaves out, which fails
    first. The Operators sheet writes that removal with remove TRUE, so --only-failed sends it again (not
    `unchanged`), and the results of that run, fed back with or without --diff, change nothing."""
    live = {1001: {501: "operator", 502: "supervisor", 503: "operator"}}
    book = _sheet(tmp_path / "agents.xlsx", [[1001, 501, "operator"], [1001, 503, "operator"]])
    async with _api(live) as api:
        api.refuse_remove[502] = (409, "busy: try again")
        first = await apply_async(book, _opts(tmp_path, api, "r1.xlsx", exact_operators=True))
        assert [(r.row, r.status, r.user_id) for r in first.operator_results][-1] == (None, "failed", 502)
        assert _live(api) == live

        del api.refuse_remove[502]
        again = await apply_async(tmp_path / "r1.xlsx", _opts(tmp_path, api, "r2.xlsx", exact_operators=True,
                                                             only_failed=True))
        assert again.exit_code == EXIT_OK, again.operator_results
        assert [r.status for r in again.operator_results] == ["unchanged", "unchanged", "removed"]
        assert _live(api) == {1001: {501: "operator", 503: "operator"}}

        writes = len([b for b in api.bodies if b[0] in ("POST", "DELETE")])
        for n, extra in enumerate(({"diff": True}, {"diff": False})):
            fed = await apply_async(tmp_path / "r2.xlsx", options(tmp_path / f"r3-{n}.xlsx", api.base_url,
                                                                   retry_policy=fast_retries, **extra))
            assert fed.exit_code == EXIT_OK, fed.operator_results
            assert _live(api) == {1001: {501: "operator", 503: "operator"}}  # 502 is not added back
        # Without --diff the adds and the removal are sent, and each is read back as already done.
        assert {r.status for r in fed.operator_results} == {"unchanged"}
        assert len([b for b in api.bodies if b[0] == "POST" and "/operators" in b[1]]) == 2
        assert writes + 3 == len([b for b in api.bodies if b[0] in ("POST", "DELETE")])
