"""The operators sheet's part of a saved plan (`bulkcc-plan/1`), written and read back strictly.

A plan of a workbook with an operators sheet has one more top key, `operators`
(absent otherwise, so plans of call centers alone are the bytes they always
were):

    operators     {"exact": --exact-operators, "requests": [...], "unchanged": [{"row", "why"}],
                   "left_out": [{"row", "reason": "invalid"|"blocked"|"unresolved"|"unreadable",
                   "error"}]}
    a request     {"row" (the operators sheet's Excel row; null: an --exact-operators removal),
                   "call_center_id" (null for a center created in the same run, then "create_row":
                   its callcenters row), "call_center_name", "create_row", "user_id", "method",
                   "path", "body", "action" (the change in words)} and, in a --diff plan,
                   "before": the operator as read ({"role", "skill_level"}), or null if it was none;
                   "user_email" when the user is known by one (the row named it by email, looked up
                   when the plan was made, or the live operator's): shown beside the id, never sent

Reading checks every key and type, and that each request is exactly the one
bulkcc builds from its row: a POST's body is `OperatorRow.add_body()` of valid
cells, a DELETE's `{"user_id"}`, a PATCH's `{"skill_level"}` of 0-100, the path
the center's and user's, the action its words. So a plan edited by hand cannot
send what a workbook could not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bulkcc.fields import INT64_MAX
from bulkcc.names import same_name
from bulkcc.operator_fields import (
    ADD_KEYS,
    ADD_SKILL_MIN,
    LICENSE_TYPES,
    OPERATOR_FIELDS_BY_PATH,
    ROLES,
    SKILL_MAX,
    SKILL_MIN,
    OperatorRow,
)
from bulkcc.plan.operators import ADD, METHODS, REMOVE, CenterRef, LiveOperator, OperatorPlan, OperatorRequest
from bulkcc.plan.strict import StrictReader

TOP_KEYS = ("exact", "requests", "unchanged", "left_out")
USER_EMAIL_MAX = OPERATOR_FIELDS_BY_PATH["user_email"].max_length or 254
REQUEST_KEYS = ("row", "call_center_id", "call_center_name", "create_row", "user_id", "method", "path", "body",
                "action")
LEFT_OUT_REASONS = ("invalid", "blocked", "unresolved", "unreadable")
KINDS = {method: kind for kind, method in METHODS.items()}


def operators_entry(plan: OperatorPlan) -> dict[str, Any]:
    """The plan file's `operators` value (see the module's docstring)."""
    requests = []
    for request in plan.requests:
        entry = request.to_dict()
        entry.update({"call_center_name": request.center.name, "create_row": request.center.create_row})
        if plan.diffed:
            before = request.before
            entry["before"] = None if before is None else {"role": before.role, "skill_level": before.skill_level}
        requests.append(entry)
    left_out = [{"row": row, "reason": reason, "error": why} for reason, rows in
                (("invalid", plan.invalid), ("blocked", plan.blocked), ("unresolved", plan.unresolved),
                 ("unreadable", plan.unreadable)) for row, why in rows.items()]
    return {"exact": plan.exact, "requests": requests,
            "unchanged": [{"row": row, "why": why} for row, why in sorted(plan.unchanged.items())],
            "left_out": sorted(left_out, key=lambda item: item["row"])}


_READ = StrictReader("operators.")
_fail, _object, _int, _list, _text = _READ.fail, _READ.object, _READ.int, _READ.list, _READ.text


def _add_row(body: Any, where: str, row: int, user_id: int) -> OperatorRow:
    """The operator row a POST body stands for, its cells checked as a workbook's are."""
    if not isinstance(body, dict) or set(body) - set(ADD_KEYS) or body.get("user_id") != user_id:
        raise _fail(where, f"expected the add body of user {user_id} (keys of {', '.join(ADD_KEYS)})")
    role, skill = body.get("role"), body.get("skill_level")
    license_type, keep = body.get("license_type"), body.get("keep_paid_numbers")
    if role is not None and role not in ROLES:
        raise _fail(f"{where}.role", f"{json.dumps(role)[:40]} is not one of {', '.join(ROLES)}")
    _int(skill, f"{where}.skill_level", ADD_SKILL_MIN, SKILL_MAX, null=True)
    if license_type is not None and license_type not in LICENSE_TYPES:
        raise _fail(f"{where}.license_type", f"{json.dumps(license_type)[:40]} is not one of "
                                             f"{', '.join(LICENSE_TYPES)}")
    if keep is not None and not isinstance(keep, bool):
        raise _fail(f"{where}.keep_paid_numbers", "expected true or false")
    return OperatorRow(row, user_id, role=role, skill_level=skill, license_type=license_type,
                       keep_paid_numbers=keep)


