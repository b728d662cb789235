"""The saved plan file (plan/planfile, plan/saved): its content, its stability, and strict reading.

No network here but the simulator `--simulator` starts inside a `bulkcc plan`
process; a real process is used where Python's hash seed matters.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SAMPLE, cli_env, realistic_rows, write_rows

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK, InputError
from bulkcc.plan import make_plan
from bulkcc.plan.diff import diff_plan
from bulkcc.plan.payload import field_order
from bulkcc.plan.planfile import FORMAT, canonical_text, is_plan_file, read_plan_file, write_plan_file
from bulkcc.sim import apispec
from bulkcc.sim.server import seed_store
from bulkcc.validate import validate_file
from bulkcc.workbook.results import read_results

TARGET = "https://dialpad.com"
PLAN_TIMEOUT_S = 60


def _plan_process(*args: Any, hash_seed: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**cli_env(), "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "bulkcc.cli", "plan", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=PLAN_TIMEOUT_S, check=False)


def _without_created(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith('  "created": '))


def test_two_plans_of_the_same_state_are_identical_but_for_when_they_were_made(tmp_path: Path) -> None:
    """Python's string hashes change per process: a field order taken from a set would show here."""
    source = write_rows(tmp_path / "in.xlsx", realistic_rows(30))
    runs = [_plan_process(source, "--diff", "--simulator", "--out", f"plan{seed}.json", "--json",
                          f"plan{seed}.jsonl", hash_seed=seed, cwd=tmp_path) for seed in ("1", "2")]
    for run in runs:
        assert run.returncode == EXIT_OK, run.stderr

    first, second = ((tmp_path / f"plan{seed}.json").read_text("utf-8") for seed in ("1", "2"))
    assert _without_created(first) == _without_created(second)
    documents = [json.loads(text) for text in (first, second)]
    assert sum(len(r["changes"]) > 2 for r in documents[0]["requests"]) >= 10  # orders that a set could shuffle
    assert {k: v for k, v in documents[0].items() if k != "created"} == {
        k: v for k, v in documents[1].items() if k != "created"}
    # plan --json keeps its format, and is stable too.
    assert (tmp_path / "plan1.jsonl").read_bytes() == (tmp_path / "plan2.jsonl").read_bytes()


def test_the_checksum_is_the_files_sha256_and_survives_reindenting(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    saved = write_plan_file(plan_path, make_plan(validate_file(SAMPLE)), target=TARGET, input_path=SAMPLE)
    assert saved.checksum == hashlib.sha256(plan_path.read_bytes()).hexdigest()  # what sha256sum prints
    assert read_plan_file(plan_path).checksum == saved.checksum

    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(json.loads(plan_path.read_text("utf-8"))), "utf-8")
    assert read_plan_file(compact).checksum == saved.checksum  # the content, not its layout, is the plan


def test_the_document_holds_what_the_readme_documents(tmp_path: Path) -> None:
    validation = validate_file(SAMPLE)
    plan_path = tmp_path / "plan.json"
    write_plan_file(plan_path, make_plan(validation), target=TARGET, input_path=SAMPLE)
    document = json.loads(plan_path.read_text("utf-8"))

    assert set(document) == {"format", "bulkcc_version", "created", "input", "target", "diff", "requests",
                             "unchanged", "skipped", "left_out"}
    assert document["format"] == FORMAT == "bulkcc-plan/1"
    assert document["input"] == {"name": SAMPLE.name, "sha256": hashlib.sha256(SAMPLE.read_bytes()).hexdigest(),
                                 "rows": len(validation.sheet.rows)}
    assert document["target"] == TARGET and document["diff"] is False
    assert document["created"].endswith("Z")
    first = document["requests"][0]
    assert set(first) == {"row", "id", "method", "path", "body"}
    assert first["method"] == "PATCH" and first["path"] == f"/api/v2/callcenters/{first['id']}"


