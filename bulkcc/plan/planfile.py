"""Saved plans: the file `bulkcc plan --out` writes and `bulkcc apply PLAN` sends.

A plan file (format `bulkcc-plan/1`, JSON) holds the exact requests of a plan
and the facts needed to trust it later: which bulkcc made it and when, from
which input (name and SHA-256), for which target, and with --diff the live
value of every field each request overwrites as read when it was made (what
`apply` checks again before sending: the stale guard). The keys are
documented in `plan_document`.

The file is its own canonical form: keys sorted, two-space indent, UTF-8, lists
in row and field-table order. So the same input and live state give the same
bytes but for `created`, and the plan's checksum is the SHA-256 of the file
(what `sha256sum` prints), recomputed on reading from the content, so that a
re-indented copy still names the same plan.

Reading is strict: anything that is not a plan bulkcc writes raises
`InputError` saying what is wrong. The bodies go through the same validation
as a workbook's cells and must be exactly the bodies bulkcc builds from those
cells, so a plan edited by hand cannot send what a workbook could not. The
plan's `Plan` value is rebuilt around that validation (`bulkcc.plan.saved`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bulkcc.errors import InputError
from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.plan.payload import field_order
from bulkcc.plan.plans import Change, Plan
from bulkcc.values import is_missing
from bulkcc.workbook.layout import CSV_SUFFIXES, XLSX_SUFFIXES
from bulkcc.workbook.xlsx import write_atomic_text

FORMAT = "bulkcc-plan/1"
FORMAT_FAMILY = "bulkcc-plan/"
PLAN_SUFFIX = ".json"
MAX_PLAN_BYTES = 256 * 1024 * 1024  # 100,000 rows of full bodies fit many times over
LEFT_OUT_REASONS = ("invalid", "unreadable", "blocked")


@dataclass(frozen=True)
class LeftOut:
    """An input row the plan does not send: invalid, or (--diff) its live state could not be read, or
    it is blocked (its routing, sent whole, would lose live settings no column holds)."""

    row: int
    id: int | None
    reason: str  # one of LEFT_OUT_REASONS
    error: str


@dataclass(frozen=True)
class SavedPlan:
    """A plan as saved: its requests (`plan`) and the facts that make it checkable."""

    plan: Plan
    created: datetime  # aware, UTC
    target: str  # the base URL it was made for, or "simulator"
    input_name: str
    input_sha256: str
    input_rows: int
    bulkcc_version: str
    checksum: str  # SHA-256 of the canonical file
    left_out: tuple[LeftOut, ...] = ()
    path: Path | None = None
    operators: Any = None  # the operators sheet's part (`bulkcc.plan.operators.OperatorPlan`), if it has one

    @property
    def diff(self) -> bool:
        return self.plan.diffed

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.created


def is_plan_file(path: str | Path) -> bool:
    """A plan file: named .json, or (not named as a workbook or CSV) JSON text starting with `{`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == PLAN_SUFFIX:
        return True
    if suffix in XLSX_SUFFIXES | CSV_SUFFIXES | {".xls"} or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            start = handle.read(64)
    except OSError:
        return False
    return start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


# ---- writing ---------------------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def left_out_rows(plan: Plan) -> list[LeftOut]:
    """The input rows a plan does not send: invalid ones, and with --diff the unreadable and blocked ones."""
    problems = plan.validation.problems_by_row()
    file_problems = "; ".join(p.message for p in plan.validation.file_problems)
    typed_ids = plan.validation.typed["id"] if "id" in plan.validation.typed else None
    rows = []
    for row in sorted(plan.validation.invalid_rows):
        value: Any = typed_ids.get(row) if typed_ids is not None else None
        cc_id = None if is_missing(value) else int(value)
        messages = "; ".join(f"{p.column or 'row'}: {p.message}" for p in problems.get(row, []))
        rows.append(LeftOut(row, cc_id, "invalid", messages or file_problems))
    for row, why in sorted(plan.unreadable.items()):
        rows.append(LeftOut(row, plan.values.get(row, {}).get("id"), "unreadable",
                            f"the live call center could not be read: {why}"))
    for row, why in sorted(plan.blocked.items()):
        rows.append(LeftOut(row, plan.values.get(row, {}).get("id"), "blocked", why))
    return sorted(rows, key=lambda r: r.row)


def _changes_entry(changes: list[Change]) -> list[dict[str, Any]]:
    return [{"field": c.column, "before": c.before, "after": c.after}
            for c in sorted(changes, key=lambda c: field_order(c.column))]


