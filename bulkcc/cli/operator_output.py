"""How the command line shows the operators sheet's part: in a plan, in the confirmation, in the outcome.

Operator changes are shown apart from the call centers' PATCHes, one line each in
words and then the request: `row 3: POST /api/v2/callcenters/1001/operators` with
`add user 42 to 'Support Berlin' as supervisor, skill 80`. Every line goes through
the same redaction and control-character escaping as all output.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkcc.values import counted, plural

if TYPE_CHECKING:  # the plan layer loads pandas: not for `--help`
    from bulkcc.plan import Plan
    from bulkcc.plan.operators import OperatorPlan

FIRST_OPERATOR_LINES = 20  # changes listed on a terminal before the rest are counted


def operator_plan_of(the_plan: Plan) -> OperatorPlan | None:
    """The operators sheet's plan without live state (what each row adds or removes), or None."""
    from bulkcc.plan.operators import plan_operators
    from bulkcc.run.operator_input import center_index, operator_input

    found = operator_input(the_plan.validation)
    if found is None:
        return None
    plan = plan_operators(found.rows, center_index(the_plan.validation, the_plan.values))
    return replace(plan, invalid=dict(found.invalid))


SHOWN_UNCHANGED = 20  # unchanged operator rows shown each with why; more are one line of row numbers


def left_out_count(plan: OperatorPlan | None) -> int:
    """Operator rows a saved plan would leave out (it lists them, with why)."""
    if plan is None:
        return 0
    return len(plan.invalid) + len(plan.blocked) + len(plan.unresolved) + len(plan.unreadable)


def operator_request_lines(plan: OperatorPlan, limit: int | None = None) -> Iterator[str]:
    """Each operator change as `row N: METHOD path`, its words, and its body as one JSON line; then
    the rows that send nothing, and why."""
    requests = plan.requests if limit is None else plan.requests[:limit]
    for request in requests:
        where = f"row {request.row}" if request.row is not None else "not on the sheet"
        yield f"operators {where}: {request.method} {request.path}"
        yield f"  {request.describe()}"
        yield "  " + json.dumps(dict(request.body), ensure_ascii=False)
    if limit is not None and len(plan.requests) > limit:
        yield f"… and {counted(len(plan.requests) - limit, 'more operator change')}"
    for title, rows in (("not sent", plan.blocked), ("not sent", plan.unresolved), ("cannot read", plan.unreadable)):
        for row, why in sorted(rows.items())[:limit]:
            yield f"operators row {row}: {title}: {why}"
    if 0 < len(plan.unchanged) <= SHOWN_UNCHANGED:
        for row, why in sorted(plan.unchanged.items())[:limit]:
            yield f"operators row {row}: unchanged: {why}"
    elif plan.unchanged:
        # One line, as for the call centers: an unedited export's hundreds of agents are not news.
        unchanged = sorted(plan.unchanged)
        shown = ", ".join(map(str, unchanged[:SHOWN_UNCHANGED])) + (" …" if len(unchanged) > SHOWN_UNCHANGED else "")
        yield (f"operators: {counted(len(unchanged), 'row')} unchanged (live already matches), not sent: "
               f"{plural(len(unchanged), 'row')} {shown}")
    for center, why in sorted(plan.exact_held.items()):
        yield f"--exact-operators, call center {center}: {why}"
    for center, rooms in sorted(plan.rooms.items()):
        yield (f"call center {center} also has {counted(rooms, 'room')} as operators: "
               "--exact-operators leaves rooms as they are (the sheet lists users only)")


def operator_confirmation_lines(the_plan: Plan, *, diff: bool, exact: bool,
                                saved: OperatorPlan | None = None) -> list[str]:
    """What the confirmation adds for the operators sheet (nothing without one); `saved`: a saved plan's."""
    plan = saved if saved is not None else operator_plan_of(the_plan)
    if plan is None:
        return []
    lines = [f"Operator changes, sent after the call centers: {plan.summary_text()}"
             + (" (with --diff only what differs from live is sent)" if diff and saved is None else "") + "."]
    lines += [f"  {line}" for line in operator_request_lines(plan, FIRST_OPERATOR_LINES)
              if not line.startswith("  {")]
    if exact and saved is None:
        lines.append("--exact-operators: the operators that the sheet does not list are removed from the call "
                     "centers it names; they are listed, and asked for, once they are read.")
    return lines


def operator_outcome_lines(results: Sequence[Any], limit: int, results_path: Path) -> list[str]:
    """The outcome's line of operator rows by status, and each row that did not end well."""
    if not results:
        return []
    counts = Counter(str(r.status) for r in results)
    lines = [f"{counted(len(results), 'operator row')}: " + ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items()))]
    bad = [r for r in results if str(r.status) in ("failed", "mismatch")]
    for result in bad[:limit]:
        where = f"operators row {result.row}" if result.row is not None else "operator not on the sheet"
        lines.append(f"{where} ({result.action or 'user ' + str(result.user_id)}): {result.status}, {result.error}")
    if len(bad) > limit:
        lines.append(f"… and {len(bad) - limit} more (see the Operators sheet of {results_path})")
    return lines


def write_operator_plan(plan: OperatorPlan | None, stream: Any) -> None:
    """`bulkcc plan`'s operator changes, after the call centers' requests: every one of them, or on a
    terminal the first ones (the plan file and the review workbook hold them all)."""
    from bulkcc.cli.options import visible

    if plan is None:
        return
    limit = FIRST_OPERATOR_LINES if stream.isatty() and len(plan.requests) > FIRST_OPERATOR_LINES else None
    lines = list(operator_request_lines(plan, limit))
    if lines:
        stream.write(visible("\n".join(lines)) + "\n")
