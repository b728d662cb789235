"""How the command line shows names looked up: each name beside the id it gave, and what the look-ups cost.

`plan` (with a key or --simulator) and the confirmation of `apply` show, apart
from the requests, one line of counts (`looked up 30 emails and 1 office name in
6 requests (5 user pages, 1 office page)`) and a line per name (`operators row
4: user_email 'anna@example.com' → user 6200000000000042 (Anna Berg)`); rows
whose names are not known (no user, two call centers …) are invalid rows and
show as such. Without a key, `plan` says which rows wait for a look-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SHOWN_NAMES = 20  # names listed on a terminal, or in a confirmation, before the rest are counted
SHOWN_ROWS = 8  # rows listed for one name


def _rows(rows: list[int]) -> str:
    """`4`, `4, 5, 9`, `2-16`, or `2, 3, 4 … (15 rows)`."""
    if len(rows) > 2 and rows == list(range(rows[0], rows[-1] + 1)):
        return f"{rows[0]}-{rows[-1]}"
    shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
    return shown + (f" … ({len(rows)} rows)" if len(rows) > SHOWN_ROWS else "")


def lookup_lines(resolution: Any, limit: int | None = SHOWN_NAMES) -> Iterator[str]:
    """The lines of a `plan.lookups.Resolution` (nothing for None)."""
    if resolution is None:
        return
    if resolution.found or resolution.total_requests:
        yield f"Names: {resolution.summary()}."
    groups = resolution.groups()
    for item, rows in groups if limit is None else groups[:limit]:
        where = "row" if item.sheet == "callcenters" else "operators row"
        yield f"  {where}{'s' if len(rows) > 1 else ''} {_rows(rows)}: {item.words()}"
    if limit is not None and len(groups) > limit:
        yield f"  … and {len(groups) - limit} more names"
    if resolution.waiting:
        rows = resolution.waiting
        yield (f"{rows} row{' waits' if rows == 1 else 's wait'} for names to be looked up (an office_name, a "
               "user_email, or a call_center_name no row of the callcenters sheet has): plan with a key "
               "(DIALPAD_API_KEY or --api-key-file) or a target (--simulator, --sandbox, --base-url) to see "
               "their ids; apply looks them up")