def plan_document(plan: Plan, *, target: str, input_name: str, input_sha256: str, created: datetime,
                  version: str, operators: Any = None) -> dict[str, Any]:
    """The plan file's content. Every key, as the README documents it:

    format          "bulkcc-plan/1"
    bulkcc_version  the bulkcc that made it
    created         when it was made, UTC, ISO 8601 ("2025-06-01T09:30:00Z")
    input           {"name", "sha256", "rows"}: the input file, its SHA-256, its data rows
    target          the API base URL it was made for, or "simulator"
    diff            true if it was compared with live state (plan --diff)
    requests        one per row to send, in row order: {"row" (Excel row), "id", "method",
                    "path", "body"}; with diff also "before" (the live value, when planned,
                    of every field the body overwrites; null or absent: not set) and
                    "changes" ([{"field", "before", "after"}], the fields that differ).
                    A create (POST) also has "kind": "create", its "id" is null and it has
                    no "before" or "changes"; a request without "kind" is an update (PATCH),
                    so plans of updates only are the bytes older bulkcc wrote. A create of a
                    maybe_created row (a results workbook fed back) has "maybe_created": true:
                    applying the plan looks for it before sending it
    unchanged       with diff: [{"row", "id"}] whose live state already matched
    skipped         [{"row", "id"}] with nothing to change (only an id)
    left_out        [{"row", "id", "reason": "invalid"|"unreadable"|"blocked", "error"}]: rows
                    not in the plan (only with plan --skip-invalid)
    operators       only for a workbook with an operators sheet: its changes (operator_planfile)
    """
    requests = [create.to_dict() for create in plan.creates]
    for request in plan.requests:
        entry = request.to_dict()
        if plan.diffed:
            entry["before"] = dict(plan.prior.get(request.row, {}))
            entry["changes"] = _changes_entry(plan.changes.get(request.row, []))
        requests.append(entry)
    requests.sort(key=lambda entry: entry["row"])
    extra = {}
    if operators is not None:
        from bulkcc.plan.operator_planfile import operators_entry

        extra["operators"] = operators_entry(operators)
    return {
        **extra,
        "format": FORMAT,
        "bulkcc_version": version,
        "created": _utc_text(created),
        "input": {"name": input_name, "sha256": input_sha256, "rows": plan.rows},
        "target": target,
        "diff": plan.diffed,
        "requests": requests,
        "unchanged": [{"row": r.row, "id": r.id} for r in sorted(plan.unchanged, key=lambda r: r.row)],
        "skipped": [{"row": r.row, "id": r.id} for r in sorted(plan.skipped, key=lambda r: r.row)],
        "left_out": [{"row": r.row, "id": r.id, "reason": r.reason, "error": r.error} for r in left_out_rows(plan)],
    }


def canonical_text(document: Mapping[str, Any]) -> str:
    """The one text of a plan: what the file holds and what its checksum is taken of."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def checksum_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_text(document).encode("utf-8")).hexdigest()


def write_plan_file(path: str | Path, plan: Plan, *, target: str, input_path: str | Path,
                    created: datetime | None = None, operators: Any = None) -> SavedPlan:
    """Write the plan file atomically; returns it as saved (with its checksum)."""
    from bulkcc import __version__
    from bulkcc.values import sha256_file

    created = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    input_path = Path(input_path)
    input_sha = sha256_file(input_path)
    document = plan_document(plan, target=target, input_name=input_path.name, input_sha256=input_sha,
                             created=created, version=__version__, operators=operators)
    text = canonical_text(document)
    write_atomic_text(path, text)
    return SavedPlan(plan=plan, created=created, target=target, input_name=input_path.name,
                     input_sha256=input_sha, input_rows=plan.rows, bulkcc_version=__version__,
                     checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                     left_out=tuple(left_out_rows(plan)), path=Path(path), operators=operators)


# ---- reading ---------------------------------------------------------------------


class PlanFormatError(ValueError):
    """What makes a document not a plan (turned into InputError with the file's name)."""


def _fail(where: str, what: str) -> PlanFormatError:
    return PlanFormatError(f"{where}: {what}" if where else what)


def _load_json(path: Path) -> Any:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not a plan file")
    if path.stat().st_size > MAX_PLAN_BYTES:
        raise InputError(f"{path.name} is over {MAX_PLAN_BYTES // 2**20} MB: not a plan bulkcc writes")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not a bulkcc plan: not UTF-8 text") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror}") from exc

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) < len(keys):
            raise PlanFormatError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        raise PlanFormatError(f"{name} is not a JSON number")

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not a bulkcc plan: not JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}); make one with `bulkcc plan INPUT --out PLAN.json`") from exc
    except (PlanFormatError, RecursionError) as exc:
        raise InputError(f"{path.name} is not a bulkcc plan: {exc}") from exc


def check_format(document: Any) -> None:
    """Refuse a document of another kind or version before looking further."""
    if not isinstance(document, dict) or "format" not in document:
        raise _fail("", 'no "format" key: not a plan file (make one with `bulkcc plan INPUT --out PLAN.json`)')
    found = document["format"]
    if found != FORMAT:
        if isinstance(found, str) and found.startswith(FORMAT_FAMILY):
            raise _fail("format", f"{found} is a plan format this bulkcc does not read (it reads {FORMAT}); "
                                  "apply it with the bulkcc that made it, or make a new plan")
        raise _fail("format", f"{found!r} is not {FORMAT!r}: not a plan file")


def field_value(path: Any, value: Any, where: str) -> Any:
    """A field's value as a plan records it (JSON), checked and as bulkcc holds it (hours as a tuple)."""
    if not isinstance(path, str) or path not in FIELDS_BY_PATH or path == "id":
        raise _fail(where, f"{path!r} is not a field bulkcc sets")
    if value is None:
        return None
    kind = FIELDS_BY_PATH[path].kind
    if kind in ("id", "int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "hours":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _fail(where, f"{json.dumps(value)[:60]} is not a value of {path} ({kind})")
    return tuple(value) if kind == "hours" else value


def read_plan_file(path: str | Path) -> SavedPlan:
    """The plan in a file; raises InputError for anything that is not a valid plan."""
    from bulkcc.plan.saved import saved_plan_from_document

    path = Path(path)
    document = _load_json(path)
    try:
        check_format(document)
        return saved_plan_from_document(document, path, checksum_of(document))
    except RecursionError:
        raise InputError(f"{path.name} is not a valid bulkcc plan: nested too deeply") from None
    except PlanFormatError as exc:
        raise InputError(f"{path.name} is not a valid bulkcc plan: {exc}") from exc
