"""Plans: the exact request each valid row stands for.

`make_plan` is what `bulkcc plan` shows and what `bulkcc apply` sends: invalid
rows are never planned, and a valid row with nothing to change is set aside as
skipped rather than sent as an empty PATCH.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .payload import PlannedRequest, plan_requests, row_values
from .validate import Validation
from .xlsx import write_atomic_text


@dataclass
class Plan:
    validation: Validation
    requests: list[PlannedRequest]  # valid rows with something to send, in sheet order
    skipped: list[PlannedRequest] = field(default_factory=list)  # valid rows with nothing to change
    unreadable: list[int] = field(default_factory=list)  # --diff: rows whose live state could not be read
    values: dict[int, dict[str, Any]] = field(default_factory=dict)  # each row's parsed cells, by Excel row

    @property
    def rows(self) -> int:
        return len(self.validation.sheet.rows)

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "requests": len(self.requests),
            "skipped": len(self.skipped),
            "invalid": len(self.validation.invalid_rows),
        }


def make_plan(validation: Validation) -> Plan:
    values = row_values(validation.typed)
    planned = plan_requests(values, validation.valid_rows)
    return Plan(
        validation=validation,
        requests=[p for p in planned if p.body],
        skipped=[p for p in planned if not p.body],
        values=values,
    )


def plan_jsonl(requests: list[PlannedRequest]) -> str:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in requests)


def write_plan_jsonl(requests: list[PlannedRequest], path: str | Path) -> Path:
    """JSON Lines, one request per line: {"row", "id", "method", "path", "body"}."""
    return write_atomic_text(path, plan_jsonl(requests))
