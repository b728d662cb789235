"""Write the sample workbooks of bulkcc (run: `python sample_data/make_samples.py`).

* `callcenters.xlsx`: 20 realistic rows (ids 1001-1020) that validate with no
  problems: some rows only change ring_seconds, some set hours, some set whole
  routing_options for both states with DTMF menus, some the hold queue.
* `callcenters-with-errors.xlsx`: the mistakes admins typically make, one or two
  per row, between a few valid rows (and an unknown column `max_hold_secs`).
* `callcenters.csv`: the first rows of `callcenters.xlsx` as CSV (UTF-8).
* `migration.xlsx`: a migration in one workbook: three new call centers (no id,
  an `office_id` the simulator knows) and a change to center 1001 on the
  callcenters sheet, and on the operators sheet five agents for each new center
  (by `call_center_name`) and one more for 1001 (by `call_center_id`).

The output is deterministic (seeded values, fixed zip timestamps), so running the
script again leaves git clean. `realistic_row(i, rng)` is also the row generator
of `bench/bench_validate.py`.
"""

from __future__ import annotations

import csv
import random
import re
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from bulkcc.fields import COLUMNS, FIELDS_BY_PATH  # noqa: E402

SEED = 20240611
SAMPLE_ROWS = 20
CSV_ROWS = 6
FIRST_ID = 1001
_FIXED_TIME = (2024, 6, 11, 9, 0, 0)
_FIXED_ISO = "2024-06-11T09:00:00Z"

NAMES = (
    "Support – EMEA", "Ventas México", "Billing APAC", "Customer Care Nordics", "Técnico São Paulo",
    "Kundenservice Zürich", "Service client Québec", "Sales – North America", "Onboarding",
    "Renewals UK & Ireland", "Helpdesk 東京", "Retención LATAM", "VIP Support", "Partner Desk",
    "Payments – Fraud", "Soporte Técnico Madrid", "Wholesale Orders", "After-hours Escalations",
    "Logistik Hamburg", "Billing EMEA",
)
DESCRIPTIONS = (
    "First-line support for customers in Europe, the Middle East and Africa.",
    "Atención comercial para clientes de México; horario local.",
    "Invoices, refunds and payment plans for Asia-Pacific accounts.",
    "Escalations from the self-service portal. Staffed by tier 2 agents.",
    "Priority line for enterprise customers — answered within 20 seconds.",
)
WEEKDAY_HOURS = ("08:00-18:00", "09:00-17:00", "08:00-12:00, 13:00-17:00", "07:30-19:30", "09:00-12:30, 14:00-18:00")
SATURDAY_HOURS = ("closed", "09:00-13:00", "10:00-16:00")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")

R = "routing_options"


def _target_id(rng: random.Random) -> int:
    """A Dialpad-like id: 16 digits, so a workbook holds it as text (see `cell_value`)."""
    return rng.randrange(4_500_000_000_000_000, 6_700_000_000_000_000)


def _routing(rng: random.Random) -> dict[str, Any]:
    """routing_options for both states, with a DTMF menu (keys with and without targets)."""
    open_bridge = rng.random() < 0.5
    row: dict[str, Any] = {
        f"{R}.open.action": "bridge_target" if open_bridge else "voicemail",
        f"{R}.open.try_dial_operators": True,
        f"{R}.open.operator_routing": rng.choice(("longestidle", "mostskilled", "roundrobin", "simultaneous")),
        f"{R}.closed.action": "menu",
        f"{R}.closed.try_dial_operators": False,
    }
    if open_bridge:
        row[f"{R}.open.action_target_type"] = "callcenter"
        row[f"{R}.open.action_target_id"] = _target_id(rng)
    # Open-hours menu: 1 sales department, 2 a person, 0 the operator (no target).
    row[f"{R}.open.dtmf.1.action"] = "department"
    row[f"{R}.open.dtmf.1.action_target_type"] = "department"
    row[f"{R}.open.dtmf.1.action_target_id"] = _target_id(rng)
    row[f"{R}.open.dtmf.2.action"] = "person"
    row[f"{R}.open.dtmf.2.action_target_type"] = "user"
    row[f"{R}.open.dtmf.2.action_target_id"] = _target_id(rng)
    row[f"{R}.open.dtmf.0.action"] = "operator"
    # Off-hours menu: 1 voicemail, 2 the partner call center, 9 a message.
    row[f"{R}.closed.dtmf.1.action"] = "voicemail"
    row[f"{R}.closed.dtmf.2.action"] = "bridge_target"
    row[f"{R}.closed.dtmf.2.action_target_type"] = "callcenter"
    row[f"{R}.closed.dtmf.2.action_target_id"] = _target_id(rng)
    row[f"{R}.closed.dtmf.9.action"] = "message"
    return row


