"""Comparing call centers field by field, in the workbook's terms.

Used to verify a write: did the API take what it accepted? (--diff compares
the same way, in diff.py.) Both sides are turned into the same column -> value
mapping a parsed row has, so `ring_seconds` "30" from the
API equals 30 from the sheet, and a DTMF menu is compared key by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulkcc.plan.payload import values_from_callcenter


def mismatched_fields(sent_body: Mapping[str, Any], answer: Any) -> list[str]:
    """The columns whose value the API's answer does not show as sent."""
    if not isinstance(answer, Mapping):
        return []  # no call center in the answer: nothing to verify against
    sent = values_from_callcenter(sent_body)
    got = values_from_callcenter(answer)
    return [path for path, value in sent.items() if got.get(path) != value]
