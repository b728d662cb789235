"""The strict readers of a plan file's JSON values, shared by its call center part (`saved`) and its
operators part (`operator_planfile`).

Each names where in the file a value is (`requests[3].body`, `operators.requests[0].user_id`) and
refuses anything but the exact shape bulkcc writes, with a `PlanFormatError` saying what was
expected: a plan edited by hand cannot send what a workbook could not.
"""

from __future__ import annotations

import json
from typing import Any

from bulkcc.plan.planfile import PlanFormatError


class StrictReader:
    """The readers of one part of the file; `prefix` is that part's place (`operators.`, or none)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def fail(self, where: str, what: str) -> PlanFormatError:
        return PlanFormatError(f"{self.prefix}{where}: {what}")

    def object(self, value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """An object with exactly `keys`."""
        if not isinstance(value, dict):
            raise self.fail(where, "expected an object")
        missing = [k for k in keys if k not in value]
        extra = sorted(k for k in value if k not in keys)
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        if extra:
            raise self.fail(where, f"unknown key {extra[0]!r}")
        return value

    def list(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "expected a list")
        return value

    def int(self, value: Any, where: str, low: int, high: int | None = None, *, null: bool = False) -> int | None:
        """A whole number (never a bool) from `low` to `high`; None only when `null` allows it."""
        if value is None and null:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            span = f"{low}-{high}" if high is not None else f"at least {low}"
            raise self.fail(where, f"expected a whole number of {span}, not {json.dumps(value)[:40]}")
        return value

    def text(self, value: Any, where: str, *, null: bool = False) -> str | None:
        """A non-empty text; None only when `null` allows it."""
        if value is None and null:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "expected a non-empty text")
        return value