def _hours(rng: random.Random) -> dict[str, Any]:
    weekday = rng.choice(WEEKDAY_HOURS)
    row: dict[str, Any] = {"hours_on": True}
    row.update({f"{day}_hours": weekday for day in DAYS})
    if rng.random() < 0.3:
        row["friday_hours"] = "08:00-15:00"
    row["saturday_hours"] = rng.choice(SATURDAY_HOURS)
    row["sunday_hours"] = "closed"
    return row


def _hold_queue(rng: random.Random) -> dict[str, Any]:
    max_hold = rng.choice((60, 300, 600, 900, 1800, 3600))
    return {
        "hold_queue.max_hold_count": rng.choice((10, 25, 50, 100, 250)),
        "hold_queue.max_hold_seconds": max_hold,
        "hold_queue.announce_position": max_hold >= 120 and rng.random() < 0.8,
        "hold_queue.announcement_interval_seconds": rng.choice((60, 120, 180)),
        "hold_queue.allow_queue_callback": True,
        "hold_queue.queue_callback_threshold": rng.choice((3, 5, 10)),
        "hold_queue.queue_callback_dtmf": 9,  # typed as a number, as admins do
        "hold_queue.queue_escape_dtmf": rng.choice(("*", "#", 0)),
        "hold_queue.unattended_queue": rng.random() < 0.3,
        "hold_queue.stay_in_queue_after_closing": rng.random() < 0.5,
    }


def _settings(rng: random.Random) -> dict[str, Any]:
    return {
        "advanced_settings.auto_call_recording.call_recording_inbound": True,
        "advanced_settings.auto_call_recording.call_recording_outbound": rng.random() < 0.5,
        "advanced_settings.auto_call_recording.allow_pause_recording": rng.random() < 0.5,
        "advanced_settings.max_wrap_up_seconds": rng.choice((0, 15, 30, 60)),
        "voice_intelligence.auto_start": True,
        "voice_intelligence.allow_pause": rng.random() < 0.7,
        "alerts.cc_service_level_seconds": rng.choice((20, 30, 60)),
        "alerts.cc_service_level": rng.choice((80, 90, 95)),
    }


def _name(i: int) -> str:
    name = NAMES[i % len(NAMES)]
    return name if i < len(NAMES) else f"{name} {i // len(NAMES) + 1}"


def realistic_row(i: int, rng: random.Random) -> dict[str, Any]:
    """The filled cells of row `i` (id FIRST_ID + i), as a column -> cell value mapping.

    Cycles through the kinds of change admins make in bulk; every row is valid.
    """
    row: dict[str, Any] = {"id": FIRST_ID + i}
    kind = i % 8
    if kind == 0:  # a quick fix: the ring time only
        row["ring_seconds"] = rng.choice((15, 20, 25, 30, 35, 40, 45))
    elif kind == 1:  # new opening hours
        row.update(_hours(rng))
    elif kind == 2:  # a new IVR: routing for both states with DTMF menus
        row["name"] = _name(i)
        row.update(_routing(rng))
    elif kind == 3:  # the hold queue
        row.update(_hold_queue(rng))
    elif kind == 4:  # rename, describe, recording and Vi, alerts
        row["name"] = _name(i)
        row["group_description"] = rng.choice(DESCRIPTIONS)
        row.update(_settings(rng))
    elif kind == 5:  # ring time and hours
        row["ring_seconds"] = rng.choice((20, 30))
        row.update(_hours(rng))
    elif kind == 6:  # everything at once
        row["name"] = _name(i)
        row["ring_seconds"] = rng.choice((25, 30, 35))
        row.update(_hours(rng))
        row.update(_hold_queue(rng))
        row.update(_routing(rng))
        row.update(_settings(rng))
    else:  # 24/7 from now on, wrap-up time
        row["name"] = _name(i)
        row["hours_on"] = False
        row["advanced_settings.max_wrap_up_seconds"] = rng.choice((10, 20))
    return row


