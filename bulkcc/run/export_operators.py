"""`bulkcc export --operators`: each exported call center's operators, for the workbook's operators sheet.

One `GET /api/v2/callcenters/{id}/operators` per call center, then one
`GET …/operators/{user}/skill` per operator (the list does not carry skill
levels), through the export's paced client: 20 centers of 5 operators cost 120
requests. Each operator becomes a row `call_center_id, user_id, role,
skill_level`, so that the unedited export applied with --diff changes nothing
(and with --exact-operators removes nothing); beside the ids, read-only
(`info.`, never read back), the center's name and the agent's email and name
as the list gives them, so no one has to look an id up.

The sheet must be whole or not be written: a missing operator would be removed
by --exact-operators, so any read that fails, or any answer that cannot be
believed, stops the export before anything is written. What the sheet cannot
hold is a note, never a guess: a role the API names that the sheet does not
take is left blank (with --diff a blank role keeps the live one), and rooms
(operators that are not users) are counted and not exported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkcc.errors import LiveStateError, Problem
from bulkcc.operator_fields import ROLES
from bulkcc.run.export_cells import OPERATOR_CONTEXT, context_text
from bulkcc.run.operators import OperatorReads, read_centers, read_skills
from bulkcc.send.client import ApiClient
from bulkcc.values import counted, printable


@dataclass
class ExportedOperators:
    """The operators sheet's rows, the requests they cost, and notes on what they leave out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    centers: int = 0
    requests: int = 0  # every attempt made, retries included
    notes: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        skills = len(self.rows)
        return (f"{counted(len(self.rows), 'operator')} of {counted(self.centers, 'call center')}, read in "
                f"{counted(self.requests, 'request')} ({counted(self.centers, 'operator list')}, "
                f"{counted(skills, 'skill level')}, retries included)")


def _first_failure(failures: dict[Any, Any], what: Callable[[Any], str]) -> LiveStateError | None:
    if not failures:
        return None
    key, result = sorted(failures.items())[0]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return LiveStateError(f"reading {what(key)} failed: {result.error or result.http_status}{more}; nothing was "
                          "written, since the operators sheet would be incomplete (and --exact-operators would "
                          "remove what it lacks)")


async def read_operators_for_export(client: ApiClient, center_ids: Sequence[int], *, concurrency: int,
                                    names: Mapping[int, str] | None = None) -> ExportedOperators:
    """The operators of `center_ids` as rows; LiveStateError if any read fails. Beside the ids, read-only,
    each center's name (`names`) and each agent's email and name as the list gives them."""
    before = client.requests_sent
    reads = OperatorReads()
    stop = asyncio.Event()
    await read_centers(client, center_ids, reads, concurrency=concurrency, stop=stop)
    failed = _first_failure(reads.failures, lambda c: f"the operators of call center {c}")
    if failed is not None:
        raise failed
    pairs = [(c, u) for c in center_ids for u in sorted(reads.centers[c].operators)]
    await read_skills(client, pairs, reads, concurrency=concurrency, stop=stop)
    failed = _first_failure(reads.skill_failures, lambda key: f"the skill level of user {key[1]} in call center "
                                                              f"{key[0]}")
    if failed is not None:
        raise failed
    exported = ExportedOperators(centers=len(center_ids))
    for center_id in center_ids:
        live = reads.centers[center_id]
        for user_id in sorted(live.operators):
            role = live.operators[user_id].role
            operator = live.operators[user_id]
            row: dict[str, Any] = {"call_center_id": center_id, "user_id": user_id,
                                   "skill_level": reads.skills[(center_id, user_id)]}
            context = zip(OPERATOR_CONTEXT, ((names or {}).get(center_id), operator.email, operator.name), strict=True)
            row.update({column: context_text(value) for column, value in context if value})
            if role in ROLES:
                row["role"] = role
            elif role is not None:
                exported.notes.append(Problem(len(exported.rows) + 2, "role", printable(role, limit=60),
                                              f"the API names the role {printable(role, limit=60, quote=True)}, "
                                              "which the sheet does not take: the cell is left blank (with "
                                              "--diff a blank role keeps the live one)", sheet="operators"))
            exported.rows.append(row)
        if live.rooms:
            exported.notes.append(Problem(None, None, live.rooms, f"call center {center_id} has "
                                          f"{counted(live.rooms, 'room')} as operators, which the sheet "
                                          "cannot list (it lists users): not exported", sheet="operators"))
    exported.requests = client.requests_sent - before
    return exported
