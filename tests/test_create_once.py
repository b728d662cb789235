"""A create row makes at most one call center, whatever the API answers, and the agents of the sheet
end on the center the row made: against a hostile API of the test's own on loopback
(`creates_api.CallCenterApi`), which stores a create and then answers late, drops the connection,
answers 500 or 202 or something that is no call center or another center's id, shows a new center
in its listing only seconds later, stores names NFC-normalised, or makes nothing at all.

Every test ends by counting what the API holds: one center per create row, with the agents the sheet
asked for, and no write to any other center.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import pytest
from creates_api import FOREIGN_ID, CallCenterApi, migration_book
from support import fast_retries, finish, options, start_cli, wait_until

from bulkcc.errors import EXIT_INVALID, EXIT_MAYBE_CREATED, EXIT_OK, UsageError
from bulkcc.run.apply import apply_async
from bulkcc.workbook.created import read_created
from bulkcc.workbook.results import read_results

pytestmark = pytest.mark.timeout(60)

OFFICE = 124
OLD = 1001  # a center the office had before: no create may end on it
USERS = (501, 502)


def _opts(tmp_path: Path, api: CallCenterApi, name: str = "results.xlsx", **kwargs) -> object:
    kwargs.setdefault("retry_policy", fast_retries)
    kwargs.setdefault("lookup_wait_s", 2.0)
    return options(tmp_path / name, api.base_url, timeout_s=kwargs.pop("timeout_s", 0.3), **kwargs)


def _book(tmp_path: Path, names: list[str], agents: bool = True) -> Path:
    centers = [{"name": name, "office_id": OFFICE, "ring_seconds": 20 + n} for n, name in enumerate(names)]
    operators = [{"call_center_name": name, "user_id": user, "role": "supervisor", "skill_level": 60}
                 for name in names for user in USERS] if agents else []
    return migration_book(tmp_path / "migration.xlsx", centers, operators)


def _api(**knobs) -> CallCenterApi:
    api = CallCenterApi()
    api.store[OLD] = {"id": OLD, "name": "Old", "office_id": OFFICE, "ring_seconds": 25}
    api.stored_at[OLD] = 0.0
    for name, value in knobs.items():
        setattr(api, name, value)
    return api


def _assert_one_center_per_row_with_its_agents(api: CallCenterApi, names: list[str], results) -> None:
    stored = api.in_office(OFFICE)
    wanted = {unicodedata.normalize("NFC", n) if api.normalise else n for n in names}
    assert {n: len(ids) for n, ids in stored.items() if n != "Old"} == {n: 1 for n in wanted}, stored
    by_row = {r.row: r for r in results}
    for row, name in enumerate(names, start=2):
        stored_name = unicodedata.normalize("NFC", name) if api.normalise else name
        assert (by_row[row].status, by_row[row].id) == ("created", stored[stored_name][0]), by_row[row]
        assert api.operators[stored[stored_name][0]] == {u: {"role": "supervisor", "skill_level": 60} for u in USERS}
    assert OLD not in api.operators and FOREIGN_ID not in api.operators  # no agent went to another center
    assert not [b for b in api.bodies if b[0] == "PATCH"]


UNCLEAR = {
    "late": {"after_create": ["late"]},  # stored, answered after the client gave up
    "slow": {"after_create": ["slow"]},  # stored only after the client gave up
    "dropped": {"after_create": ["drop"]},
    "500 after the effect": {"after_create": ["500"]},
    "202 with no body": {"after_create": ["202"]},
    "303 to the new center": {"after_create": ["303"]},
    "2xx that is no call center": {"after_create": ["nobody"]},
    "a center the office had": {"after_create": ["foreign"]},
    "a center of another office": {"after_create": ["elsewhere"]},
    "a center that names no office": {"after_create": ["elsewhere, no office"]},
    "a listing that shows it seconds later": {"after_create": ["500"], "listing_lag_s": 0.4},
    "a store that keeps names NFC": {"after_create": ["500"], "normalise": True},
}


@pytest.mark.parametrize("knobs", UNCLEAR.values(), ids=UNCLEAR.keys())
async def test_an_unclear_answer_is_never_posted_again_and_the_center_is_found_with_its_agents(tmp_path, knobs):
    # The first name reads like "Bearer <token>" to a careless redactor, which garbled it in every answer.
    names = ["Bearer Settlements", "Ca\u0301fe\u0301 Ko\u0308ln" if knobs.get("normalise") else "Slow B"]  # NFD
    async with _api(late_s=0.35, **knobs) as api:
        api.after_create = ["ok", *knobs["after_create"]]
        outcome = await apply_async(_book(tmp_path, names), _opts(tmp_path, api, concurrency=1, timeout_s=0.2))
        assert api.creates == 2
        assert outcome.exit_code == EXIT_OK, outcome.results
        _assert_one_center_per_row_with_its_agents(api, names, outcome.results)
        unclear = outcome.results[1]
        assert unclear.error.startswith(f"found in office {OFFICE}'s listing")
        if knobs["after_create"][0] in ("foreign", "elsewhere", "elsewhere, no office"):
            assert str(OLD if "foreign" in knobs["after_create"] else FOREIGN_ID) in unclear.error
        created = {r.id for r in read_created(tmp_path / "results-rollback.xlsx")[0]}
        assert created == {r.id for r in outcome.results} and OLD not in created


async def test_a_center_found_after_an_unclear_answer_is_checked_as_an_answer_would_be(tmp_path):
    """Stored without a field the row sets, then 500: found by name, but its listing shows the field is not
    as sent, so the row is mismatch (with its id), never created."""
    async with _api(after_create=["500, ring dropped"]) as api:
        outcome = await apply_async(_book(tmp_path, ["Partly"], agents=False), _opts(tmp_path, api))
    ((row_id,),) = [ids for name, ids in api.in_office(OFFICE).items() if name == "Partly"]
    (row,) = outcome.results
    assert (row.status, row.id) == ("mismatch", row_id) and row.error.endswith("did not take: ring_seconds")
    assert api.creates == 1


async def test_a_create_not_found_in_the_wait_may_exist_and_is_sent_again_only_when_asked(tmp_path):
    """The first row's center is made but listed only 0.6 s later (longer than the wait); the second's
    POST made nothing. Neither is POSTed again until the admin says so, and each ends made once."""
    names = ["Lagging", "Never made"]
    book = _book(tmp_path, names)
    async with _api(after_create=["500", "refuse"], listing_lag_s=0.6) as api:
        first = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.1, concurrency=1))
        assert first.exit_code == EXIT_MAYBE_CREATED
        assert [(r.status, r.id) for r in first.results] == [("maybe_created", None)] * 2
        assert "--resume" in first.results[0].error and "--resend-maybe-created" in first.results[0].error
        assert "maybe_created" in first.summary.note and "--resend-maybe-created" in first.summary.note
        assert {r.status for r in first.operator_results} == {"not_sent"}  # no center known: no agent sent
        assert api.creates == 2  # one each, nothing again
        # A plain rerun is refused, and so is --restart (it would send them blind): both name --resume.
        with pytest.raises(UsageError, match="2 creates whose outcome is not known .* --resume"):
            await apply_async(book, _opts(tmp_path, api))
        with pytest.raises(UsageError, match="--restart would send them again without looking"):
            await apply_async(book, _opts(tmp_path, api, restart=True))

        await wait_until(lambda: time.monotonic() > max(api.stored_at.values()) + 0.7, timeout=5)
        looked = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.1, resume=True))
        assert [r.status for r in looked.results] == ["created", "maybe_created"]  # found now; still not made
        assert api.creates == 2
        resent = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.1, resume=True,
                                               resend_maybe_created=True))
        assert resent.exit_code == EXIT_OK, resent.results
        assert api.creates == 3
        _assert_one_center_per_row_with_its_agents(api, names, resent.results)


async def test_the_agents_of_a_center_found_on_resume_go_to_it_in_that_run(tmp_path):
    """The center is made but listed only after the wait: maybe_created, agents not sent. --resume finds
    it in the office's first listing and adds its agents at once (before the found row's journal line
    is on disk: the operators phase must not wait for the group commit to know the id)."""
    book = _book(tmp_path, ["Lagging"])
    async with _api(after_create=["500"], listing_lag_s=0.3) as api:
        first = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.05))
        assert [r.status for r in first.results] == ["maybe_created"] and not api.operators
        await wait_until(lambda: time.monotonic() > max(api.stored_at.values()) + 0.35, timeout=5)
        resumed = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.05, resume=True))
        assert resumed.exit_code == EXIT_OK, (resumed.results, resumed.operator_results)
        assert api.creates == 1
        _assert_one_center_per_row_with_its_agents(api, ["Lagging"], resumed.results)


async def test_an_answer_naming_another_center_is_never_the_rows_and_results_fed_back_never_reach_it(tmp_path):
    """The API answers the POST with the center its office had, and makes nothing. That id is written
    nowhere as the row's; the agents are not sent; the results workbook fed back looks again and never
    touches the other center; --resend-maybe-created then makes the row's center once."""
    book = _book(tmp_path, ["New"])
    async with _api(after_create=["foreign only"]) as api:
        first = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.2))
        (row,) = first.results
        assert (row.status, row.id) == ("maybe_created", None)
        assert f"it names call center {OLD} ('Old'), which office {OFFICE} already had" in row.error
        assert read_results(tmp_path / "results.xlsx")[0].id is None
        assert not (tmp_path / "results-rollback.xlsx").exists()  # no created sheet: nothing made is known
        assert {r.status for r in first.operator_results} == {"not_sent"}
        again = await apply_async(tmp_path / "results.xlsx", _opts(tmp_path, api, "again.xlsx", lookup_wait_s=0.2,
                                                                   only_failed=True))
        assert [r.status for r in again.results] == ["maybe_created"]
        assert api.creates == 1 and api.count("PATCH") == 0
        done = await apply_async(tmp_path / "again.xlsx", _opts(tmp_path, api, "done.xlsx", lookup_wait_s=0.2,
                                                                only_failed=True, resend_maybe_created=True))
        assert done.exit_code == EXIT_OK, (done.results, done.operator_results)
        _assert_one_center_per_row_with_its_agents(api, ["New"], done.results)
        assert api.store[OLD] == {"id": OLD, "name": "Old", "office_id": OFFICE, "ring_seconds": 25}


