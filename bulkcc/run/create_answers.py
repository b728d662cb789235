"""What a create's answer must be before it is believed, and what each outcome of a create says.

A create's answer is the row's call center only if it names a center that is
new and in the office asked: an id (`answer_id`), not one the office listed
before the POST, not one another row of this run was given, the office asked
(an answer that names no office may be another office's center of the same
name) and the name sent, as a person reads it
(`bulkcc.names.same_name`: a store that keeps names NFC-normalised answers with
other bytes of the same name). Anything else is an answer that does not settle
the create: its id is never the row's, anywhere (Results, the created sheet, the
operators named by `call_center_name`), and the create is looked for by name
instead (`bulkcc.run.offices`).

The texts here are what the Results, the journal and the terminal say of each
outcome, and what to do next. Pure: nothing here reads or sends.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bulkcc.names import how_alike, same_name
from bulkcc.plan.compare import mismatched_fields
from bulkcc.plan.creates import PlannedCreate
from bulkcc.run.answers import answer_id, id_problem, shown
from bulkcc.run.offices import Lookup, Office
from bulkcc.status import Status
from bulkcc.values import printable

RESEND_FLAG = "--resend-maybe-created"


def quoted(name: Any) -> str:
    """A name in a message: quoted, its invisible and control characters made visible."""
    return printable(str(name), 80, quote=True)


def answer_problem(create: PlannedCreate, answer: Mapping[str, Any], before: Office | None,
                   claimed: Mapping[int, int]) -> str | None:
    """Why a 2xx answer is not this row's new call center (see the module's docstring), or None.
    `before`: the office as listed before the POST; `claimed`: ids this run's other rows were given."""
    problem = id_problem(answer)
    if problem is not None:
        return f"{problem}, so it is no call center made for this row"
    cc_id = answer_id(answer["id"])
    assert cc_id is not None
    if before is not None and cc_id in before.listed:
        return (f"it names call center {cc_id} ({quoted(before.listed[cc_id])}), which office {create.office_id} "
                "already had before this create")
    if claimed.get(cc_id, create.row) != create.row:
        return f"it names call center {cc_id}, which the create of row {claimed[cc_id]} was given in this run"
    office = answer.get("office_id")
    if office is None:  # the schema's call center has one: without it, the center may be another office's
        return f"it names call center {cc_id} but not its office, so it is not known to be of office {create.office_id}"
    if answer_id(office) != create.office_id:
        return f"it names call center {cc_id} of office {shown(office)}, not of office {create.office_id}"
    name = answer.get("name")
    if not isinstance(name, str) or not same_name(name, create.name):
        return f"it names call center {cc_id} called {shown(name)}, not {quoted(create.name)}"
    return None


def verified(create: PlannedCreate, answer: Mapping[str, Any]) -> tuple[Status, str | None]:
    """The row's own new call center: created if it shows every field as sent, else mismatch (it exists)."""
    wrong = mismatched_fields(create.body, answer)
    if wrong:
        return Status.MISMATCH, "the API created it but did not take: " + ", ".join(wrong)
    return Status.CREATED, None


def found_note(create: PlannedCreate, lookup: Lookup, why: str) -> str:
    return (f"found in office {create.office_id}'s listing ({lookup.words()}) after the POST got no answer that "
            f"settles it ({why})")


def ambiguous_note(create: PlannedCreate, ids: Collection[int], why: str) -> str:
    listed = ", ".join(map(str, ids))
    return (f"{why}; office {create.office_id} now lists {len(ids)} call centers named {quoted(create.name)} that "
            f"were not there before (ids {listed}): one of them may be this row's. Check them in Dialpad, and put "
            "the right one's id in this row's id column (nothing was sent again)")


def maybe_note(create: PlannedCreate, lookup: Lookup | None, why: str) -> str:
    """The error of a `maybe_created` row: why its outcome is unknown, how it was looked for, what to do."""
    if lookup is None:
        looked = "it was not looked for"
    elif lookup.stopped:
        looked = f"the run was stopped while looking for it ({lookup.words()})"
    elif lookup.error is not None:
        looked = f"office {create.office_id} could not be read to look for it ({lookup.error})"
    else:
        looked = f"office {create.office_id} did not list {quoted(create.name)} ({lookup.words()})"
    return (f"{why}; {looked}, so it may or may not have been made. Check office "
            f"{create.office_id} in Dialpad, then run the same command with --resume (or apply these results): "
            f"it looks again and takes the call center's id if it is there; if it is not, add {RESEND_FLAG} to "
            "send it once more")


def clash_message(create: PlannedCreate, ids: list[int], office: Office) -> str:
    """A create whose name reads as a live center's: both names shown, how they differ, what to do instead."""
    which = ", ".join(f"id {cc_id}" for cc_id in ids)
    live = office.listed.get(ids[0], "")
    alike = f"named {quoted(live)} ({which})"
    if live.strip() != create.name.strip():
        alike += f", which reads as this row's {quoted(create.name)} ({how_alike(live, create.name)})"
    return (f"office {create.office_id} already has a call center {alike}: nothing was sent for this row (names "
            "are compared as a person reads them: case, blanks, invisible characters and Unicode forms aside). "
            "To change that call center, put its id in the id column; to make another one, give this row a name "
            "of its own")
