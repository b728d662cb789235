"""Creating call centers (run/creates) and deleting them on rollback (run/deletes), as library runs.

HTTP goes to a real stateful API on loopback (`creates_api.CallCenterApi`), which
can take a create and then lose its answer: the tests count what arrived and
what exists, never what our client thinks it sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from creates_api import CallCenterApi
from support import fast_retries, options, write_rows

from bulkcc.errors import EXIT_INVALID, EXIT_MAYBE_CREATED, EXIT_OK, UsageError
from bulkcc.run.apply import apply_async
from bulkcc.run.journal import journal_path
from bulkcc.workbook.created import read_created
from bulkcc.workbook.results import read_results

HEADER = ["id", "name", "office_id", "ring_seconds"]
OFFICE = 124


def creates(count: int, office: int = OFFICE, prefix: str = "Support") -> list[dict]:
    return [{"name": f"{prefix} {i:02d}", "office_id": office, "ring_seconds": 20 + i % 20} for i in range(count)]


def opts(tmp_path: Path, api: CallCenterApi, name: str = "results.xlsx", **kwargs) -> object:
    kwargs.setdefault("retry_policy", fast_retries)
    return options(tmp_path / name, api.base_url, timeout_s=kwargs.pop("timeout_s", 2.0), **kwargs)


def named_in(api: CallCenterApi, office: int = OFFICE) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for cc_id, cc in api.store.items():
        if cc["office_id"] == office:
            found.setdefault(cc["name"], []).append(cc_id)
    return found


async def test_a_workbook_creating_20_centers_ends_with_exactly_those_and_a_rerun_creates_nothing(tmp_path):
    rows = creates(20)
    book = write_rows(tmp_path / "new.xlsx", rows, header=HEADER)
    async with CallCenterApi(page_size=7) as api:
        outcome = await apply_async(book, opts(tmp_path, api))
        assert outcome.exit_code == EXIT_OK, outcome.message
        assert [r.status for r in outcome.results] == ["created"] * 20
        assert named_in(api) == {row["name"]: [r.id] for row, r in zip(rows, outcome.results, strict=True)}
        assert all(api.store[r.id]["ring_seconds"] == row["ring_seconds"]
                   for row, r in zip(rows, outcome.results, strict=True))
        assert api.count("POST") == 20
        # one paged listing of the office before sending (20 names, 7 a page: 1 page when empty)
        assert api.requests[0] == ("GET", f"/api/v2/offices/{OFFICE}/callcenters")
        # The new ids are in the Results sheet's id column.
        assert [r.id for r in read_results(tmp_path / "results.xlsx")] == [r.id for r in outcome.results]

        # A plain rerun on the same --results is refused (the journal holds the creates) ...
        with pytest.raises(UsageError, match="earlier run that finished"):
            await apply_async(book, opts(tmp_path, api))
        # ... --resume finds them done in the journal and sends nothing ...
        again = await apply_async(book, opts(tmp_path, api, resume=True))
        assert again.exit_code == EXIT_OK and [r.status for r in again.results] == ["created"] * 20
        # ... and with fresh --results the live names refuse every row before anything is sent.
        fresh = await apply_async(book, opts(tmp_path, api, name="fresh.xlsx"))
        assert fresh.exit_code == EXIT_INVALID
        assert {r.status for r in fresh.results} == {"invalid"}
        assert "already has a call center named 'Support 00'" in fresh.results[0].error
        assert api.count("POST") == 20 and len(api.store) == 20


async def test_a_name_already_live_in_the_office_refuses_the_run_before_anything_is_sent(tmp_path):
    rows = [*creates(3), {"id": 1001, "ring_seconds": 30}]
    book = write_rows(tmp_path / "new.xlsx", rows, header=HEADER)
    async with CallCenterApi() as api:
        api.store[1001] = {"id": 1001, "name": "Old", "office_id": OFFICE}
        api.store[1002] = {"id": 1002, "name": " Support 01 ", "office_id": OFFICE}  # trimmed, it is the same name
        api.store[1003] = {"id": 1003, "name": "support\u00a000", "office_id": OFFICE}  # reads as "Support 00"
        outcome = await apply_async(book, opts(tmp_path, api))
        assert outcome.exit_code == EXIT_INVALID
        assert [r.status for r in outcome.results] == ["invalid", "invalid", "not_sent", "not_sent"]
        assert "(id 1002)" in outcome.results[1].error and "--skip-invalid" in outcome.message
        # Both names are shown, the look-alike's no-break space made visible.
        assert ("already has a call center named 'support\\xa000' (id 1003), which reads as this row's 'Support 00' "
                "(they differ in blanks and case)") in outcome.results[0].error
        assert api.count("POST") == api.count("PATCH") == 0
        # With --skip-invalid the other rows go; the clashing ones never do.
        sent = await apply_async(book, opts(tmp_path, api, name="skip.xlsx", skip_invalid=True))
        assert [r.status for r in sent.results] == ["invalid", "invalid", "created", "updated"]
        assert api.count("POST") == 1 and api.count("PATCH") == 1


async def test_creates_are_sent_before_the_updates(tmp_path):
    rows = [{"id": 1001, "ring_seconds": 30}, *creates(2)]
    book = write_rows(tmp_path / "new.xlsx", rows, header=HEADER)
    async with CallCenterApi() as api:
        api.store[1001] = {"id": 1001, "name": "Old", "office_id": OFFICE}
        await apply_async(book, opts(tmp_path, api, concurrency=1))
        writes = [method for method, _ in api.requests if method in ("POST", "PATCH")]
        assert writes == ["POST", "POST", "PATCH"]


async def test_the_results_workbook_fed_back_patches_the_centers_it_created(tmp_path):
    book = write_rows(tmp_path / "new.xlsx", creates(3), header=HEADER)
    async with CallCenterApi() as api:
        first = await apply_async(book, opts(tmp_path, api))
        ids = [r.id for r in first.results]
        # The results workbook has id and office_id filled: it PATCHes, and never sends office_id.
        again = await apply_async(tmp_path / "results.xlsx", opts(tmp_path, api, name="again.xlsx"))
        assert again.exit_code == EXIT_OK
        assert [(r.status, r.id) for r in again.results] == [("updated", i) for i in ids]
        assert api.count("POST") == 3 and api.count("PATCH") == 3 and len(api.store) == 3


async def test_resume_after_a_crash_between_intent_and_answer_finds_the_center_and_sends_no_post(tmp_path):
    book = write_rows(tmp_path / "new.xlsx", creates(3), header=HEADER)
    async with CallCenterApi() as api:
        await apply_async(book, opts(tmp_path, api))
        # As if killed after Support 01's POST went out but before its answer was journaled:
        # its intent is on disk, its result is not, and the run never finished.
        journal = journal_path(tmp_path / "results.xlsx")
        lines = [line for line in journal.read_text().splitlines()
                 if not ('"finished"' in line or ('"result"' in line and '"support 01"' in line))]
        journal.write_text("\n".join(lines) + "\n")
        with pytest.raises(UsageError, match="1 create whose outcome is not known"):
            await apply_async(book, opts(tmp_path, api))
        resumed = await apply_async(book, opts(tmp_path, api, resume=True))
        assert [r.status for r in resumed.results] == ["created"] * 3
        assert resumed.results[1].id == named_in(api)["Support 01"][0]
        assert "made by an earlier run" in resumed.results[1].error
        assert api.count("POST") == 3 and len(api.store) == 3


async def test_rollback_deletes_exactly_the_created_centers_and_only_with_allow_delete(tmp_path):
    book = write_rows(tmp_path / "new.xlsx", [*creates(3), {"id": 1001, "ring_seconds": 30}], header=HEADER)
    async with CallCenterApi() as api:
        api.store[1001] = {"id": 1001, "name": "Old", "office_id": OFFICE, "ring_seconds": 25}
        first = await apply_async(book, opts(tmp_path, api, diff=True))
        created = {r.id for r in first.results if r.status == "created"}
        rollback = tmp_path / "results-rollback.xlsx"
        assert rollback in first.extra_files
        rows, problems = read_created(rollback)
        assert problems == [] and {r.id for r in rows} == created
        assert {(r.name, r.office_id) for r in rows} == {(f"Support {i:02d}", OFFICE) for i in range(3)}

        kept = await apply_async(rollback, opts(tmp_path, api, name="undo.xlsx"))
        assert api.count("DELETE") == 0 and created <= set(api.store)
        assert kept.exit_code == EXIT_INVALID  # the rollback is not complete
        assert {r.status for r in kept.deletes} == {"not_sent"}
        assert all("--allow-delete" in r.error for r in kept.deletes)
        assert api.store[1001]["ring_seconds"] == 25  # its PATCH rows went

        api.store[2001] = {"id": 2001, "name": "Someone else's", "office_id": OFFICE}
        undone = await apply_async(rollback, opts(tmp_path, api, name="undo2.xlsx", allow_delete=True))
        assert undone.exit_code == EXIT_OK, undone.deletes
        assert {r.status for r in undone.deletes} == {"deleted"}
        assert api.count("DELETE") == 3
        assert set(api.store) == {1001, 2001}


async def test_a_rollback_deletes_only_centers_still_as_created_and_a_gone_one_is_unchanged(tmp_path):
    book = write_rows(tmp_path / "new.xlsx", creates(3), header=HEADER)
    async with CallCenterApi() as api:
        first = await apply_async(book, opts(tmp_path, api))
        renamed, gone, kept = (r.id for r in first.results)
        api.store[renamed]["name"] = "Support Team Lead"  # someone renamed and uses it since
        del api.store[gone]  # deleted by hand since
        undone = await apply_async(tmp_path / "results-rollback.xlsx",
                                   opts(tmp_path, api, name="undo.xlsx", allow_delete=True))
        by_id = {r.id: r for r in undone.deletes}
        assert by_id[kept].status == "deleted" and kept not in api.store
        assert by_id[renamed].status == "not_sent" and renamed in api.store  # never deleted
        assert by_id[renamed].error.startswith(f"not deleted: call center {renamed} is now named "
                                               "'Support Team Lead', not 'Support 00'")
        assert by_id[gone].status == "unchanged" and "nothing to delete" in by_id[gone].error
        assert api.count("DELETE") == 1  # the one still as created
        assert undone.exit_code == EXIT_INVALID  # the rollback is not complete: one center was kept


async def test_diff_refuses_an_office_id_other_than_the_live_one_and_sends_none(tmp_path):
    rows = [{"id": 1001, "office_id": 999, "ring_seconds": 30}, {"id": 1002, "office_id": OFFICE, "ring_seconds": 30}]
    book = write_rows(tmp_path / "moved.xlsx", rows, header=HEADER)
    async with CallCenterApi() as api:
        for cc_id in (1001, 1002):
            api.store[cc_id] = {"id": cc_id, "name": f"cc {cc_id}", "office_id": OFFICE, "ring_seconds": 25}
        outcome = await apply_async(book, opts(tmp_path, api, diff=True))
        assert [r.status for r in outcome.results] == ["failed", "updated"]
        assert "cannot move office" in outcome.results[0].error
        assert api.count("PATCH") == 1 and api.store[1001]["ring_seconds"] == 25
        assert [body for method, _, body in api.bodies] == [{"ring_seconds": 30}]  # office_id never sent
        assert all(cc["office_id"] == OFFICE for cc in api.store.values())


async def test_an_office_that_cannot_be_read_sends_none_of_its_creates(tmp_path):
    book = write_rows(tmp_path / "new.xlsx", creates(2), header=HEADER)
    async with CallCenterApi() as api:
        api.office_failures = 100
        outcome = await apply_async(book, opts(tmp_path, api))
        assert {r.status for r in outcome.results} == {"failed"}
        assert "could not be read" in outcome.results[0].error
        assert api.count("POST") == 0



def _rollback_book(path: Path, ids: list, far_cell: bool = False) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id", "ring_seconds"])
    workbook.active.append(["1001", 20])
    sheet = workbook.create_sheet("created")
    sheet.append(["id", "name", "office_id"])
    for cc_id in ids:
        sheet.append([cc_id, "Support", str(OFFICE)])
    if far_cell:
        sheet.cell(row=1_048_576, column=16_384, value="x")
    workbook.save(path)
    return path


def test_a_created_sheet_that_runs_to_the_last_cell_is_refused_not_laid_out(tmp_path):
    """A stray cell at XFD1048576 of the created sheet made calamine lay out 17 billion cells (an abort):
    it is read by the bounded reader of every input sheet, and refused in one line. A real process: on
    the old code it dies of the allocation."""
    import subprocess
    import sys

    from support import cli_env

    book = _rollback_book(tmp_path / "rollback.xlsx", ["1001"], far_cell=True)
    done = subprocess.run([sys.executable, "-m", "bulkcc.cli", "apply", str(book), "--yes", "--allow-delete",
                           "--base-url", "http://127.0.0.1:9", "--results", str(tmp_path / "r.xlsx")],
                          capture_output=True, text=True, timeout=60, env=cli_env(), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "cannot read the created sheet" in done.stderr and "over the 25,000,000 limit" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_created_id_typed_as_a_number_of_16_digits_is_refused(tmp_path):
    """Excel keeps 15 digits of a number: 4800000000000001 typed as one may be another center's id, and a
    DELETE of it would delete that one. Ids as text (as bulkcc writes them) and short numbers are read."""
    book = _rollback_book(tmp_path / "rollback.xlsx", [4_800_000_000_000_001, "4800000000000002", 1003])
    rows, problems = read_created(book)
    assert [r.id for r in rows if r.problem is None] == [4_800_000_000_000_002, 1003]
    assert [(p.row, p.column) for p in problems] == [(2, "id")]
    assert "15 digits" in problems[0].message
    refused = [r for r in rows if r.problem is not None]
    assert [r.row for r in refused] == [2] and "15 digits" in refused[0].problem  # that row is never deleted


async def test_a_create_answered_with_a_center_the_office_already_had_is_not_taken_as_created(tmp_path):
    """The API answers the POST with the id of a call center its office listed before (under another name):
    no new center. Its id is the row's nowhere; the office is looked at, and without the row's center
    there the row may exist (maybe_created): the created sheet never lists it, and no rollback deletes it."""
    from support import ScriptedApi

    scripts = {f"api/v2/offices/{OFFICE}/callcenters": [("json", 200, {"items": [{"id": "9", "name": "Old"}]})],
               "api/v2/callcenters": [("json", 200, {"id": "9", "name": "Support 00", "office_id": str(OFFICE)})]}
    book = write_rows(tmp_path / "new.xlsx", creates(1), header=HEADER)
    async with ScriptedApi(scripts) as api:
        outcome = await apply_async(book, options(tmp_path / "results.xlsx", api.base_url, diff=True,
                                                  retry_policy=fast_retries, lookup_wait_s=0.3))
    assert [(r.status, r.id) for r in outcome.results] == [("maybe_created", None)]
    assert "already had before this create" in outcome.results[0].error
    assert outcome.exit_code == EXIT_MAYBE_CREATED
    rollback = tmp_path / "results-rollback.xlsx"
    assert not rollback.exists() or read_created(rollback) == ([], [])
    assert len(api.arrivals["api/v2/callcenters"]) == 1  # one POST: its answer was clear, if wrong
