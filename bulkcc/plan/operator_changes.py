"""Operator changes as values: the request each operator row stands for, and the plan of a sheet.

The values `bulkcc.plan.operators` plans (and the plan file, the review, the
run layer and the command line show and send): a live operator as read
(`LiveOperator`, `CenterLive`), the call center a row names (`CenterRef`,
found by `CenterIndex` on the callcenters sheet: its id, or the row of the
create that gives it), one change (`OperatorRequest`: its method, path, body
and the words that describe it) and a whole sheet's plan (`OperatorPlan`,
frozen: narrowing it makes a new one, so what was shown is what is sent).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bulkcc.names import name_key
from bulkcc.operator_fields import OperatorRow
from bulkcc.values import counted, printable

ADD, REMOVE, SKILL = "add", "remove", "skill"
METHODS = {ADD: "POST", REMOVE: "DELETE", SKILL: "PATCH"}
CENTERS_PATH = "/api/v2/callcenters"


def operators_path(center_id: int | str) -> str:
    return f"{CENTERS_PATH}/{center_id}/operators"


def skill_path(center_id: int | str, user_id: int) -> str:
    return f"{CENTERS_PATH}/{center_id}/operators/{user_id}/skill"


@dataclass(frozen=True)
class LiveOperator:
    """An operator as the API lists it: its role in the center (None: the API did not say) and,
    where it was read, its skill level."""

    user_id: int
    role: str | None
    skill_level: int | None = None
    email: str | None = None  # the user's first email, as the list gives it (for the words)
    name: str | None = None  # the user's display name, as the list gives it (export's context)


@dataclass(frozen=True)
class CenterLive:
    """A call center's operators as read: users by id, and how many rooms (which the sheet cannot list)."""

    center_id: int
    operators: Mapping[int, LiveOperator] = field(default_factory=dict)
    rooms: int = 0


@dataclass(frozen=True)
class CenterRef:
    """The call center a row names: its id, or the `callcenters` row whose create gives it."""

    id: int | None
    name: str | None = None
    create_row: int | None = None  # a center created in this run: its row on the callcenters sheet

    @property
    def label(self) -> str:
        if self.name:
            created = " (created in this run)" if self.create_row is not None else ""
            return f"{printable(self.name, limit=60, quote=True)}{created}"
        return f"call center {self.id}"

    def key(self) -> tuple[str, int]:
        """Which center, whether or not its id is known yet."""
        return ("id", self.id) if self.id is not None else ("create", self.create_row or 0)


@dataclass(frozen=True)
class OperatorRequest:
    """One operator change: what to send, for which sheet row (None: an --exact-operators removal)."""

    kind: str  # ADD, REMOVE or SKILL
    center: CenterRef
    user_id: int
    body: Mapping[str, Any]
    row: int | None = None
    # With --diff: the operator as read when planned (None: it was not an operator), to roll back.
    before: LiveOperator | None = None
    diffed: bool = False  # planned against live operators (`before` is known)
    # The user's email, shown beside the id: the one the row named the user by, or the live operator's.
    user_email: str | None = None

    @property
    def method(self) -> str:
        return METHODS[self.kind]

    @property
    def path(self) -> str:
        center: int | str = self.center.id if self.center.id is not None else \
            f"{{id of {self.center.label}}}"
        return skill_path(center, self.user_id) if self.kind == SKILL else operators_path(center)

    def describe(self) -> str:
        """The change in words: "add user 42 to 'Support Berlin' as supervisor, skill 80"."""
        label = self.center.label
        user = f"{self.user_id} ({printable(self.user_email, limit=80)})" if self.user_email else str(self.user_id)
        if self.kind == ADD:
            text = f"add user {user} to {label} as {self.body.get('role') or 'operator'}"
            if "skill_level" in self.body:
                text += f", skill {self.body['skill_level']}"
            if "license_type" in self.body:
                text += f", {self.body['license_type']} license"
            return text
        if self.kind == SKILL:
            before = self.before.skill_level if self.before is not None else None
            was = f"{before} → " if before is not None else ""
            return f"set the skill level of user {user} in {label}: {was}{self.body.get('skill_level')}"
        text = f"remove user {user} from {label}"
        if self.row is None:
            text += " (not on the sheet: --exact-operators)"
        if self.before is not None:
            text += f" (was {self.before.role or 'an operator'}" + (
                f", skill {self.before.skill_level})" if self.before.skill_level is not None else ")")
        return text

    def for_center(self, center_id: int) -> OperatorRequest:
        """The same change, once its center's id is known (a center created in this run)."""
        return replace(self, center=replace(self.center, id=center_id))

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "call_center_id": self.center.id, "user_id": self.user_id,
                "method": self.method, "path": self.path, "body": dict(self.body), "action": self.describe(),
                **({"user_email": self.user_email} if self.user_email else {})}


