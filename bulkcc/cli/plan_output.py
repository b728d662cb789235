"""How `bulkcc plan` shows its requests: all of them as plain lines, or a summary on a full terminal.

A plan of 100,000 rows is 300,000 lines: rendered through rich it took 55% of
`plan`'s time, and piped through rich each JSON body was wrapped at 200
columns, which broke the JSON. So the lines are written plainly (each made
visible and redacted like every output), and on a terminal a plan taller
than the screen is summed up instead: the first rows in full, the count of
call centers per field, and where the whole plan can be written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from bulkcc.cli.options import visible
from bulkcc.values import counted

if TYPE_CHECKING:  # the plan layer loads pandas: not for `--help`
    from bulkcc.plan import Plan

FIRST_ROWS = 5  # requests shown in full above a summary
MIN_SCREEN = 24  # lines, when the terminal does not say
# One encoder for every body: json.dumps with any option builds a new JSONEncoder per call.
_BODY_JSON = json.JSONEncoder(ensure_ascii=False).encode


def create_lines(plan: Plan, limit: int | None = None) -> Iterator[str]:
    """Each create as `row N: POST /api/v2/callcenters create "Support Berlin" in office 124` and its body."""
    for create in plan.creates[:limit]:
        yield f"row {create.row}: {create.describe()}"
        yield "  " + json.dumps(create.body, ensure_ascii=False)


def request_lines(plan: Plan, limit: int | None = None) -> Iterator[str]:
    """Each planned request as `row N: PATCH path`, its changes, and its body as one JSON line;
    the creates come first (they are sent first), apart from the updates."""
    yield from create_lines(plan, limit)
    if plan.creates and plan.requests:
        yield "updates:"
    for request in plan.requests[:limit]:
        yield f"row {request.row}: {request.method} {request.path}"
        for change in plan.change_lines(request.row):
            yield f"  {change}"
        yield "  " + _BODY_JSON(request.body)
    if limit is None:
        for request in plan.skipped:
            yield f"row {request.row}: id {request.id} has nothing to change, not sent"


def _line_count(plan: Plan) -> int:
    return (sum(2 + len(plan.changes.get(r.row, [])) for r in plan.requests) + len(plan.skipped)
            + 2 * len(plan.creates))


def write_requests(plan: Plan, stream: TextIO, *, full_plan_hint: str) -> None:
    """Every request on `stream`; on a terminal a plan taller than the screen gets a summary instead."""
    screen = max(shutil.get_terminal_size((80, MIN_SCREEN)).lines, MIN_SCREEN)
    if stream.isatty() and _line_count(plan) > screen - 8:
        lines = [*request_lines(plan, FIRST_ROWS),
                 *([f"… and {counted(len(plan.creates) - FIRST_ROWS, 'more create')}"]
                   if len(plan.creates) > FIRST_ROWS else []),
                 f"… and {counted(max(0, len(plan.requests) - FIRST_ROWS), 'more request')} "
                 f"({counted(len(plan.skipped), 'row')} with nothing to change); {full_plan_hint}",
                 "call centers changed, per field:"]
        counts = plan.field_counts()
        width = max((len(name) for name in counts), default=0)
        lines += [f"  {name:<{width}}  {counted(count, 'call center')}"
                  for name, count in counts.items()]
    else:
        lines = list(request_lines(plan))
    if lines:
        stream.write(visible("\n".join(lines)) + "\n")  # one pass of the redactor over the whole text