def test_every_sample_body_survives_the_round_trip(tmp_path: Path) -> None:
    """Reading is strict, and still takes every body bulkcc builds (routing, DTMF menus, hours...)."""
    plan = make_plan(validate_file(SAMPLE))
    path = tmp_path / "plan.json"
    write_plan_file(path, plan, target=TARGET, input_path=SAMPLE)

    back = read_plan_file(path).plan
    assert [(r.row, r.id, r.body) for r in back.requests] == [(r.row, r.id, r.body) for r in plan.requests]
    assert [(r.row, r.id) for r in back.skipped] == [(r.row, r.id) for r in plan.skipped]
    assert back.validation.problems == []


def _diff_plan_of_sample():
    """The sample against made-up live call centers (so nearly every field differs); its last row unreadable."""
    plan = make_plan(validate_file(SAMPLE))
    store = seed_store([r.id for r in plan.requests], random.Random(0))
    live = {r.row: apispec.to_wire(store[r.id]) for r in plan.requests[:-1]}
    return diff_plan(plan, live, {plan.requests[-1].row: "HTTP 503: Service unavailable"})


def test_a_diff_plan_keeps_its_changes_and_live_values(tmp_path: Path) -> None:
    plan = _diff_plan_of_sample()
    path = tmp_path / "plan.json"
    write_plan_file(path, plan, target="simulator", input_path=SAMPLE)

    saved = read_plan_file(path)
    back = saved.plan
    assert back.diffed and len(back.requests) == len(plan.requests) > 0
    assert [(r.row, r.body) for r in back.requests] == [(r.row, r.body) for r in plan.requests]
    in_order = {row: sorted(changes, key=lambda c: field_order(c.column)) for row, changes in plan.changes.items()}
    assert back.changes == in_order
    assert {row: dict(p) for row, p in back.prior.items()} == {row: dict(p) for row, p in plan.prior.items()}
    unreadable_row = plan.requests[-1].row if plan.requests[-1].row in plan.unreadable else max(plan.unreadable)
    assert [(r.row, r.reason) for r in saved.left_out] == [(unreadable_row, "unreadable")]
    assert back.unreadable == {unreadable_row: "the live call center could not be read: HTTP 503: Service unavailable"}


# ---- strict reading -----------------------------------------------------------------------


Tamper = Callable[[dict[str, Any]], None]


def _first(document: dict[str, Any]) -> dict[str, Any]:
    return document["requests"][0]


def _set_body(field: str, value: Any) -> Tamper:
    return lambda d: _first(d)["body"].__setitem__(field, value)


TAMPERING: dict[str, tuple[Tamper, str]] = {
    "a value out of range": (_set_body("ring_seconds", 99), "rules a workbook's rows must keep"),
    "a number as text": (_set_body("ring_seconds", "25"), 'ring_seconds is "25" where bulkcc would send 25'),
    "1 for true": (_set_body("hours_on", 1), "hours_on is 1, not a value of its kind (bool)"),
    "an unknown field": (_set_body("ringseconds", 25), "ringseconds is not a field bulkcc sends"),
    "a list for a number": (_set_body("ring_seconds", [25]), "ring_seconds is [25], not a value of its kind"),
    "a text for a menu": (_set_body("routing_options", {"open": {"dtmf": "1"}}),
                          "routing_options.open.dtmf is not a field bulkcc sends"),
    "a float for a number": (_set_body("ring_seconds", 25.0), "ring_seconds is 25.0 where bulkcc would send 25"),
    "the id in the body": (_set_body("id", 5), "id is not a field bulkcc sends"),
    "another call center's path": (lambda d: _first(d).__setitem__("path", "/api/v2/callcenters/1"),
                                   "is not the path of call center"),
    "another method": (lambda d: _first(d).__setitem__("method", "DELETE"), "a plan sends only PATCH"),
    "an id as text": (lambda d: _first(d).__setitem__("id", str(_first(d)["id"])), "expected a whole number"),
    "an empty body": (lambda d: _first(d).__setitem__("body", {}), "expected a non-empty object"),
    "a row twice": (lambda d: d["requests"][1].__setitem__("row", _first(d)["row"]), "appears twice"),
    "a row in two lists": (lambda d: d["skipped"].append({"row": _first(d)["row"], "id": 7}), "appears twice"),
    "an unknown key": (lambda d: d.__setitem__("approved", True), "unknown key 'approved'"),
    "a missing key": (lambda d: d.pop("target"), "missing key 'target'"),
    "an unknown request key": (lambda d: _first(d).__setitem__("note", "x"), "unknown key 'note'"),
    "a time without zone": (lambda d: d.__setitem__("created", "2025-06-01T09:30:00"), "has no time zone"),
    "not a time": (lambda d: d.__setitem__("created", "yesterday"), "is not an ISO 8601 time"),
    "a short checksum": (lambda d: d["input"].__setitem__("sha256", "abc"), "64 lowercase hex digits"),
    "another scheme": (lambda d: d.__setitem__("target", "ftp://dialpad.com"), "neither an http(s) URL"),
    "unchanged rows without diff": (lambda d: d["unchanged"].append({"row": 9999, "id": 5}), "only a --diff plan"),
    "diff keys without diff": (lambda d: _first(d).__setitem__("before", {}), "unknown key 'before'"),
    "a left-out row of no reason": (lambda d: d["left_out"].append({"row": 9999, "id": 5, "reason": "tired",
                                                                    "error": "x"}), "is not one of invalid"),
}