def _before(value: Any, where: str) -> LiveOperator | None:
    if value is None:
        return None
    item = _object(value, where, ("role", "skill_level"))
    role = _text(item["role"], f"{where}.role", null=True)
    return LiveOperator(0, role, _int(item["skill_level"], f"{where}.skill_level", SKILL_MIN, SKILL_MAX, null=True))


def _request(value: Any, where: str, diff: bool, exact: bool) -> OperatorRequest:
    email_key = ("user_email",) if isinstance(value, dict) and "user_email" in value else ()
    item = _object(value, where, REQUEST_KEYS + (("before",) if diff else ()) + email_key)
    email = _text(item["user_email"], f"{where}.user_email") if email_key else None
    if email is not None and len(email) > USER_EMAIL_MAX:
        raise _fail(f"{where}.user_email", "is longer than a user_email cell takes")
    row = _int(item["row"], f"{where}.row", 2, null=exact)
    # Ids are int64 on the API: one beyond it is no id a workbook could name (its cell is refused).
    user_id = _int(item["user_id"], f"{where}.user_id", 1, INT64_MAX)
    assert user_id is not None
    center_id = _int(item["call_center_id"], f"{where}.call_center_id", 1, INT64_MAX, null=True)
    name = _text(item["call_center_name"], f"{where}.call_center_name", null=True)
    create_row = _int(item["create_row"], f"{where}.create_row", 2, null=True)
    if (center_id is None) == (create_row is None) or (create_row is not None and name is None):
        raise _fail(where, "a request names its call center by call_center_id, or (a center created in the same "
                           "run) by call_center_name and create_row")
    kind = KINDS.get(item["method"])
    if kind is None:
        raise _fail(f"{where}.method", f"{json.dumps(item['method'])[:40]} is not POST, DELETE or PATCH")
    body = item["body"]
    if kind == ADD:
        if row is None:
            raise _fail(f"{where}.row", "an add has the row of the operators sheet it comes from")
        body = _add_row(body, f"{where}.body", row, user_id).add_body()
    elif kind == REMOVE:
        if body != {"user_id": user_id}:
            raise _fail(f"{where}.body", f"a removal's body is {{\"user_id\": {user_id}}}")
    else:
        if not isinstance(body, dict) or set(body) != {"skill_level"} or row is None:
            raise _fail(f"{where}.body", "a skill level change (of a row) has the body {\"skill_level\": N}")
        _int(body["skill_level"], f"{where}.body.skill_level", SKILL_MIN, SKILL_MAX)
    if json.dumps(body, sort_keys=True) != json.dumps(item["body"], sort_keys=True):
        raise _fail(f"{where}.body", "is not the body bulkcc builds from its cells")
    before = _before(item["before"], f"{where}.before") if diff else None
    if before is not None:
        before = LiveOperator(user_id, before.role, before.skill_level)
    request = OperatorRequest(kind, CenterRef(center_id, name, create_row), user_id, body, row, before, diff,
                              user_email=email)
    if item["path"] != request.path:
        raise _fail(f"{where}.path", f"{json.dumps(item['path'])[:80]} is not {request.path}")
    if item["action"] != request.describe():
        raise _fail(f"{where}.action", f"is not the change's own words ({request.describe()})")
    return request


