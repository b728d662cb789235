"""The rollback workbook a run writes: what puts back everything it changed, and only that.

Every run that changes something writes one (unless --no-rollback): before its first write it
reads the live state of what it will change (with --diff that is the diff's own read; without,
`read_priors`), and the rollback then holds, per call center, the values before and the values the
run sets (`bulkcc.plan.undo.FieldUndo`), per agent its state before and the state the run leaves
(`AgentUndo`, from the operators sheet's part), and, once made, the call centers the run created.
It is written before the first write and again after the creates; once the sending ends it is
narrowed to what was sent (each agent as the answer left it). With --resume an earlier run's
records are kept: the first value before wins, the last value set wins.

Its `rollback` sheet names the run and its journal: the deletes of a rollback are believed only of
centers that journal shows this run created (`bulkcc.run.undo`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkcc.errors import RunStopped
from bulkcc.plan.undo import AgentUndo, FieldUndo, field_undo
from bulkcc.run.journal import Journal
from bulkcc.run.options import ApplyOptions

STALE_TEXT = ("A field or an agent is put back only while it is still as this run left it (the set_by_run and "
              "agents sheets say how). One that someone changed since is 'stale': left as they set it, and "
              "counted on the Summary. One already as before the run is 'unchanged'.")


@dataclass
class Rollback:
    """The rollback workbook of one run (see the module's docstring)."""

    path: Path
    options: ApplyOptions
    run_id: str = ""
    journal: Path | None = None
    fields: dict[int, FieldUndo] = field(default_factory=dict)  # by input row, of the requests planned
    agents: Callable[[bool], list[AgentUndo]] | None = None  # the operators part's (True: only those sent)
    created: list[dict[str, Any]] = field(default_factory=list)  # this run's and an earlier's (--resume)
    earlier_fields: dict[int, FieldUndo] = field(default_factory=dict)  # an earlier run's (--resume), by id
    earlier_agents: dict[tuple[int, int], AgentUndo] = field(default_factory=dict)
    written: bool = False  # by this run (a file it did not write is never removed)
    _saved: Any = None  # what the file on disk holds (its rows, agents and created ids): not written again
    _proven: Any = None  # the last journal entry of its records (`proof`): not written again

    @classmethod
    def for_run(cls, options: ApplyOptions, run_id: str, journal: Path) -> Rollback:
        rollback = cls(options.rollback_file(), options, run_id, journal)
        if rollback.path.is_file():  # of these --results' earlier run (`check_earlier_rollback`)
            rollback._keep_earlier()
        return rollback

    def _keep_earlier(self) -> None:
        """An earlier run's records of these --results (--resume, or a run started again on them): its
        values before are the true ones where this run finds what it set, and the centers it created are
        still to be deleted on rollback."""
        from bulkcc.plan.undo_file import read_field_undos, read_rollback_book
        from bulkcc.workbook.created import read_created
        from bulkcc.workbook.rollback_book import is_rollback_workbook

        if not is_rollback_workbook(self.path):
            return  # not one this bulkcc wrote: it is replaced
        book = read_rollback_book(self.path)
        self.earlier_fields = read_field_undos(self.path, book)
        self.earlier_agents = {a.key: a for a in book.agents if a.problem is None}
        self.created = [{"id": r.id, "name": r.name, "office_id": r.office_id}
                        for r in read_created(self.path)[0] if r.problem is None]

    def record_fields(self, requests: Iterable[Any], prior: Any) -> None:
        """The requests about to be sent (`PlannedRequest`s) and the live values before (`Plan.prior`)."""
        self.fields = {}
        for request in requests:
            undo = field_undo(request.id, prior.get(request.row, {}), request.body)
            if undo is not None:
                self.fields[request.row] = undo

    def took(self, row: int, answer: Mapping[str, Any]) -> None:
        """A row's PATCH was answered with its call center (`answer`): what the run left is what it shows."""
        from bulkcc.plan.payload import values_from_callcenter

        undo = self.fields.get(row)
        if undo is not None:
            self.fields[row] = undo.answered(values_from_callcenter(answer))

    def made_by_earlier(self, call_center_id: int, values: Mapping[str, Any]) -> bool:
        """Whether a row that live already matches (`values`: its cells) was changed so by the run this one
        resumes: its rollback records setting one of those values over another (--resume, --diff)."""
        from bulkcc.plan.diff import same_value

        earlier = self.earlier_fields.get(call_center_id)
        return earlier is not None and any(
            path in earlier.left and same_value(earlier.left[path], value)
            and not same_value(earlier.before.get(path), value) for path, value in values.items())

    def add_created(self, entries: list[dict[str, Any]]) -> None:
        known = {entry["id"] for entry in self.created}
        self.created += [entry for entry in entries if entry["id"] not in known]

    async def save_before_sending(self, journal: Journal) -> None:
        """Write it before the first write, its records in the journal first: a run that cannot record how
        to undo itself sends nothing."""
        entry = self.proof()
        if entry is not None:
            if not await journal.write_now(entry):
                raise RunStopped(journal.failure_message())
            self._proven = entry
        try:
            self.save()
        except OSError as exc:
            raise RunStopped(f"the rollback workbook {self.path} could not be written ({exc.strerror or exc}), so "
                             "nothing was changed; free some space or pick another --rollback path (or pass "
                             "--no-rollback), then run again") from None

    async def save_now(self, journal: Journal) -> None:
        """Write it again while the run goes (the created sheet): if that fails, the journal still holds
        what was created, and the end of the run writes it."""
        entry = self.proof()
        if entry is not None:
            if not await journal.write_now(entry):
                return
            self._proven = entry
        with contextlib.suppress(OSError):
            self.save()

    def narrow(self, sent_rows: Collection[int], journal: Journal) -> None:
        """Once sending ends (the journal drained): only what was sent, as answered. If its records cannot
        be journaled, or it cannot be saved, the one written before stays (atomic saves): it holds these
        changes and a few more, which applying it finds unchanged."""
        entry = self.proof(sent_rows)
        if entry is not None:
            if not journal.write_drained(entry):
                return
            self._proven = entry
        with contextlib.suppress(OSError):
            self.save(sent_rows)

    def proof(self, rows: Collection[int] | None = None) -> dict[str, Any] | None:
        """The journal entry that proves the rollback `save(rows)` writes (`bulkcc.plan.undo_proof`); None
        when it holds no field or agent, or the last entry written proves it already."""
        from bulkcc.plan.undo_proof import undo_entry

        fields, agents = self._records(rows)
        if not (fields or agents):
            return None
        entry = undo_entry(fields.values(), agents.values())
        return None if entry == self._proven else entry

    def _records(self, rows: Collection[int] | None) -> tuple[dict[int, FieldUndo], dict[tuple[int, int], AgentUndo]]:
        """The rollback of `rows` (all planned rows if None), with an earlier run's of these --results."""
        fields = dict(self.earlier_fields)
        for row, undo in sorted(self.fields.items()):
            if rows is None or row in rows:
                earlier = fields.get(undo.call_center_id)
                fields[undo.call_center_id] = earlier.merged(undo) if earlier is not None else undo
        agents = dict(self.earlier_agents)
        for agent in self.agents(rows is not None) if self.agents is not None else []:
            before = agents.get(agent.key)
            agents[agent.key] = before.merged(agent) if before is not None else agent
        return fields, agents

    def save(self, rows: Collection[int] | None = None) -> Path | None:
        """Write the rollback of `rows` (all planned rows if None); with nothing to roll back, no file.
        Its records are in the journal before (`proof`)."""
        from bulkcc.plan.undo_file import rollback_workbook
        from bulkcc.workbook.xlsx import save_atomic

        fields, agents = self._records(rows)
        if fields or agents or self.created:
            content = (tuple(sorted(fields.items())), tuple(agents.values()), tuple(e["id"] for e in self.created))
            if self.written and content == self._saved:
                return self.path  # the narrowed rollback is the one written before sending
            self.written = True
            saved = save_atomic(rollback_workbook(self.about(), fields.values(), agents.values(), self.created),
                                self.path)
            self._saved = content
            return saved
        if self.written:  # nothing was sent after all
            self.path.unlink(missing_ok=True)
            self.written, self._saved = False, None
        return None

    def about(self) -> list[tuple[str, str]]:
        """The rollback sheet's rows: what this workbook undoes, and how to apply it."""
        target = self.options.target
        results = self.path.with_name(f"{self.path.stem}-results.xlsx").name
        allow = " --allow-delete" if self.created else ""
        flag = "" if target.flag().startswith("no target") else f" {target.flag()}"
        from bulkcc.send.connection import DEFAULT_SIMULATOR_STATE

        state = self.options.connection.simulator_state
        if target.simulator and state is not None and state != DEFAULT_SIMULATOR_STATE:
            flag += f" --simulator-state {state}"  # else the command would undo on another simulator's company
        return [
            ("what", f"Undoes the bulkcc run that wrote {self.options.results_path.name}: it puts back the fields "
                     "and agents that run changed, and (only with --allow-delete) deletes the call centers it "
                     "created."),
            ("apply", f"bulkcc apply {self.path.name}{flag} --results {results}{allow}"),
            ("stale", STALE_TEXT),
            ("run", self.run_id),
            ("journal", str(self.journal.resolve()) if self.journal is not None else ""),
            ("target", target.name),
            ("written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ]


def check_earlier_rollback(options: ApplyOptions, journal: Path) -> None:
    """Before the journal is opened: a rollback workbook already at the rollback path is the only record of
    how to undo the run that wrote it. One of this --results' earlier run is kept (`Rollback.for_run` merges
    it); one of another run or target is never saved over; and --restart, which replaces the journal that
    proves what the earlier run created, is refused while that rollback lists call centers to delete."""
    from bulkcc.errors import InputError, UsageError
    from bulkcc.values import counted
    from bulkcc.workbook.created import read_created
    from bulkcc.workbook.rollback_book import is_rollback_workbook, read_about

    path = options.rollback_file()
    if not is_rollback_workbook(path):
        return  # none, or not one bulkcc wrote: replaced
    try:
        about = read_about(path)
    except InputError:
        return
    lost = ("saved over, that run could no longer be undone: apply it, or move it away, or pick another "
            "--rollback path (nothing was sent)")
    made_for = about.get("target", "")
    if made_for != options.target.name:
        raise UsageError(f"{path} holds the rollback of a run against {made_for or 'a target it does not name'}, "
                         f"not {options.target.name}: {lost}")
    recorded = Path(about.get("journal") or ".")
    if recorded.name != journal.name or (recorded.is_file() and recorded.resolve() != journal.resolve()):
        raise UsageError(f"{path} holds the rollback of another run (the one whose journal is "
                         f"{recorded.name if about.get('journal') else 'not named'}): {lost}")
    if options.restart and not options.resume:
        created = [row for row in read_created(path)[0] if row.problem is None]
        if created:
            raise UsageError(f"--restart would replace {journal.name}, the journal that proves the "
                             f"{counted(len(created), 'call center')} the earlier run created, which its rollback "
                             f"{path.name} deletes only on that proof. To start over, apply that rollback first "
                             f"(with --allow-delete) if those call centers should go, then move {path.name} and "
                             f"{journal.name} away together (the rollback stays there once applied); or pick another "
                             "--results path (nothing was sent)")