async def test_a_plan_saved_from_results_with_a_maybe_created_row_looks_for_it_before_sending(tmp_path):
    """`plan RESULTS --out` then `apply PLAN`: the create an earlier run may have made is looked for, as
    when the results are applied themselves, never POSTed again without --resend-maybe-created."""
    from bulkcc import make_plan, read_plan_file, validate_file, write_plan_file
    from bulkcc.run.apply_plan import apply_plan_async

    async with _api(after_create=["500"], listing_lag_s=30) as api:  # made, but listed only after the test
        first = await apply_async(_book(tmp_path, ["Lagging"], agents=False), _opts(tmp_path, api, lookup_wait_s=0.05))
        assert [r.status for r in first.results] == ["maybe_created"]
        results, plan_path = tmp_path / "results.xlsx", tmp_path / "plan.json"
        write_plan_file(plan_path, make_plan(validate_file(results)), target=api.base_url, input_path=results)
        assert '"maybe_created": true' in plan_path.read_text()
        again = await apply_plan_async(read_plan_file(plan_path),
                                       _opts(tmp_path, api, "again.xlsx", lookup_wait_s=0.05))
        assert [r.status for r in again.results] == ["maybe_created"] and again.exit_code == EXIT_MAYBE_CREATED
        assert api.creates == 1