@pytest.fixture(scope="module")
def plan_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    write_plan_file(path, make_plan(validate_file(SAMPLE)), target=TARGET, input_path=SAMPLE)
    return json.loads(path.read_text("utf-8"))


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_plan_changed_by_hand_is_refused_saying_what_is_wrong(plan_document: dict[str, Any], tmp_path: Path,
                                                                case: str) -> None:
    tamper, expected = TAMPERING[case]
    document = copy.deepcopy(plan_document)
    tamper(document)
    path = tmp_path / "plan.json"
    path.write_text(canonical_text(document), "utf-8")
    with pytest.raises(InputError, match="plan.json is not a valid bulkcc plan") as caught:
        read_plan_file(path)
    assert expected in str(caught.value)


def _bumped(value: Any) -> Any:
    """Another value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, list):
        return [] if value else ["08:00", "09:00"]
    return str(value) + " (edited)"


def _bump_after(document: dict[str, Any]) -> None:
    change = _first(document)["changes"][0]
    change["after"] = _bumped(change["after"])


def _bump_before(document: dict[str, Any]) -> None:
    field = _first(document)["changes"][0]["field"]
    _first(document)["before"][field] = _bumped(_first(document)["before"].get(field))


DIFF_TAMPERING: dict[str, tuple[Tamper, str]] = {
    "a change the body does not send": (_bump_after, "does not match the body"),
    "a before of another value": (_bump_before, "another before than the request's before"),
    "a value of the wrong type": (lambda d: _first(d)["changes"][0].__setitem__("after", {"x": 1}),
                                  "is not a value of"),
    "no changes": (lambda d: _first(d).__setitem__("changes", []), "changes at least one field"),
    "a before of an unknown field": (lambda d: _first(d)["before"].__setitem__("x", 1), "'x' is not a field"),
}


@pytest.mark.parametrize("case", list(DIFF_TAMPERING))
def test_a_diff_plan_whose_changes_do_not_match_its_bodies_is_refused(tmp_path: Path, case: str) -> None:
    source = tmp_path / "source.json"
    write_plan_file(source, _diff_plan_of_sample(), target="simulator", input_path=SAMPLE)
    document = json.loads(source.read_text("utf-8"))
    tamper, expected = DIFF_TAMPERING[case]
    tamper(document)
    path = tmp_path / "plan.json"
    path.write_text(canonical_text(document), "utf-8")
    with pytest.raises(InputError, match="not a valid bulkcc plan") as caught:
        read_plan_file(path)
    assert expected in str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ('{"format": "bulkcc-plan/1", "format": "bulkcc-plan/1"}', "appears twice"),
    ('{"format": "bulkcc-plan/1", "x": NaN}', "NaN is not a JSON number"),
    ("[1, 2]", 'no "format" key'),
    ("", "not JSON"),
])
def test_json_that_is_no_plan_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text, "utf-8")
    with pytest.raises(InputError, match="plan.json is not a") as caught:
        read_plan_file(path)
    assert expected in str(caught.value)


def test_a_plan_file_is_known_by_its_suffix_or_its_content(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.out"
    write_plan_file(plan_path, make_plan(validate_file(SAMPLE)), target=TARGET, input_path=SAMPLE)
    assert is_plan_file(plan_path)
    assert is_plan_file(tmp_path / "missing.json")  # named as one: reading it says what is wrong
    assert not is_plan_file(SAMPLE)
    csv = tmp_path / "in.csv"
    csv.write_text('{"id"}\n', "utf-8")
    assert not is_plan_file(csv)


# ---- rows left out of a plan ----------------------------------------------------------------


def test_a_plan_with_invalid_rows_is_saved_only_when_asked_and_lists_them(tmp_path: Path, write_xlsx) -> None:
    source = write_xlsx(["id", "ring_seconds"], [["1001", 20], ["1002", 99], ["1003", 25]])
    runner = CliRunner()
    plan_path = tmp_path / "plan.json"

    refused = runner.invoke(main, ["plan", str(source), "--out", str(plan_path)])
    assert refused.exit_code == EXIT_INVALID, refused.output
    assert "plan file not written: 1 row is invalid" in refused.stderr and "--skip-invalid" in refused.stderr
    assert not plan_path.exists()

    state = ["--simulator-state", str(tmp_path / "simulator.jsonl")]  # not the default one in the current folder
    saved = runner.invoke(main, ["plan", str(source), "--out", str(plan_path), "--skip-invalid", "--simulator",
                                 *state])
    assert saved.exit_code == EXIT_INVALID, saved.output  # invalid rows still make plan exit 1
    document = json.loads(plan_path.read_text("utf-8"))
    assert [r["row"] for r in document["requests"]] == [2, 4]
    (left,) = document["left_out"]
    assert (left["row"], left["id"], left["reason"]) == (3, 1002, "invalid")
    assert "ring_seconds" in left["error"]

    results = tmp_path / "results.xlsx"
    applied = runner.invoke(main, ["apply", str(plan_path), "--simulator", "--yes", "--quiet", "--results",
                                   str(results), *state])
    assert applied.exit_code == EXIT_INVALID, applied.output  # as apply --skip-invalid: not all rows went
    read = {r.row: r for r in read_results(results)}
    assert [(read[row].id, read[row].status) for row in (2, 3, 4)] == [
        (1001, "updated"), (1002, "invalid"), (1003, "updated")]
    assert "left out of the plan when it was made" in read[3].error


# ---- whatever a plan file holds, reading it ends in a plan or a clear InputError ------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["PATCH", "08:00", "person", "open", "routing_options", "1"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document a value sits, as a tuple of keys and indexes."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_change_to_a_plan_file_ends_in_a_traceback(small_diff_document: dict[str, Any], tmp_path: Path,
                                                      data: st.DataObject) -> None:
    document = copy.deepcopy(small_diff_document)
    where = data.draw(st.sampled_from(_paths(document)[1:]))
    value = data.draw(JSON_VALUES)
    node = document
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document), "utf-8")
    try:
        read_plan_file(path)
    except InputError as exc:
        assert "plan.json" in str(exc)


@pytest.fixture(scope="module")
def small_diff_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    plan = _diff_plan_of_sample()
    path = tmp_path_factory.mktemp("small") / "plan.json"
    write_plan_file(path, plan.only({r.row for r in plan.requests[:3]} | set(plan.unreadable)), target="simulator",
                    input_path=SAMPLE)
    return json.loads(path.read_text("utf-8"))


# ---- creates (issue 11) ----------------------------------------------------------------

def _create_book(tmp_path: Path) -> Path:
    rows = [{"name": "Support Berlin", "office_id": 5_100_000_000_000_002, "ring_seconds": 20},
            {"id": 1001, "ring_seconds": 25}, {"name": "Support Munich", "office_id": 5_100_000_000_000_002}]
    return write_rows(tmp_path / "creates.xlsx", rows, header=["id", "name", "office_id", "ring_seconds"])


def test_a_plan_with_creates_round_trips_and_update_only_plans_keep_their_bytes(tmp_path: Path) -> None:
    book = _create_book(tmp_path)
    plan = make_plan(validate_file(book))
    path = tmp_path / "plan.json"
    write_plan_file(path, plan, target=TARGET, input_path=book)
    requests = json.loads(path.read_text("utf-8"))["requests"]
    assert [(r["row"], r.get("kind"), r["method"], r["id"]) for r in requests] == [
        (2, "create", "POST", None), (3, None, "PATCH", 1001), (4, "create", "POST", None)]
    back = read_plan_file(path).plan
    assert back.creates == plan.creates and [r.to_dict() for r in back.requests] == [r.to_dict() for r in plan.requests]
    # A plan of updates only is what older bulkcc wrote: no "kind" anywhere, so either reads it.
    old = tmp_path / "old.json"
    write_plan_file(old, make_plan(validate_file(SAMPLE)), target=TARGET, input_path=SAMPLE)
    assert '"kind"' not in old.read_text("utf-8") and read_plan_file(old).plan.creates == []


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r.update(id=5), "a create has no id"),
    (lambda r: r.update(method="PATCH"), "a create is sent as POST"),
    (lambda r: r["body"].pop("office_id"), "name and office_id"),
    (lambda r: r["body"].update(office_id=0), "at least 1"),
    (lambda r: r["body"].update(name=" Support Berlin"), "name is"),
    (lambda r: r["body"].update(ring_seconds=99), "ring_seconds"),
    (lambda r: r.update(kind="upsert"), "neither create nor update"),
])
def test_a_hand_edited_create_is_refused(tmp_path: Path, edit: Callable[[dict], Any], message: str) -> None:
    book = _create_book(tmp_path)
    path = tmp_path / "plan.json"
    write_plan_file(path, make_plan(validate_file(book)), target=TARGET, input_path=book)
    document = json.loads(path.read_text("utf-8"))
    edit(document["requests"][0])
    path.write_text(json.dumps(document), "utf-8")
    with pytest.raises(InputError, match=message):
        read_plan_file(path)


def test_an_agent_moved_by_hand_to_another_create_of_the_plan_is_refused(tmp_path: Path) -> None:
    # Every word of the change (action, path, call_center_name) says 'Support Berlin': a create_row edited to
    # another create would send the agent to that other new center under Berlin's name.
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id", "name", "office_id"])
    for name in ("Support Berlin", "Support Munich"):
        workbook.active.append([None, name, "5100000000000002"])
    operators = workbook.create_sheet("operators")
    operators.append(["call_center_name", "user_id"])
    operators.append(["support berlin", "42"])
    book, path = tmp_path / "book.xlsx", tmp_path / "plan.json"
    workbook.save(book)
    made = CliRunner(env=cli_env(None)).invoke(main, ["plan", str(book), "--out", str(path)])
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads(path.read_text("utf-8"))
    assert document["operators"]["requests"][0]["create_row"] == 2
    read_plan_file(path)
    document["operators"]["requests"][0]["create_row"] = 3
    path.write_text(json.dumps(document), "utf-8")
    with pytest.raises(InputError, match=r"operators.requests\[0\].call_center_name: is not the name create_row 3 "):
        read_plan_file(path)


async def test_apply_plan_sends_its_creates_exactly_and_once(tmp_path: Path) -> None:
    from support import options, simulator

    from bulkcc.run.apply_plan import apply_plan_async

    book = _create_book(tmp_path)
    path = tmp_path / "plan.json"
    async with simulator([1001]) as sim:
        saved = write_plan_file(path, make_plan(validate_file(book)), target=sim.base_url, input_path=book)
        outcome = await apply_plan_async(read_plan_file(path), options(tmp_path / "r.xlsx", sim.base_url))
        assert [r.status for r in outcome.results] == ["created", "updated", "created"], outcome.results
        posts = [r.body for r in sim.requests if r.method == "POST"]
        assert posts == [c.body for c in saved.plan.creates]
        again = await apply_plan_async(read_plan_file(path), options(tmp_path / "r2.xlsx", sim.base_url))
        assert [r.status for r in again.results] == ["invalid", "not_sent", "invalid"]  # live names: refused
        assert len([r for r in sim.requests if r.method == "POST"]) == 2
