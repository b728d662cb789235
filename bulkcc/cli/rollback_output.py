"""How the command line shows a run's rollback: the reads before the first write, and a rollback applied.

Every run reads what it will change before its first write (its rollback's values before; with
--diff, the same reads decide what differs): the confirmation and `plan` say how many reads that
takes. A rollback workbook's confirmation says what it puts back and on what condition, and its
outcome lists what was left alone because someone changed it since the run (`stale`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bulkcc.values import counted

FIRST_LINES = 20  # agents and stale rows listed on a terminal; the results workbook has them all
FEW_ROWS = 3  # as `bulkcc.run.live.FEW_ROWS`: up to this many, one GET each (kept apart: no run import here)
PAGE_LIMIT = 100  # as `bulkcc.run.listing.PAGE_LIMIT`


def _call_center_reads(count: int) -> str:
    if count <= FEW_ROWS:
        return f"{counted(count, 'call center')} ({counted(count, 'GET request')})"
    pages = math.ceil(count / PAGE_LIMIT)
    return (f"{counted(count, 'call center')} (list pages of {PAGE_LIMIT} while that takes fewer requests than a "
            f"GET each: from {counted(pages, 'request')}, one GET each for any the pages have not shown)")


def read_lines(the_plan: Any, operator_plan: Any, *, diff: bool, rollback: bool, guard: bool = False,
               who: str = "it") -> list[str]:
    """What is read before the first write, and why (a saved --diff plan's stale guard: `guard`); `who`
    reads (`plan` says what `apply` will read)."""
    centers = sorted({r.center.id for r in operator_plan.requests if r.center.id is not None}) \
        if operator_plan is not None else []
    agents = sum(1 for r in operator_plan.requests if r.center.id is not None) if operator_plan is not None else 0
    if not (diff or rollback or guard):
        return ["No rollback (--no-rollback): nothing is read before sending, and bulkcc cannot undo this run."]
    parts = []
    if the_plan.requests:
        parts.append(_call_center_reads(len(the_plan.requests)))
    if centers:
        parts.append(f"the operators of {counted(len(centers), 'call center')} ({counted(len(centers), 'request')}) "
                     f"and the skill level of each of their agents a row changes who is there (up to "
                     f"{counted(agents, 'request')})")
    if not parts:
        return []
    why = [w for w, on in (("to check nothing moved since the plan was made" if guard else
                            "to send only what differs", diff or guard), ("for the rollback", rollback)) if on]
    skips = "" if diff or guard else " (--no-rollback skips these reads)"
    tail = " (--no-rollback: none is written)" if not rollback else \
        f"; the rollback workbook is written before the first write{skips}"
    return [f"Before the first change {who} reads {' and '.join(parts)}, {' and '.join(why)}{tail}."]


def rollback_confirmation_lines(the_plan: Any, about: dict[str, str]) -> list[str]:
    """What a rollback workbook's confirmation adds: what it undoes and on what condition."""
    lines = [f"It undoes the run described in its rollback sheet ({about.get('what', '')[:200]})",
             "Each field and agent is put back only while it is still as that run left it: one someone changed "
             "since is left as they set it (stale); one already as before is unchanged."]
    if the_plan.requests:
        lines.append(f"Fields to put back: {counted(len(the_plan.requests), 'call center')} (read first).")
    agents = [a for a in the_plan.agents if a.problem is None and a.refused is None]
    never = [*(f"callcenters row {row}" for row in sorted(the_plan.blocked)),
             *(f"agents row {a.row}" for a in the_plan.agents if a.refused is not None)]
    if never:
        lines.append(f"Never sent, not being as the run recorded them in its journal (edited by hand?): "
                     f"{', '.join(never[:FIRST_LINES])}{' …' if len(never) > FIRST_LINES else ''}.")
    if agents:
        lines.append(f"Agents to put back: {len(agents)} (their call centers' operators are read first):")
        lines += [f"  {a.describe()}" for a in agents[:FIRST_LINES]]
        if len(agents) > FIRST_LINES:
            lines.append(f"  … and {len(agents) - FIRST_LINES} more")
    return lines


def stale_lines(results: list[Any], agents: list[Any], results_path: Path, *, rollback: bool) -> list[str]:
    """The outcome's stale rows and agents, and what to do about them."""
    stale = [r for r in results if r.status == "stale"]
    lines = [f"row {r.row} (id {r.id}): stale, {r.error}" for r in stale[:FIRST_LINES]]
    stale_agents = [r for r in agents if str(r.status) == "stale"]
    lines += [f"agents row {r.row}: stale, {r.error}" for r in stale_agents[:FIRST_LINES]]
    more = max(0, len(stale) - FIRST_LINES) + max(0, len(stale_agents) - FIRST_LINES)
    if more:
        lines.append(f"… and {more} more stale (see {results_path})")
    if stale and not rollback:
        lines.append("Stale rows were not sent: make a new plan (`bulkcc plan INPUT --diff --out PLAN.json`) to see "
                     "and review their live values")
    elif stale or stale_agents:
        lines.append("Stale: changed by someone since the run, so left as they set them; the rest was put back")
    return lines
