"""A plan file's content back as a `Plan`, checked key by key (used by `planfile.read_plan_file`).

Every key must be there with the right type, and nothing else; rows appear
once; each request's path is its id's. The bodies are then turned back into
the cells they stand for and validated like a workbook (ranges, choices, the
rules between fields, unique ids), and each must be exactly the body bulkcc
builds from those cells (types included: `true` is not `1`). With --diff every
change must agree with its body and its `before`. The `Plan` rebuilt around
that validation is what `apply` sends: its sheet holds the plan's rows (cells
from the bodies, so the Results sheet shows what was sent); the rows left out
as invalid are invalid rows of it, with the reason, and those left out as
unreadable or blocked are its `unreadable` and `blocked` rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.plan.creates import CREATE_PATH, plan_creates
from bulkcc.plan.payload import (
    PlannedRequest,
    body_from_values,
    cell_value,
    field_order,
    read_callcenter,
    row_values,
    values_from_callcenter,
)
from bulkcc.plan.planfile import LEFT_OUT_REASONS, LeftOut, PlanFormatError, SavedPlan, field_value
from bulkcc.plan.plans import Change, Plan
from bulkcc.plan.strict import StrictReader
from bulkcc.validate.validation import Validation, validate_sheet
from bulkcc.values import counted
from bulkcc.workbook.layout import CONTEXT_PREFIX
from bulkcc.workbook.reader import Sheet

TOP_KEYS = ("format", "bulkcc_version", "created", "input", "target", "diff", "requests", "unchanged", "skipped",
            "left_out")
REQUEST_KEYS = ("row", "id", "method", "path", "body")
CREATE_KEYS = ("row", "id", "kind", "method", "path", "body")
MAYBE_KEY = "maybe_created"  # a create an earlier run may have made: looked for before it is sent
DIFF_REQUEST_KEYS = ("before", "changes")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_SHOWN_PROBLEMS = 5


_READ = StrictReader()
_fail, _object, _list = _READ.fail, _READ.object, _READ.list


def _int(value: Any, where: str, minimum: int) -> int:
    return cast(int, _READ.int(value, where, minimum))


def _text(value: Any, where: str) -> str:
    return cast(str, _READ.text(value, where))


def _created(value: Any) -> datetime:
    text = _text(value, "created")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail("created", f"{text!r} is not an ISO 8601 time, e.g. 2025-06-01T09:30:00Z") from None
    if moment.tzinfo is None:
        raise _fail("created", f"{text!r} has no time zone (bulkcc writes UTC, ending in Z)")
    return moment


def _target(value: Any) -> str:
    text = _text(value, "target")
    parts = urlsplit(text)
    if text != "simulator" and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise _fail("target", f"{text!r} is neither an http(s) URL nor \"simulator\"")
    return text


def _row_id(value: Any, where: str, rows: dict[int, str]) -> tuple[int, int]:
    item = _object(value, where, ("row", "id"))
    row = _int(item["row"], f"{where}.row", 2)
    _claim(rows, row, where)
    return row, _int(item["id"], f"{where}.id", 1)


def _claim(rows: dict[int, str], row: int, where: str) -> None:
    """Each Excel row appears once in the whole plan."""
    if row in rows:
        raise _fail(where, f"row {row} appears twice (also at {rows[row]})")
    rows[row] = where


def _is_create(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "create"


def _create(value: Any, where: str, rows: dict[int, str]) -> tuple[int, dict[str, Any], str | None]:
    """A create request: (row, body, the office's name if the row named it so); its body is checked against
    its cells later, like an update's."""
    optional = tuple(key for key in ("office_name", MAYBE_KEY) if isinstance(value, dict) and key in value)
    item = _object(value, where, CREATE_KEYS + optional)
    if MAYBE_KEY in item and item[MAYBE_KEY] is not True:
        raise _fail(f"{where}.{MAYBE_KEY}", "expected true (or no such key)")
    row = _int(item["row"], f"{where}.row", 2)
    _claim(rows, row, where)
    if item["id"] is not None:
        raise _fail(f"{where}.id", "a create has no id (null) until the API gives it one")
    if item["method"] != "POST":
        raise _fail(f"{where}.method", f"{item['method']!r}: a create is sent as POST")
    if item["path"] != CREATE_PATH:
        raise _fail(f"{where}.path", f"{item['path']!r} is not the path of a create ({CREATE_PATH})")
    body = item["body"]
    if not isinstance(body, dict) or "name" not in body or "office_id" not in body:
        raise _fail(f"{where}.body", "expected an object with name and office_id (the API needs both)")
    _int(body["office_id"], f"{where}.body.office_id", 1)
    office_name = _text(item["office_name"], f"{where}.office_name") if "office_name" in item else None
    if office_name is not None and len(office_name) > (FIELDS_BY_PATH["office_name"].max_length or 100):
        raise _fail(f"{where}.office_name", "is longer than an office_name cell takes")
    return row, body, office_name


def _request(value: Any, where: str, diff: bool, rows: dict[int, str]
             ) -> tuple[PlannedRequest, dict[str, Any], list[Change]]:
    keys = REQUEST_KEYS + (DIFF_REQUEST_KEYS if diff else ())
    if isinstance(value, dict) and "kind" in value:
        if value["kind"] != "update":
            raise _fail(f"{where}.kind", f"{value['kind']!r} is neither create nor update")
        keys += ("kind",)
    item = _object(value, where, keys)
    row = _int(item["row"], f"{where}.row", 2)
    _claim(rows, row, where)
    cc_id = _int(item["id"], f"{where}.id", 1)
    request = PlannedRequest(row, cc_id, item["body"])
    if item["method"] != request.method:
        raise _fail(f"{where}.method", f"{item['method']!r}: a plan sends only {request.method}")
    if item["path"] != request.path:
        raise _fail(f"{where}.path", f"{item['path']!r} is not the path of call center {cc_id} ({request.path})")
    if not isinstance(item["body"], dict) or not item["body"]:
        raise _fail(f"{where}.body", "expected a non-empty object (a row with nothing to change is skipped)")
    if not diff:
        return request, {}, []
    before_item = item["before"]
    if not isinstance(before_item, dict):
        raise _fail(f"{where}.before", "expected an object of field: live value")
    before = {path: field_value(path, v, f"{where}.before.{path}") for path, v in before_item.items()}
    changes = []
    for position, change in enumerate(_list(item["changes"], f"{where}.changes")):
        at = f"{where}.changes[{position}]"
        change = _object(change, at, ("field", "before", "after"))
        changes.append(Change(change["field"], field_value(change["field"], change["before"], f"{at}.before"),
                              field_value(change["field"], change["after"], f"{at}.after")))
    if not changes:
        raise _fail(f"{where}.changes", "empty: a --diff request changes at least one field")
    return request, before, changes


def _left_out(value: Any, where: str, rows: dict[int, str]) -> LeftOut:
    item = _object(value, where, ("row", "id", "reason", "error"))
    row = _int(item["row"], f"{where}.row", 2)
    _claim(rows, row, where)
    cc_id = None if item["id"] is None else _int(item["id"], f"{where}.id", 1)
    if item["reason"] not in LEFT_OUT_REASONS:
        raise _fail(f"{where}.reason", f"{item['reason']!r} is not one of {', '.join(LEFT_OUT_REASONS)}")
    return LeftOut(row, cc_id, item["reason"], _text(item["error"], f"{where}.error"))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (True is not 1, 25.0 is not 25)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _body_difference(body: Mapping[str, Any], built: Mapping[str, Any]) -> str:
    have, want = _leaves(body), _leaves(built)
    for path in sorted(set(have) | set(want)):
        if path not in want:
            return f"{path} is not a field bulkcc sends (or not in its place)"
        if path not in have or not _same(have[path], want[path]):
            return f"{path} is {json.dumps(have.get(path))[:60]} where bulkcc would send {json.dumps(want[path])[:60]}"
    return "the body differs from the one bulkcc builds"


def _values(request: PlannedRequest) -> dict[str, Any]:
    """A body's fields as values; a value not of its field's type (a list for a number...) is refused."""
    try:
        read = read_callcenter(request.body)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise _fail(f"the body of row {request.row}", f"not a body bulkcc builds ({exc})") from None
    for path, value in read.unreadable.items():
        kind = FIELDS_BY_PATH[path].kind
        raise _fail(f"the body of row {request.row}", f"{path} is {json.dumps(value)[:60]}, not a value of "
                                                      f"its kind ({kind})")
    return read.values


def _sheet(path: Path, requests: list[PlannedRequest], id_rows: list[tuple[int, int]],
           left_out: list[LeftOut], creates: Sequence[tuple[int, dict[str, Any]]] = ()) -> Sheet:
    """The plan's rows as a sheet of cells: a request's cells are its body's, other rows only an id
    (a create's: its body's, office_id included, and no id)."""
    cells: dict[int, dict[str, Any]] = {}
    for request in requests:
        values = _values(request)
        cells[request.row] = {"id": request.id, **{p: cell_value(FIELDS_BY_PATH[p], v) for p, v in values.items()
                                                   if p != "id"}}
    for row, body in creates:
        rest = PlannedRequest(row, 1, {k: v for k, v in body.items() if k != "office_id"})
        cells[row] = {"id": None, "office_id": body["office_id"],
                      **{p: cell_value(FIELDS_BY_PATH[p], v) for p, v in _values(rest).items() if p != "id"}}
    for row, cc_id in id_rows:
        cells[row] = {"id": cc_id}
    raw_ids = {r.row: r.id for r in left_out}
    for item in left_out:
        # An unreadable or blocked row was a valid row (its id is sound); an invalid one may not be.
        cells[item.row] = {"id": None} if item.reason == "invalid" else {"id": item.id}
    columns = sorted({c for row in cells.values() for c in row} | {"id"}, key=field_order)
    index = pd.Index(sorted(cells), name="excel_row", dtype="int64")
    frame = pd.DataFrame([[cells[r].get(c) for c in columns] for r in index], columns=columns, index=index,
                         dtype=object)
    raw = frame.copy()
    for row, left_id in raw_ids.items():
        raw.at[row, "id"] = None if left_id is None else str(left_id)
    meta = pd.DataFrame(index=index)
    return Sheet(path=path, sheet_name=None, frame=frame, meta=meta, raw=raw)


def _office_names_beside(validation: Validation, names: Mapping[int, str]) -> Validation:
    """The creates' office names (looked up when planned) beside their office_id, as read-only cells, so the
    Results of the plan show them as a workbook's run does."""
    if not names:
        return validation
    raw = validation.sheet.raw.copy()
    raw.insert(list(raw.columns).index("office_id") + 1, CONTEXT_PREFIX + "office_name",
               pd.Series([names.get(int(row)) for row in raw.index], index=raw.index, dtype=object))
    return replace(validation, sheet=replace(validation.sheet, raw=raw))


def _validated(sheet: Sheet, left_out: list[LeftOut]) -> Validation:
    """The plan's cells validated; a problem anywhere but a left-out row refuses the plan."""
    left_rows = {item.row for item in left_out}
    validation = validate_sheet(sheet)
    bad = [p for p in validation.problems if p.row not in left_rows]
    if bad:
        shown = "; ".join(f"row {p.row}: {p.column or 'row'}: {p.message}" for p in bad[:MAX_SHOWN_PROBLEMS])
        more = f" (and {len(bad) - MAX_SHOWN_PROBLEMS} more)" if len(bad) > MAX_SHOWN_PROBLEMS else ""
        raise PlanFormatError(f"its requests break the rules a workbook's rows must keep: {shown}{more}; "
                              "was it edited by hand? Make a new plan with `bulkcc plan`")
    problems = [Problem(item.row, None, None, f"left out of the plan when it was made ({item.reason}): {item.error}")
                for item in left_out if item.reason == "invalid"]
    return Validation(sheet=sheet, typed=validation.typed, problems=problems)


def _check_changes(request: PlannedRequest, before: Mapping[str, Any], changes: list[Change], where: str) -> None:
    sent = values_from_callcenter(request.body)
    seen: set[str] = set()
    for change in changes:
        if change.column in seen:
            raise _fail(where, f"{change.column} is changed twice")
        seen.add(change.column)
        if change.after is None or not _same(change.after, sent.get(change.column)):
            raise _fail(where, f"the change of {change.column} does not match the body (which sends "
                               f"{json.dumps(sent.get(change.column))[:60]})")
        if not _same(change.before, before.get(change.column)):
            raise _fail(where, f"the change of {change.column} has another before than the request's before")
        if _same(change.before, change.after):
            raise _fail(where, f"{change.column} is listed as a change but its before and after are equal")


def saved_plan_from_document(document: dict[str, Any], path: Path, checksum: str) -> SavedPlan:
    _object(document, "plan", TOP_KEYS + (("operators",) if "operators" in document else ()))
    version = _text(document["bulkcc_version"], "bulkcc_version")
    created = _created(document["created"])
    source = _object(document["input"], "input", ("name", "sha256", "rows"))
    input_name = _text(source["name"], "input.name")
    if not isinstance(source["sha256"], str) or not _SHA256.match(source["sha256"]):
        raise _fail("input.sha256", "expected 64 lowercase hex digits")
    input_rows = _int(source["rows"], "input.rows", 0)
    target = _target(document["target"])
    diff = document["diff"]
    if not isinstance(diff, bool):
        raise _fail("diff", "expected true or false")

    rows: dict[int, str] = {}
    listed = list(enumerate(_list(document["requests"], "requests")))
    posted = [_create(item, f"requests[{i}]", rows) for i, item in listed if _is_create(item)]
    parsed = [_request(item, f"requests[{i}]", diff, rows) for i, item in listed if not _is_create(item)]
    unchanged = [_row_id(item, f"unchanged[{i}]", rows)
                 for i, item in enumerate(_list(document["unchanged"], "unchanged"))]
    if unchanged and not diff:
        raise _fail("unchanged", "only a --diff plan has unchanged rows")
    skipped = [_row_id(item, f"skipped[{i}]", rows) for i, item in enumerate(_list(document["skipped"], "skipped"))]
    left_out = [_left_out(item, f"left_out[{i}]", rows)
                for i, item in enumerate(_list(document["left_out"], "left_out"))]
    if any(item.reason != "invalid" for item in left_out) and not diff:
        raise _fail("left_out", "only a --diff plan reads live state, so only it can leave a row out as "
                                "unreadable or blocked")
    if len(rows) > input_rows:
        raise _fail("input.rows", f"{input_rows}, but the plan names {counted(len(rows), 'row')}")

    requests = [request for request, _, _ in parsed]
    validation = _validated(_sheet(path, requests, unchanged + skipped, left_out,
                                   [(row, body) for row, body, _ in posted]), left_out)
    values = row_values(validation.typed)
    maybe_made = {_int(item["row"], "", 2) for _, item in listed if _is_create(item) and MAYBE_KEY in item}
    creates = plan_creates(values, sorted(row for row, _, _ in posted), maybe_made)
    for position, (row, body, office_name) in enumerate(sorted(posted, key=lambda item: item[0])):
        if not _same(creates[position].body, body):
            raise _fail(f"the create of row {row}", _body_difference(body, creates[position].body))
        creates[position] = replace(creates[position], office_name=office_name)  # looked up when planned
    validation = _office_names_beside(validation, {create.row: create.office_name for create in creates
                                                   if create.office_name})
    for position, (request, before, changes) in enumerate(parsed):
        built = body_from_values(values[request.row])
        if not _same(built, request.body):
            raise _fail(f"requests[{position}].body", _body_difference(request.body, built))
        if diff:
            _check_changes(request, before, changes, f"requests[{position}]")
    plan = Plan(
        validation=validation,
        # The body in the field table's order (equal, key for key, to the file's).
        requests=[PlannedRequest(r.row, r.id, body_from_values(values[r.row])) for r in sorted(requests,
                                                                                               key=lambda r: r.row)],
        skipped=[PlannedRequest(row, cc_id, {}) for row, cc_id in sorted(skipped)],
        values=values,
        diffed=diff,
        unchanged=[PlannedRequest(row, cc_id, {}) for row, cc_id in sorted(unchanged)],
        changes={r.row: sorted(c, key=lambda c: field_order(c.column)) for r, _, c in parsed} if diff else {},
        prior={r.row: b for r, b, _ in parsed} if diff else {},
        unreadable={item.row: item.error for item in left_out if item.reason == "unreadable"},
        blocked={item.row: item.error for item in left_out if item.reason == "blocked"},
        creates=creates,
    )
    operators = None
    if "operators" in document:
        from bulkcc.plan.operator_planfile import read_operators_entry

        operators = read_operators_entry(document["operators"], diff=diff,
                                         create_rows={create.row: create.name for create in plan.creates})
    return SavedPlan(plan=plan, created=created, target=target, input_name=input_name,
                     input_sha256=source["sha256"], input_rows=input_rows, bulkcc_version=version,
                     checksum=checksum, left_out=tuple(sorted(left_out, key=lambda r: r.row)), path=path,
                     operators=operators)