async def test_two_rows_never_share_a_center_whatever_the_answers_say(tmp_path):
    """Row 2's POST makes its center and answers 500; while row 2 looks for it (the listing lags), row 3's
    POST is answered with that very center under row 3's name. Row 3 took it first; row 2 never gets it
    too, in this run or on --resume: it stays maybe_created, saying which row holds the center."""
    book = _book(tmp_path, ["Alpha", "Beta"], agents=False)
    async with _api(after_create=["500", "the row before's"], listing_lag_s=0.3) as api:
        first = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.6, concurrency=2))
        resumed = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.05, resume=True))
    (made,) = api.in_office(OFFICE)["Alpha"]
    for outcome in (first, resumed):
        alpha, beta = outcome.results
        assert beta.id == made and (alpha.status, alpha.id) == ("maybe_created", None), outcome.results
        assert f"call center {made}, listed under this row's name, is row 3's" in alpha.error
    assert [r.id for r in read_created(tmp_path / "results-rollback.xlsx")[0]] == [made]
    assert api.creates == 2


async def test_a_plan_applied_twice_makes_its_centers_once_and_says_to_make_a_new_plan(tmp_path):
    from bulkcc import make_plan, read_plan_file, validate_file, write_plan_file
    from bulkcc.run.apply_plan import apply_plan_async

    book, plan_path = _book(tmp_path, ["Once"], agents=False), tmp_path / "plan.json"
    async with _api() as api:
        write_plan_file(plan_path, make_plan(validate_file(book)), target=api.base_url, input_path=book)
        first = await apply_plan_async(read_plan_file(plan_path), _opts(tmp_path, api))
        again = await apply_plan_async(read_plan_file(plan_path), _opts(tmp_path, api, "again.xlsx"))
    assert first.exit_code == EXIT_OK and again.exit_code == EXIT_INVALID and api.creates == 1
    assert "the plan is out of date: make a new one" in again.message and "--skip-invalid" not in again.message


