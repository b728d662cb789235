"""The rollback of a run as a value: what the run set, what was there before, and what puts it back.

A rollback is the same kind of value as a saved --diff plan (`planfile`, `stale`): written before
the run's first write, read back strictly, applied exactly, with its own stale guard. It holds the
values of every field the run set on each call center next to the values before (`FieldUndo`), the
state each agent was in before the run and the state the run left it in (`AgentUndo`), and the call
centers the run created (the `created` sheet). Applying it (`bulkcc.run.undo`) reads live state
first and then, field by field and agent by agent:

- live is as it was before the run: nothing to do (`unchanged`; a rollback applied twice changes
  nothing the second time);
- live is as the run left it: it is put back;
- live is anything else: someone changed it since the run, so it is `stale` and left as they set it.

Routing counts as one field (the API replaces it whole). Agents are put back by the endpoint that
does exactly that: a removed agent is added again with its role and skill level (an add takes a
level of 1-100, so a level of 0 is added at 1 and then set to 0 through the skill endpoint), an
added one is removed, a changed skill level is set through the skill endpoint (never by an add). A
role the API does not take (`lead`) cannot be put back: that agent's row fails, saying so. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bulkcc.fields import ROUTING_PREFIX
from bulkcc.operator_fields import ADD_SKILL_MIN, ROLES
from bulkcc.plan.diff import same_value, shown
from bulkcc.plan.operator_changes import ADD, REMOVE, SKILL, CenterLive, CenterRef, LiveOperator, OperatorRequest
from bulkcc.plan.payload import NOT_PATCHED, body_from_values, values_from_callcenter
from bulkcc.values import printable

ROUTING = ROUTING_PREFIX.rstrip(".")
DEFAULT_ROLE, DEFAULT_SKILL = "operator", 100  # what an add gives where its body says nothing (the spec)


# ---- fields ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldUndo:
    """One call center's fields: the values before the run (`before`; None: not set, which no PATCH
    can put back) and the values the run set (`left`), by column."""

    call_center_id: int
    before: Mapping[str, Any]
    left: Mapping[str, Any]

    def merged(self, later: FieldUndo) -> FieldUndo:
        """This rollback and a later run's of the same call center (--resume, or a run again on the same
        --results): the last value set wins; the first value before wins where the later run found what
        this one had set (else someone changed it in between, and the later run's value before is the one
        to put back). Routing goes as one."""
        before = {**self.before, **later.before}
        for path in later.before:
            if path in self.before and not path.startswith(ROUTING_PREFIX) and \
                    _same_or_none(self.left.get(path), later.before[path]):
                before[path] = self.before[path]
        routing = _routing_paths(self.left, later.before)
        if _routing_paths(self.before) and (not _routing_paths(later.before) or _same_group(
                later.before, {p: self.left.get(p) for p in routing}, routing)):
            before = {p: v for p, v in before.items() if not p.startswith(ROUTING_PREFIX)}
            before.update({p: v for p, v in self.before.items() if p.startswith(ROUTING_PREFIX)})
        return FieldUndo(self.call_center_id, before, {**self.left, **later.left})


    def answered(self, got: Mapping[str, Any]) -> FieldUndo:
        """The record once the PATCH is answered (`got`: the answer's values): where the answer shows a field
        (routing: the whole of it) other than before the run, that is what the run left, and what the
        rollback's guard must find, for a server that stores a value in its own form, or fills in routing
        defaults the body did not send. An answer that shows a field as before (not taken, or an answer of
        the call center as it was) leaves the value sent as the record: the guard finds which it was."""
        left, before = dict(self.left), self.before
        for path in self.left:
            if not path.startswith(ROUTING_PREFIX) and path in got and not _same_or_none(got[path], before.get(path)):
                left[path] = got[path]
        routing = _routing_paths(self.left)
        answered = {p: v for p, v in got.items() if p.startswith(ROUTING_PREFIX)}
        paths = sorted({*routing, *answered, *_routing_paths(before)})
        if routing and answered and not _same_group(got, {p: before.get(p) for p in paths}, paths):
            left = {p: v for p, v in left.items() if not p.startswith(ROUTING_PREFIX)}
            left.update({p: answered.get(p) for p in paths})
        return FieldUndo(self.call_center_id, self.before, left)


def _same_or_none(a: Any, b: Any) -> bool:
    return a is None and b is None or (a is not None and b is not None and same_value(a, b))


def field_undo(call_center_id: int, before: Mapping[str, Any], body: Mapping[str, Any]) -> FieldUndo | None:
    """What a PATCH of `body` changes on a call center whose values were `before` (its fields, routing
    whole): only the fields it sets to another value; None when it changes nothing."""
    sent = {path: value for path, value in values_from_callcenter(body).items() if path not in NOT_PATCHED}
    routing = [path for path in sent if path.startswith(ROUTING_PREFIX)]
    if routing and _same_group(before, sent, _routing_paths(before, sent)):
        routing = []
    changed = [path for path in sent if not path.startswith(ROUTING_PREFIX) and
               not same_value(before.get(path), sent[path])]
    if routing:  # put back whole, as it is sent
        changed += _routing_paths(before, sent)
    if not changed:
        return None
    return FieldUndo(call_center_id, {p: before.get(p) for p in changed}, {p: sent.get(p) for p in changed})


def _routing_paths(*values: Mapping[str, Any]) -> list[str]:
    return sorted({p for mapping in values for p in mapping if p.startswith(ROUTING_PREFIX)})


def _same_group(a: Mapping[str, Any], b: Mapping[str, Any], paths: list[str]) -> bool:
    return all(same_value(a.get(p), b.get(p)) if b.get(p) is not None else a.get(p) is None for p in paths)


@dataclass
class FieldVerdict:
    """What applying a rollback row does to its call center, once live state is read."""

    put_back: dict[str, Any] = field(default_factory=dict)  # column -> value to send
    already: list[str] = field(default_factory=list)  # columns already as before the run
    stale: list[str] = field(default_factory=list)  # why each column moved since is left alone
    cannot: list[str] = field(default_factory=list)  # why each column cannot be put back

    @property
    def body(self) -> dict[str, Any]:
        return body_from_values(self.put_back)

    def note(self) -> str | None:
        """The row's words for what is left alone, or None when nothing is."""
        parts = []
        if self.stale:
            parts.append("left as live, changed since the run: " + "; ".join(self.stale))
        if self.cannot:
            parts.append("cannot be put back: " + "; ".join(self.cannot))
        return "; ".join(parts) or None


def undo_fields(restore: Mapping[str, Any], left: Mapping[str, Any] | None, live: Mapping[str, Any]) -> FieldVerdict:
    """The rollback row `restore` (its cells: the values to put back) against its call center's `live`
    state, guarded by `left` (the values the run set; None: the rollback holds no record of them)."""
    now = values_from_callcenter(live)
    left = left or {}
    verdict = FieldVerdict()
    plain = sorted({p for p in [*restore, *left] if not p.startswith(ROUTING_PREFIX) and p not in NOT_PATCHED})
    for path in plain:
        _one(path, restore.get(path), path in left, left.get(path), now.get(path), verdict)
    routing = _routing_paths(restore, left)
    if routing:
        _routing(routing, restore, left, now, verdict)
    return verdict


def _one(path: str, restore: Any, recorded: bool, set_to: Any, live: Any, verdict: FieldVerdict) -> None:
    if restore is not None and same_value(live, restore):
        verdict.already.append(path)
    elif not recorded:
        verdict.stale.append(f"{path}: the rollback holds no record of what the run set it to")
    elif same_value(live, set_to) if set_to is not None else live is None:
        if restore is None:
            verdict.cannot.append(f"{path} was not set before the run, and a PATCH cannot unset it (it stays "
                                  f"{shown(path, live)})")
        else:
            verdict.put_back[path] = restore
    else:
        verdict.stale.append(f"{path}: the run set {shown(path, set_to)}, live is now {shown(path, live)}")


def _routing(paths: list[str], restore: Mapping[str, Any], left: Mapping[str, Any], now: Mapping[str, Any],
             verdict: FieldVerdict) -> None:
    live_paths = sorted({*paths, *_routing_paths(now)})
    wanted = {p: restore.get(p) for p in paths}
    if _same_group(now, wanted, live_paths):
        verdict.already.append(ROUTING)
    elif not any(p in left for p in paths):
        verdict.stale.append(f"{ROUTING}: the rollback holds no record of what the run set it to")
    elif _same_group(now, {p: left.get(p) for p in live_paths}, live_paths):
        verdict.put_back.update({p: v for p, v in wanted.items() if v is not None})
    else:
        verdict.stale.append(f"{ROUTING}: changed since the run (it is sent whole, so none of it is put back)")


# ---- agents ---------------------------------------------------------------------


@dataclass(frozen=True)
class AgentState:
    """An operator as it was (None in a field: not known)."""

    role: str | None
    skill_level: int | None

    @classmethod
    def of(cls, live: LiveOperator | None) -> AgentState | None:
        return None if live is None else cls(live.role, live.skill_level)

    def text(self) -> str:
        skill = f", skill {self.skill_level}" if self.skill_level is not None else ""
        return f"{self.role or 'an operator of unknown role'}{skill}"


def state_text(state: AgentState | None) -> str:
    return "not an operator" if state is None else state.text()


@dataclass(frozen=True)
class AgentUndo:
    """One agent of one call center: as it was before the run (None: not an operator) and as the run
    left it. `row` is its row on the rollback's agents sheet; `problem` says why the row cannot be read."""

    call_center_id: int
    user_id: int
    before: AgentState | None
    left: AgentState | None
    row: int | None = None
    problem: str | None = None
    center_name: str | None = None  # the names the run knew them by, beside the ids (words only)
    user_email: str | None = None
    refused: str | None = None  # why it is never sent: its run's journal does not hold this record

    @property
    def key(self) -> tuple[int, int]:
        return self.call_center_id, self.user_id

    def merged(self, later: AgentUndo) -> AgentUndo:
        """This rollback and a later run's of the same agent (--resume, or a run again on the same --results):
        the last `left`; the first `before` where the later run found the agent as this one left it (else
        someone changed it in between: the later run's `before` is the one to put back)."""
        if not _agrees(self.left, later.before):
            return later
        return replace(self, left=later.left)

    def describe(self) -> str:
        """The undo in words: "put user 42 (ada@example.com) of call center 7 back as supervisor, skill 0 (the
        run left it operator, skill 100)"."""
        user = f"{self.user_id} ({printable(self.user_email, limit=80)})" if self.user_email else str(self.user_id)
        center = f"call center {self.call_center_id}" + (
            f" ({printable(self.center_name, limit=60, quote=True)})" if self.center_name else "")
        where = f"user {user} of {center}"
        if self.before is None:
            return f"remove {where} (the run added it as {state_text(self.left)})"
        return f"put {where} back as {self.before.text()} (the run left it {state_text(self.left)})"


def _agrees(left: AgentState | None, found: AgentState | None) -> bool:
    """Whether an agent found in `found` may be as a run left it (`left`: a field not known agrees)."""
    if left is None or found is None:
        return left is None and found is None
    return all(a is None or b is None or a == b for a, b in ((left.role, found.role),
                                                            (left.skill_level, found.skill_level)))


def left_by(request: OperatorRequest, before: AgentState | None, status: str | None = None) -> AgentState | None:
    """The state a change leaves its agent in, given the agent before and (once answered) the status of
    the change: an add that was refused and then set only the skill level (`updated`) kept the role."""
    if request.kind == REMOVE:
        return None
    if request.kind == SKILL:
        return AgentState(before.role if before is not None else None, request.body.get("skill_level"))
    level = request.body.get("skill_level", DEFAULT_SKILL)
    if status == "updated":  # the operator was there: read back, only its skill level was set
        return AgentState(before.role if before is not None else request.body.get("role"), level)
    role: str | None = request.body.get("role") or DEFAULT_ROLE
    if status is None and before is not None:
        # Not answered yet (the rollback written before the first write, which a crash may leave as the
        # last): an add of an operator who is there is refused by one API (its role kept, its level set
        # only if the row gives one) and taken as an update by another (the defaults where not given).
        # What both outcomes would not leave alike is not known, and so not compared.
        role = role if role == before.role else None
        if "skill_level" not in request.body and level != before.skill_level:
            level = None
    return AgentState(role, level)


def agent_undo(request: OperatorRequest, before: AgentState | None, status: str | None = None) -> AgentUndo | None:
    """The rollback of one change (its center's id known), or None when it changes nothing (an add of an
    operator already so, answered `unchanged`)."""
    if request.center.id is None or status == "unchanged":
        return None
    left = left_by(request, before, status)
    if left == before:
        return None
    return AgentUndo(request.center.id, request.user_id, before, left, center_name=request.center.name,
                     user_email=request.user_email)


def is_as(state: AgentState | None, live: LiveOperator | None) -> bool:
    """Whether the live operator is in `state` (a field of `state` that is not known is not compared)."""
    if state is None or live is None:
        return state is None and live is None
    return ((state.role is None or live.role == state.role)
            and (state.skill_level is None or live.skill_level == state.skill_level))


def skill_needed(undo: AgentUndo, live: CenterLive) -> bool:
    """Whether the live skill level of the agent must be read to decide (it is there, and a level is known)."""
    levels = [s.skill_level for s in (undo.before, undo.left) if s is not None]
    return undo.user_id in live.operators and any(level is not None for level in levels)


@dataclass(frozen=True)
class AgentVerdict:
    """What applying the rollback does to one agent: `steps` in order, or why nothing (unchanged,
    stale, or it cannot be put back: failed)."""

    steps: tuple[OperatorRequest, ...] = ()
    unchanged: str | None = None
    stale: str | None = None
    failed: str | None = None


def undo_agent(undo: AgentUndo, live: CenterLive) -> AgentVerdict:
    """The rollback of one agent against its call center's live operators (skill levels read)."""
    now = live.operators.get(undo.user_id)
    where = f"user {undo.user_id} of call center {undo.call_center_id}"
    if undo.problem is not None:
        return AgentVerdict(failed=undo.problem)
    if is_as(undo.before, now):
        return AgentVerdict(unchanged=f"{where} is {state_text(undo.before)}, as before the run: nothing to put back")
    if _half_way(undo, now):  # added again at 1 by a rollback that stopped before it set the level 0
        before = undo.before
        assert before is not None and now is not None
        return AgentVerdict(steps=(OperatorRequest(SKILL, CenterRef(undo.call_center_id), undo.user_id,
                                                   {"skill_level": before.skill_level}, undo.row, now, True),))
    if not is_as(undo.left, now):
        shown_now = state_text(AgentState.of(now))
        return AgentVerdict(stale=f"{where} is {shown_now} now, not {state_text(undo.left)} as the run left it: "
                                  "changed since the run, so it is left as it is")
    return _steps(undo, now)


def _half_way(undo: AgentUndo, now: LiveOperator | None) -> bool:
    before = undo.before
    return (before is not None and now is not None and before.skill_level is not None
            and before.skill_level < ADD_SKILL_MIN and now.role == before.role and now.skill_level == ADD_SKILL_MIN
            and (undo.left is None or undo.left.role != before.role))


def _steps(undo: AgentUndo, now: LiveOperator | None) -> AgentVerdict:
    center = CenterRef(undo.call_center_id)
    user, before = undo.user_id, undo.before
    if before is None:
        return AgentVerdict(steps=(OperatorRequest(REMOVE, center, user, {"user_id": user}, undo.row, now, True),))
    where = f"user {user} of call center {undo.call_center_id}"
    if now is not None and now.role == before.role:
        if before.skill_level is None:
            return AgentVerdict(failed=f"the skill level {where} had before the run is not known: set it in Dialpad")
        return AgentVerdict(steps=(OperatorRequest(SKILL, center, user, {"skill_level": before.skill_level},
                                                   undo.row, now, True),))
    # Not an operator now, or with another role (an API that takes an add of an operator who is there as
    # an update changed it): an add with the role before is what puts it back.
    if before.role not in ROLES:
        shown_role = "not known" if before.role is None else repr(before.role)
        return AgentVerdict(failed=(f"{where} was {before.text()} before the run; its role {shown_role} is not one "
                                    f"the API takes ({', '.join(ROLES)}), so it cannot be put back by bulkcc: "
                                    f"add the user as {before.role or 'before'} in Dialpad"))
    if before.skill_level is None:
        return AgentVerdict(failed=f"the skill level {where} had before the run is not known: add it in Dialpad")
    level = before.skill_level
    body = {"user_id": user, "role": before.role, "skill_level": max(level, ADD_SKILL_MIN)}
    steps = [OperatorRequest(ADD, center, user, body, undo.row, now, True)]
    if level < ADD_SKILL_MIN:  # an add takes 1-100: add at 1, then the skill endpoint sets 0
        steps.append(OperatorRequest(SKILL, center, user, {"skill_level": level}, undo.row,
                                     LiveOperator(user, before.role, ADD_SKILL_MIN), True))
    return AgentVerdict(steps=tuple(steps))
