"""What a look-up read (users, offices, live call centers), and what one name of a row names in it.

The values `bulkcc.run.resolve` fills from the API (`Directory`) and the one
decision per kind of name (`user_of`, `office_of`, `center_of`): the one thing
the name gives, or the message of the row's problem, naming the value and the
closest names there are. Never guessed: see `bulkcc.plan.lookups`. Pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkcc.names import how_alike, name_key
from bulkcc.operator_fields import email_key
from bulkcc.values import native, printable

UNUSABLE_STATES = frozenset({"suspended", "deleted", "cancelled"})
SUGGESTIONS = 3  # closest names offered for an unknown one
# difflib compares an unknown name with every known one at some 50 µs each (an email of a company of
# 15,000 users: most of a second), and a sheet may hold hundreds of unknown names (a mistyped domain): past
# this many comparisons in one look-up, no more close names are offered (each distinct name costs once).
SUGGEST_WORK = 40_000
SHOWN_IDS = 5


@dataclass(frozen=True)
class User:
    """A user as the users endpoint gives it: what a look-up needs of it."""

    id: int
    emails: tuple[str, ...]
    name: str | None = None  # display_name, or first and last name
    state: str | None = None

    def words(self) -> str:
        return f"user {self.id}" + (f" ({printable(self.name, 60)})" if self.name else "")


@dataclass(frozen=True)
class Office:
    id: int
    name: str | None
    state: str | None = None


@dataclass(frozen=True)
class Center:
    """A live call center as the listing gives it."""

    id: int
    name: str | None
    office_id: int | None = None
    state: str | None = None  # a deleted, cancelled or suspended center is no live one: nothing is added to it


@dataclass
class Directory:
    """What the run read to look names up; None: not read (nothing asked for it, or no key: plan offline).

    `users` holds, per email asked for (as `email_key`), every user that has it; with the whole listing read,
    `all_emails` holds every email of the company (for suggestions)."""

    users: dict[str, list[User]] | None = None
    all_emails: list[str] = field(default_factory=list)
    offices: list[Office] | None = None
    centers: list[Center] | None = None
    # Requests spent (retries included), by what was read: "user page", "email look-up", "office page",
    # "call center page".
    requests: dict[str, int] = field(default_factory=dict)
    users_by: str = ""  # "email" (one GET per email) or "listing" (every page of users)
    suggestions: Suggestions = field(default_factory=lambda: Suggestions(), repr=False, compare=False)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def _loose(text: str) -> str:
    """A name as a suggestion may take it (never a match): as a person reads it, no trailing dot."""
    return name_key(text).rstrip(".")


@dataclass
class Suggestions:
    """Close names for unknown ones: each distinct name once, within `SUGGEST_WORK` comparisons in all.
    A name that only invisible characters, Unicode forms, blanks, case or a trailing dot set apart from a
    known one costs nothing: that one is offered."""

    work: int = SUGGEST_WORK
    done: dict[tuple[str, str], str] = field(default_factory=dict)
    known: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)

    def hint(self, kind: str, name: str, known: Callable[[], Iterable[str]], key: Callable[[str], str]) -> str:
        """`did you mean 'a' or 'b'?` of the closest known names of `kind` (`known` gives them), or ""."""
        memo = (kind, key(name))
        if memo not in self.done:
            self.done[memo] = self._hint(kind, name, known, key)
        return self.done[memo]

    def _hint(self, kind: str, name: str, known: Callable[[], Iterable[str]], key: Callable[[str], str]) -> str:
        if kind not in self.known:
            shown: dict[str, str] = {}
            loose: dict[str, str] = {}
            for item in known():
                shown.setdefault(key(item), item)
                loose.setdefault(_loose(item), item)
            self.known[kind] = shown, loose
        shown, loose = self.known[kind]
        if len(name) > 200:
            return ""
        if _loose(name) in loose:  # it prints alike, maybe exactly: say what sets them apart
            match = loose[_loose(name)]
            apart = ("a trailing dot" if name_key(name) != name_key(match) else
                     how_alike(name, match).removeprefix("they differ in ").split(" (")[0])
            return f"did you mean {printable(match, 60, quote=True)} (it differs only in {apart})?"
        if len(shown) <= self.work:
            self.work -= len(shown)
            close = difflib.get_close_matches(key(name), list(shown), n=SUGGESTIONS, cutoff=0.6)
        else:
            close = []
        if not close:
            return ""
        return "did you mean " + " or ".join(printable(shown[c], 60, quote=True) for c in close) + "?"


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(map(str, ids[:SHOWN_IDS]))
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def _unknown(what: str, hint: str, fix: str) -> str:
    """The message of a name that names nothing: the closest names first when there are any, then the fix."""
    return f"{what}: {hint} If not, {fix}" if hint else f"{what}; {fix}"


def user_of(email: str, directory: Directory) -> User | str:
    """The one user an email names, or why it names none (the message of the row's problem)."""
    assert directory.users is not None
    shown = printable(email, 80, quote=True)
    users = directory.users.get(email_key(email), [])
    usable = [u for u in users if (u.state or "").lower() not in UNUSABLE_STATES]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        return (f"user_email {shown} is the email of {len(usable)} users ({_ids([u.id for u in usable])}): which "
                "one is meant is not known; use user_id")
    if users:
        states = "; ".join(f"{u.words()} is {printable(u.state or '', 30)}" for u in users[:SHOWN_IDS])
        return (f"user_email {shown}: {states}, so no one can be added by it; reactivate the user in Dialpad, or "
                "use another agent's email")
    hint = directory.suggestions.hint("email", email, lambda: directory.all_emails, email_key) \
        if directory.users_by == "listing" else ""
    return _unknown(f"user_email {shown} is the email of no user of the company", hint,
                    "type the email the user signs in with, or use user_id")


def office_of(name: str, directory: Directory) -> Office | str:
    offices_read = directory.offices
    assert offices_read is not None
    shown = printable(name, 80, quote=True)
    offices = [o for o in offices_read if o.name is not None and name_key(o.name) == name_key(name)]
    usable = [o for o in offices if (o.state or "").lower() not in UNUSABLE_STATES]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        return (f"office_name {shown} names {len(usable)} offices ({_ids([o.id for o in usable])}): which one is "
                "meant is not known; use office_id")
    if offices:
        states = "; ".join(f"office {o.id} is {printable(o.state or '', 30)}" for o in offices[:SHOWN_IDS])
        return f"office_name {shown}: {states}; a call center cannot be created there"
    hint = directory.suggestions.hint("office", name, lambda: (o.name for o in offices_read if o.name), name_key)
    return _unknown(f"office_name {shown} names no office of the company", hint,
                    "type the office's name, or use office_id")


@dataclass(frozen=True)
class SheetCenters:
    """The callcenters sheet as call_center_name sees it: by name, its rows as (row, id, office), the id None
    for a row that creates its center (in that office, once looked up)."""

    rows: Mapping[str, tuple[tuple[int, int | None, int | None], ...]]

    @classmethod
    def of(cls, typed: Any) -> SheetCenters:
        """From the callcenters sheet's parsed cells (with office_id filled in where office_name gave it)."""
        if "name" not in typed:
            return cls({})

        def column(name: str) -> Any:
            return typed[name] if name in typed else None

        ids, offices = column("id"), column("office_id")
        by_name: dict[str, list[tuple[int, int | None, int | None]]] = {}
        for row, name in typed["name"].dropna().items():
            cc_id = native(ids.at[row]) if ids is not None else None
            office = native(offices.at[row]) if offices is not None else None
            by_name.setdefault(name_key(name), []).append((int(row), None if cc_id is None else int(cc_id),
                                                            None if office is None else int(office)))
        return cls({k: tuple(v) for k, v in by_name.items()})


    def ids(self) -> dict[int, int]:
        """The id of each callcenters row that has one (an update row)."""
        return {row: cc_id for entries in self.rows.values() for row, cc_id, _ in entries if cc_id is not None}


def center_of(name: str, sheet: SheetCenters, directory: Directory) -> tuple[int | None, int | None] | str | None:
    """What a call_center_name names: (id, None) a call center, (None, row) the one a row creates; a message
    when it names none or more than one; None while the live centers are not read (a name the sheet lacks).

    A live center in the very office a row creates a center of that name in is that row's name, not another
    center: the create is refused (its name is live in its office, `bulkcc.run.creates` says so), and the
    operators naming it then wait on it."""
    key = name_key(name)
    shown = printable(name, 80, quote=True)
    on_sheet = sheet.rows.get(key, ())
    centers_read = directory.centers
    if centers_read is None:
        return None if not on_sheet else ((on_sheet[0][1], None) if on_sheet[0][1] is not None
                                          else (None, on_sheet[0][0]))
    created_in = {office for _, cc_id, office in on_sheet if cc_id is None and office is not None}
    named = [c for c in centers_read if c.name is not None and name_key(c.name) == key
             and not (c.office_id is not None and c.office_id in created_in)]
    live = [c for c in named if (c.state or "").lower() not in UNUSABLE_STATES]
    candidates: dict[tuple[str, int], str] = {}
    for row, cc_id, _ in on_sheet:
        candidates[("id", cc_id) if cc_id is not None else ("row", row)] = (
            f"call center {cc_id} (callcenters row {row})" if cc_id is not None
            else f"the call center created by callcenters row {row}")
    for center in live:
        office = f" in office {center.office_id}" if center.office_id is not None else ""
        candidates.setdefault(("id", center.id), f"live call center {center.id}{office}")
    if len(candidates) == 1:
        (kind, value), = candidates
        return (value, None) if kind == "id" else (None, value)
    if candidates:
        return (f"call_center_name {shown} names {len(candidates)} call centers ({'; '.join(candidates.values())}): "
                "which one is meant is not known; use call_center_id, or give the call centers distinct names")
    if named:  # only centers no operator can join: say so, rather than "no call center"
        gone = list({c.id: c for c in named}.values())[:SHOWN_IDS]  # a center listed twice is one center
        states = "; ".join(f"call center {c.id} is {printable(c.state or '', 30)}" for c in gone)
        return (f"call_center_name {shown}: {states}, so no operator can be added to it; use a live call "
                "center's name or call_center_id")
    hint = directory.suggestions.hint("center", name, lambda: (c.name for c in centers_read if c.name), name_key)
    return _unknown(f"call_center_name {shown} names no call center (no row of the callcenters sheet, no live one)",
                    hint, "type the call center's name, or use call_center_id")