def read_operators_entry(value: Any, *, diff: bool, create_rows: Mapping[int, str]) -> OperatorPlan:
    """The `operators` value of a plan file as an OperatorPlan; PlanFormatError for anything bulkcc does not
    write. `create_rows` are the plan's creates (the rows a request may wait for), with the name each creates."""
    item = _object(value, "", TOP_KEYS)
    exact = item["exact"]
    if not isinstance(exact, bool) or (exact and not diff):
        raise _fail("exact", "expected true or false (true only in a --diff plan)")
    requests = [_request(entry, f"requests[{i}]", diff, exact) for i, entry in
                enumerate(_list(item["requests"], "operators.requests"))]
    seen: dict[int, str] = {}
    pairs: set[tuple[tuple[str, int], int]] = set()
    for position, request in enumerate(requests):
        where = f"requests[{position}]"
        if request.center.create_row is not None and request.center.create_row not in create_rows:
            raise _fail(where, f"create_row {request.center.create_row} is no create of this plan")
        if request.center.create_row is not None and not same_name(request.center.name,
                                                                     create_rows[request.center.create_row]):
            # Every word of the change names the center by this name: it must be the one the row creates.
            raise _fail(f"{where}.call_center_name", f"is not the name create_row {request.center.create_row} "
                                                     "creates")
        if request.row is not None:
            _claim(seen, request.row, where)
        key = (request.center.key(), request.user_id)
        if key in pairs:
            raise _fail(where, f"user {request.user_id} of {request.center.label} appears twice")
        pairs.add(key)
    unchanged: dict[int, str] = {}
    for i, entry in enumerate(_list(item["unchanged"], "operators.unchanged")):
        got = _object(entry, f"unchanged[{i}]", ("row", "why"))
        row = _int(got["row"], f"unchanged[{i}].row", 2)
        assert row is not None
        _claim(seen, row, f"unchanged[{i}]")
        unchanged[row] = str(_text(got["why"], f"unchanged[{i}].why"))
    left: dict[str, dict[int, str]] = {reason: {} for reason in LEFT_OUT_REASONS}
    for i, entry in enumerate(_list(item["left_out"], "operators.left_out")):
        got = _object(entry, f"left_out[{i}]", ("row", "reason", "error"))
        row = _int(got["row"], f"left_out[{i}].row", 2)
        assert row is not None
        _claim(seen, row, f"left_out[{i}]")
        if got["reason"] not in LEFT_OUT_REASONS:
            raise _fail(f"left_out[{i}].reason", f"expected one of {', '.join(LEFT_OUT_REASONS)}")
        left[got["reason"]][row] = str(_text(got["error"], f"left_out[{i}].error"))
    return OperatorPlan(requests=tuple(requests), unchanged=unchanged, blocked=left["blocked"],
                        unresolved=left["unresolved"], unreadable=left["unreadable"], diffed=diff, exact=exact,
                        invalid=left["invalid"])


def _claim(seen: dict[int, str], row: int, where: str) -> None:
    if row in seen:
        raise _fail(where, f"operators row {row} appears twice (also at {seen[row]})")
    seen[row] = where


def operator_rows_of(plan: OperatorPlan) -> dict[int, dict[str, Any]]:
    """Each row of a saved plan's operators part as the cells of an operators sheet (for the Results)."""
    cells: dict[int, dict[str, Any]] = {}
    for request in plan.requests:
        if request.row is None:
            continue
        center: Mapping[str, Any] = ({"call_center_id": request.center.id} if request.center.id is not None
                                     else {"call_center_name": request.center.name})
        row: dict[str, Any] = {**center, "user_id": request.user_id}
        if request.user_email:  # looked up when planned: shown beside the id, read-only (the id is what is sent)
            row["info.user_email"] = request.user_email
        if request.kind == REMOVE:
            row["remove"] = True
        else:
            row.update({k: v for k, v in request.body.items() if k != "user_id"})
        cells[request.row] = row
    return cells