async def test_names_that_read_alike_are_invalid_against_the_live_ones_showing_both(tmp_path):
    live = ["Center 1001", "Center 1002", "Center 1003", "Center 1004", "Caf\u00e9 K\u00f6ln"]
    sheet = ["center 1001", "Center\u00a01002", "Center 1003\u200b", " CENTER  1004 ", "Cafe\u0301 Ko\u0308ln"]
    async with _api() as api:
        for n, name in enumerate(live):
            api.store[2000 + n] = {"id": 2000 + n, "name": name, "office_id": OFFICE}
        outcome = await apply_async(_book(tmp_path, sheet, agents=False), _opts(tmp_path, api))
    assert [r.status for r in outcome.results] == ["invalid"] * 5
    assert api.count("POST") == 0
    errors = [r.error for r in outcome.results]
    assert "named 'Center 1002' (id 2001), which reads as this row's 'Center\\xa01002' (they differ in blanks)" \
        in errors[1]
    assert "this row's 'Center 1003\\u200b' (they differ in invisible characters)" in errors[2]
    assert "(they differ in blanks and case)" in errors[3]
    assert "(they differ in Unicode form" in errors[4]  # printed alike: the message says how they differ


async def test_two_runs_that_create_on_one_target_never_overlap_whatever_their_results(tmp_path):
    """A real second process: while it creates, a run of the same workbook with other --results is
    refused at once, naming it; once it has ended, that run finds every name live and sends nothing."""
    names = [f"Busy {n}" for n in range(3)]
    book = _book(tmp_path, names, agents=False)
    async with _api(after_create=["hold", "ok", "ok"]) as api:
        args = [book, "--results", tmp_path / "first.xlsx", "--base-url", api.base_url, "--timeout", "5",
                "--concurrency", "1", "--quiet"]
        first = await start_cli(*args, cwd=tmp_path)
        await wait_until(lambda: api.count("POST") >= 1 or first.returncode is not None, timeout=20,
                         what="the first run's first POST")
        with pytest.raises(UsageError) as refused:
            await apply_async(book, _opts(tmp_path, api, "second.xlsx"))
        message = str(refused.value)
        assert f"another bulkcc run is creating call centers on {api.base_url}" in message
        assert f"pid {first.pid} on host" in message and "first.xlsx" in message
        api.released.set()
        assert (await finish(first)).code == EXIT_OK
        later = await apply_async(book, _opts(tmp_path, api, "second.xlsx"))
        assert later.exit_code == EXIT_INVALID and "already exist in the office: nothing was sent" in later.message
    assert {n: len(ids) for n, ids in api.in_office(OFFICE).items()} == {"Old": 1, **{n: 1 for n in names}}