@dataclass(frozen=True)
class OperatorPlan:
    """What the operators sheet stands for. Rows not in `requests` are in exactly one of the others."""

    requests: tuple[OperatorRequest, ...] = ()  # in sheet order; --exact-operators removals last
    unchanged: Mapping[int, str] = field(default_factory=dict)  # row -> why nothing is sent (--diff)
    blocked: Mapping[int, str] = field(default_factory=dict)  # row -> why it is never sent (failed)
    unresolved: Mapping[int, str] = field(default_factory=dict)  # row -> why its center is unknown (not sent)
    unreadable: Mapping[int, str] = field(default_factory=dict)  # row -> why its live state is unknown
    diffed: bool = False
    exact: bool = False
    rooms: Mapping[int, int] = field(default_factory=dict)  # center id -> rooms --exact-operators leaves alone
    invalid: Mapping[int, str] = field(default_factory=dict)  # row -> its problems: never planned (a saved plan)
    # --exact-operators: center id -> why its unlisted operators are not removed (an invalid row names it)
    exact_held: Mapping[int, str] = field(default_factory=dict)

    def only(self, rows: Collection[int]) -> OperatorPlan:
        """The plan narrowed to `rows` (--only-failed), keeping its --exact-operators removals."""
        def keep(mapping: Mapping[int, str]) -> dict[int, str]:
            return {row: why for row, why in mapping.items() if row in rows}

        return replace(self, requests=tuple(r for r in self.requests if r.row is None or r.row in rows),
                       unchanged=keep(self.unchanged), blocked=keep(self.blocked), unresolved=keep(self.unresolved),
                       unreadable=keep(self.unreadable))

    @property
    def exact_removals(self) -> list[OperatorRequest]:
        return [r for r in self.requests if r.row is None]

    def counts(self) -> dict[str, int]:
        kinds = [r.kind for r in self.requests if r.row is not None]
        return {"add": kinds.count(ADD), "remove": kinds.count(REMOVE), "skill": kinds.count(SKILL),
                "exact_remove": len(self.exact_removals), "unchanged": len(self.unchanged),
                "blocked": len(self.blocked), "unresolved": len(self.unresolved),
                "unreadable": len(self.unreadable)}

    def summary_text(self) -> str:
        """One line of counts: "3 adds, 1 skill level change, 2 removals (--exact-operators), 5 unchanged"."""
        counts = self.counts()
        parts = [counted(counts["add"], "add"), counted(counts["skill"], "skill level change"),
                 counted(counts["remove"], "removal")]
        if self.exact:
            parts.append(counted(counts["exact_remove"], "removal") + " of operators the sheet does not list "
                         "(--exact-operators)")
        if self.exact_held:
            parts.append(f"no removal of unlisted operators from {counted(len(self.exact_held), 'call center')} "
                         "that an invalid row names")
        parts += [f"{counts[k]} {k}" for k in ("unchanged", "blocked", "unresolved", "unreadable") if counts[k]]
        if self.invalid:
            parts.append(f"{len(self.invalid)} invalid")
        return ", ".join(parts)


# ---- which call center a row names ---------------------------------------------


@dataclass(frozen=True)
class CenterIndex:
    """The callcenters sheet as operator rows see it: each name's rows (with their id; None for a
    create) and the names of its invalid rows, both by `name_key` (names as a person reads them),
    and a name per id for the labels."""

    by_name: Mapping[str, tuple[tuple[int, int | None], ...]] = field(default_factory=dict)
    invalid: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Mapping[int, Mapping[str, Any]], invalid_names: Mapping[str, int] | None = None
           ) -> CenterIndex:
        """From the parsed cells of the valid callcenters rows (by Excel row) and the names of the invalid ones."""
        by_name: dict[str, list[tuple[int, int | None]]] = {}
        names: dict[int, str] = {}
        for row, cells in sorted(values.items()):
            name = cells.get("name")
            cc_id = cells.get("id")
            if isinstance(name, str) and name.strip():
                by_name.setdefault(name_key(name), []).append((row, cc_id))
                if cc_id is not None:
                    names[int(cc_id)] = name.strip()
        invalid: dict[str, int] = {}
        for invalid_name, row in (invalid_names or {}).items():
            invalid.setdefault(name_key(invalid_name), row)
        return cls({k: tuple(v) for k, v in by_name.items()}, invalid, names)

    def resolve(self, row: OperatorRow) -> CenterRef | str:
        """The center a row names, or why it names none."""
        if row.call_center_id is not None:  # typed, or a live center's name looked up (kept for the words)
            return CenterRef(row.call_center_id, self.names.get(row.call_center_id) or row.call_center_name)
        name = (row.call_center_name or "").strip()
        shown = printable(name, limit=60, quote=True)
        key = name_key(name)
        found = self.by_name.get(key, ())
        if len(found) > 1:
            rows = ", ".join(str(r) for r, _ in found)
            return (f"call_center_name {shown} names {len(found)} rows of the callcenters sheet (rows {rows}): "
                    "give call_center_id instead, or make the names unique")
        if found:
            center_row, cc_id = found[0]
            return CenterRef(cc_id, name, None if cc_id is not None else center_row)
        if key in self.invalid:
            return (f"call_center_name {shown} names row {self.invalid[key]} of the callcenters sheet, which is "
                    "invalid (fix it, and this row is sent with it)")
        return (f"call_center_name {shown} names no row of the callcenters sheet: give the call center's id "
                "in call_center_id, or add a callcenters row of that name")
