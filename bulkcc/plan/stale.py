"""The stale guard of a saved --diff plan: has live state moved since the plan was made?

A --diff plan records, per request, the live value of every field its body
overwrites (`Plan.prior`, the file's `before`). Before `apply PLAN` sends a
request it reads the call center again; if any of those fields is no longer
what the plan saw, the request is `stale` and not sent: sending it would
overwrite a change made since, unseen by whoever approved the plan. The body
overwrites the fields it sets and, when it carries `routing_options`, the
routing whole (the API replaces it whole), so a routing setting added live
since the plan also makes the request stale, and so does a live routing entry
no column can carry back (a DTMF key `*`, `bulkcc.plan.exact`): --diff would
have blocked the row, and sending it would lose that entry. Pure: reading is
the run layer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulkcc.fields import FIELDS, ROUTING_PREFIX
from bulkcc.plan.diff import shown
from bulkcc.plan.exact import routing_blockers
from bulkcc.plan.payload import PlannedRequest, field_order, values_from_callcenter
from bulkcc.plan.plans import Plan

ROUTING_FIELDS = tuple(f.path for f in FIELDS if f.is_routing)


def overwritten_fields(body: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    """The fields sending `body` overwrites, in the field table's order."""
    paths = set(values_from_callcenter(body)) | set(before)
    if ROUTING_PREFIX.rstrip(".") in body:
        paths |= set(ROUTING_FIELDS)
    paths.discard("id")
    return sorted(paths, key=field_order)


def stale_fields(plan: Plan, request: PlannedRequest, live: Mapping[str, Any]) -> list[str]:
    """Each field of `request` whose live value is no longer the plan's, as
    `ring_seconds: planned 20 → 30, live is now 25`; empty if it may be sent."""
    before = plan.prior.get(request.row, {})
    now = values_from_callcenter(live)
    sent = values_from_callcenter(request.body)
    lines = []
    for path in overwritten_fields(request.body, before):
        was, is_now = before.get(path), now.get(path)
        if was == is_now:
            continue
        after = sent.get(path)
        if after == was:  # a field the body carries as it was (routing is sent whole)
            planned = f"planned to stay {shown(path, was)}"
        else:
            planned = f"planned {shown(path, was)} → {shown(path, after)}"
        lines.append(f"{path}: {planned}, live is now {shown(path, is_now)}")
    if ROUTING_PREFIX.rstrip(".") in request.body:
        routing = {p: v for p, v in sent.items() if p.startswith(ROUTING_PREFIX)}
        lines += [f"routing_options is sent whole and would lose {reason}" for reason in
                  routing_blockers(live, routing, routing)]
    return lines


def already_as_sent(request: PlannedRequest, live: Mapping[str, Any]) -> bool:
    """Whether the live call center already shows every field `request` sets, as it sets it (a resumed run's
    own change, made by the run that stopped)."""
    from bulkcc.plan.diff import same_value

    now = values_from_callcenter(live)
    return all(same_value(now.get(path), value) for path, value in values_from_callcenter(request.body).items())