async def test_one_target_spelled_another_way_is_the_same_lock(tmp_path):
    """A run creating on http://localhost:PORT refuses one on http://127.0.0.1:PORT/ (the same API; as
    https://dialpad.com, https://Dialpad.com:443/ and https://dialpad.com. are)."""
    from bulkcc import make_plan, validate_file
    from bulkcc.run.lock import creating, target_key

    spellings = ("https://dialpad.com", "https://Dialpad.com:443/", "https://dialpad.com.")
    assert len({target_key(url) for url in spellings}) == 1
    book = _book(tmp_path, ["New"], agents=False)
    async with _api() as api:
        port = api.base_url.rsplit(":", 1)[1]
        first = options(tmp_path / "first.xlsx", f"http://localhost:{port}")
        with creating(first, make_plan(validate_file(book)), "first.xlsx"):
            with pytest.raises(UsageError, match="another bulkcc run is creating call centers"):
                await apply_async(book, options(tmp_path / "r.xlsx", f"http://127.0.0.1:{port}/"))
        assert api.creates == 0


async def test_a_lock_folder_that_cannot_hold_the_lock_stops_the_run_before_anything_is_sent(tmp_path, monkeypatch):
    from bulkcc.run.lock import TargetLock, lock_dir, target_key

    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("BULKCC_LOCK_DIR", str(tmp_path / "a file"))
    async with _api() as api:
        with pytest.raises(UsageError, match="cannot make the lock folder .* set BULKCC_LOCK_DIR"):
            await apply_async(_book(tmp_path, ["New"], agents=False), _opts(tmp_path, api))
        assert api.creates == 0
        monkeypatch.setenv("BULKCC_LOCK_DIR", str(tmp_path / "locks"))
        lock = TargetLock(target_key(api.base_url), "the API")
        lock.path.mkdir(parents=True)  # something took the lock file's name
        with pytest.raises(UsageError, match="cannot lock .* set BULKCC_LOCK_DIR"):
            lock.acquire()
    assert lock_dir() == tmp_path / "locks"


def test_a_user_with_no_home_folder_is_told_where_the_create_lock_can_go(monkeypatch):
    """No HOME and a user id the password database lacks (a container's): a message, never a traceback."""
    import pwd

    from bulkcc.run.lock import lock_dir

    for name in ("BULKCC_LOCK_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    with pytest.raises(UsageError, match="HOME is not set .* set BULKCC_LOCK_DIR"):
        lock_dir()


async def test_the_terminal_the_summary_and_the_exit_code_say_a_create_may_exist_and_what_to_do(tmp_path):
    from openpyxl import load_workbook
    from support import invoke_in_thread

    book = _book(tmp_path, ["Never made"], agents=False)
    async with _api(after_create=["refuse"]) as api:
        run = await invoke_in_thread("apply", book, "--results", tmp_path / "r.xlsx", "--base-url", api.base_url,
                                     "--lookup-wait", "0.2s", "--max-attempts", "2")
    assert run.exit_code == EXIT_MAYBE_CREATED, run.output
    assert "1 maybe_created" in run.stdout
    assert "row 2: maybe_created: HTTP 500: internal" in run.stderr
    assert "did not list 'Never made' (2 listings over 0.2 s)" in run.stderr
    assert "1 create may or may not have made its call center (maybe_created, rows 2)" in run.stderr
    assert "--resend-maybe-created" in run.stderr
    summary = {row[0]: row[1] for row in load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True)}
    assert "maybe_created" in summary["Note"] and "maybe_created" in summary


async def test_a_create_whose_outcome_is_unknown_stays_so_when_its_office_cannot_be_read_again(tmp_path):
    book = _book(tmp_path, ["Never made"], agents=False)
    async with _api(after_create=["refuse"]) as api:
        first = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.1))
        assert [r.status for r in first.results] == ["maybe_created"]
        api.office_failures = 1000  # the office's listing answers 503 from now on
        again = await apply_async(book, _opts(tmp_path, api, lookup_wait_s=0.1, resume=True,
                                              resend_maybe_created=True, max_attempts=1))
        assert [(r.status, r.id) for r in again.results] == [("maybe_created", None)]  # never not_sent or failed
        assert "could not be read" in again.results[0].error and again.exit_code == EXIT_MAYBE_CREATED
        assert api.creates == 1  # even with --resend-maybe-created: not sent unless it was looked for