def sample_rows(count: int = SAMPLE_ROWS, seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [realistic_row(i, rng) for i in range(count)]


def used_columns(rows: Iterable[Mapping[str, Any]], extra: Sequence[str] = ()) -> list[str]:
    """The columns any row fills, in the field table's order (then `extra`)."""
    used = set().union(*(r.keys() for r in rows))
    return [c for c in COLUMNS if c in used] + [c for c in extra if c not in COLUMNS]


def errors_rows() -> tuple[list[str], list[list[Any]], dict[str, list[tuple[int, str]]]]:
    """The error sample: header, rows, and for each mistake its expected (row, column) problems.

    Every row holds one typical mistake except the valid ones; the header also
    holds an unknown column, `max_hold_secs` (meant: hold_queue.max_hold_seconds).
    """
    routing = {
        f"{R}.open.action": "voicemail", f"{R}.open.try_dial_operators": True,
        f"{R}.closed.action": "voicemail", f"{R}.closed.try_dial_operators": False,
    }
    rows: list[tuple[str, dict[str, Any], list[str]]] = [
        ("valid", {"id": 2001, "name": "Support – EMEA", "ring_seconds": 25}, []),
        ("typo'd enum", {"id": 2002, **routing, f"{R}.closed.action": "voicemial"}, [f"{R}.closed.action"]),
        ("decimal in an int", {"id": 2003, "hold_queue.max_hold_count": 30.5}, ["hold_queue.max_hold_count"]),
        ("ring_seconds out of range", {"id": 2004, "ring_seconds": 60}, ["ring_seconds"]),
        ("hours close before they open", {"id": 2005, "hours_on": True, "monday_hours": "18:00-08:00"},
         ["monday_hours"]),
        ("announce_position with a short hold", {
            "id": 2006, "hold_queue.max_hold_seconds": 60, "hold_queue.announce_position": True,
        }, ["hold_queue.announce_position"]),
        ("same escape and callback key", {
            "id": 2007, "hold_queue.queue_escape_dtmf": "*", "hold_queue.queue_callback_dtmf": "*",
        }, ["hold_queue.queue_callback_dtmf"]),
        ("target type without id", {"id": 2008, **routing, f"{R}.open.action": "bridge_target",
                                    f"{R}.open.action_target_type": "callcenter"},
         [f"{R}.open.action_target_id"]),
        ("DTMF target without action", {"id": 2009, **routing, f"{R}.open.dtmf.2.action_target_type": "user",
                                        f"{R}.open.dtmf.2.action_target_id": 5012345678901234},
         [f"{R}.open.dtmf.2.action"]),
        ("partial routing_options", {"id": 2010, f"{R}.open.action": "voicemail",
                                     f"{R}.open.try_dial_operators": True},
         [f"{R}.closed.action", f"{R}.closed.try_dial_operators"]),
        ("valid", {"id": 2011, "hours_on": True, "saturday_hours": "09:00-13:00", "sunday_hours": "closed"}, []),
        ("duplicated id", {"id": 2004, "name": "Billing APAC"}, ["id"]),
        ("blank id", {"name": "Ventas México", "ring_seconds": 30}, ["id"]),
        ("name with a line break", {"id": 2012, "name": "Helpdesk\nTokyo"}, ["name"]),
        ("unknown column", {"id": 2013, "max_hold_secs": 300}, []),
        ("valid", {"id": 2014, **routing, f"{R}.open.dtmf.1.action": "voicemail"}, []),
    ]
    header = ["id"] + used_columns([r for _, r, _ in rows], extra=["max_hold_secs"])[1:]
    expected: dict[str, list[tuple[int, str]]] = {"unknown column header": [(1, "max_hold_secs")]}
    table = []
    for number, (mistake, row, columns) in enumerate(rows, start=2):
        table.append([row.get(c) for c in header])
        if columns:
            expected.setdefault(mistake, []).extend((number, c) for c in columns)
    # The first row with the duplicated id is reported too.
    first = next(n for n, (_, r, _) in enumerate(rows, start=2) if r.get("id") == 2004)
    expected["duplicated id"].insert(0, (first, "id"))
    return header, table, expected


def cell_value(column: str, value: Any) -> Any:
    """A value as an admin's workbook holds it: ids as text, since a spreadsheet keeps only 15
    digits of a number (and bulkcc refuses an id of 16 digits stored as one)."""
    field = FIELDS_BY_PATH.get(column)
    if field is not None and field.is_identifier and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def write_workbook(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]],
                   notes: Sequence[str] = ()) -> Path:
    """Write the `callcenters` sheet (and a `Notes` sheet, which bulkcc ignores)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(list(header))
    for row in rows:
        sheet.append([cell_value(column, value) for column, value in zip(header, row, strict=False)]
                     + list(row)[len(header):])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="305496")
    sheet.freeze_panes = "B2"
    for column in sheet.columns:
        letter = column[0].column_letter
        sheet.column_dimensions[letter].width = min(45, max(10, *(len(str(c.value or "")) + 2 for c in column)))
    if notes:
        notes_sheet = workbook.create_sheet("Notes")
        for line in notes:
            notes_sheet.append([line])
    workbook.save(path)
    _make_reproducible(path)
    return path


def _make_reproducible(path: Path) -> None:
    """Fix the timestamps openpyxl writes (zip entries, docProps/core.xml) so reruns give equal bytes."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + _FIXED_ISO.encode(), data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """CSV as Excel exports it: UTF-8 with a BOM, TRUE/FALSE, blank cells empty."""
    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        return str(value)

    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([text(v) for v in row])
    return path


MIGRATION_OFFICE = "5100000000000002"  # one of the simulator's made-up offices (DACH)
MIGRATION_OFFICE_NAME = "DACH"  # the same office, by the name admins know it by (looked up)
FIRST_USER = 6_200_000_000_000_101  # in the simulator's pool of users (from 6200000000000001)
USER_BASE = 6_200_000_000_000_000  # the simulator's user n has the email user<n>@example.com
ROLES = ("operator", "operator", "supervisor", "operator", "admin")


def migration_sheets() -> tuple[list[list[Any]], list[list[Any]]]:
    """The callcenters and operators sheets of `migration.xlsx` (header row first): one center created in an
    office given by id, two in an office given by name; agents by email, and one by id."""
    header = ["id", "name", "office_id", "office_name", "ring_seconds", "monday_hours", "hold_queue.max_hold_seconds"]
    centers: list[list[Any]] = [header]
    new = ("Support Berlin", "Support München", "Vertrieb Hamburg")
    centers += [[None, name, MIGRATION_OFFICE if n == 0 else None, None if n == 0 else MIGRATION_OFFICE_NAME, 25,
                 "08:00-18:00", 600] for n, name in enumerate(new)]
    centers.append(["1001", None, None, None, 30, None, None])
    operators: list[list[Any]] = [["call_center_id", "call_center_name", "user_id", "user_email", "role",
                                   "skill_level"]]
    user = FIRST_USER
    for name in new:
        for n, role in enumerate(ROLES):
            operators.append([None, name, None, f"user{user - USER_BASE}@example.com", role, 100 - 10 * n])
            user += 1
    operators.append(["1001", None, str(user), None, "operator", 80])
    return centers, operators


def write_migration(path: Path) -> Path:
    centers, operators = migration_sheets()
    workbook = Workbook()
    for title, rows in (("callcenters", centers), ("operators", operators)):
        sheet = workbook.active if title == "callcenters" else workbook.create_sheet(title)
        sheet.title = title
        for row in rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="305496")
        for column in sheet.columns:
            sheet.column_dimensions[column[0].column_letter].width = max(12, *(len(str(c.value or "")) + 2
                                                                               for c in column))
            if column[0].value in ("id", "office_id", "call_center_id", "user_id"):
                for cell in column[1:]:
                    cell.number_format = "@"  # ids are text: Excel keeps 15 significant digits of a number
    workbook.save(path)
    _make_reproducible(path)
    return path


def main(out_dir: Path = HERE) -> list[Path]:
    rows = sample_rows()
    header = used_columns(rows)
    table = [[row.get(c) for c in header] for row in rows]
    notes = ("Sample for bulkcc: one row per call center; blank cells are left unchanged.",
             "bulkcc reads the callcenters sheet and ignores this one.")
    written = [write_workbook(out_dir / "callcenters.xlsx", header, table, notes)]

    err_header, err_table, _ = errors_rows()
    written.append(write_workbook(out_dir / "callcenters-with-errors.xlsx", err_header, err_table,
                                  ("Typical mistakes: run `bulkcc validate --report report.xlsx` on this file.",)))

    csv_rows = rows[:CSV_ROWS]
    csv_header = used_columns(csv_rows)
    written.append(write_csv(out_dir / "callcenters.csv", csv_header,
                             [[row.get(c) for c in csv_header] for row in csv_rows]))
    written.append(write_migration(out_dir / "migration.xlsx"))
    return written


if __name__ == "__main__":
    for written_path in main():
        print(f"wrote {written_path}")
