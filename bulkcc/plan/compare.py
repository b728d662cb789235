"""Comparing call centers field by field, in the workbook's terms.

Used to verify a write: did the API take what it accepted? (--diff compares
the same way, in diff.py.) Both sides are turned into the same column -> value
mapping a parsed row has, so `ring_seconds` "30" from the
API equals 30 from the sheet, and a DTMF menu is compared key by key. Text is
compared in Unicode NFC: a store that keeps text normalised answers "Café" in
other bytes than the "Café" sent, and it is the same text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from bulkcc.plan.payload import values_from_callcenter


def _same(sent: Any, got: Any) -> bool:
    if isinstance(sent, str) and isinstance(got, str):
        return unicodedata.normalize("NFC", sent) == unicodedata.normalize("NFC", got)
    return bool(sent == got)


def mismatched_fields(sent_body: Mapping[str, Any], answer: Any) -> list[str]:
    """The columns whose value the API's answer does not show as sent."""
    if not isinstance(answer, Mapping):
        return []  # no call center in the answer: nothing to verify against
    sent = values_from_callcenter(sent_body)
    got = values_from_callcenter(answer)
    return [path for path, value in sent.items() if not _same(value, got.get(path))]
