"""`bulkcc apply`: confirm, send, render the outcome. INPUT is a workbook or a saved plan."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bulkcc.cli.options import (
    connection_options,
    err,
    err_stream,
    handles_errors,
    out,
    parse_duration,
    target_options,
    visible,
)
from bulkcc.errors import UsageError
from bulkcc.values import counted

MAX_SHOWN_ROWS = 20  # stale rows listed on the terminal; the results workbook has them all


def _creates_and_deletes(the_plan, allow_delete: bool) -> list[str]:
    """The confirmation's lines for creates (each one) and deletes, apart from the updates."""
    from bulkcc.cli.options import visible

    lines = []
    for create in the_plan.creates[:MAX_SHOWN_ROWS]:
        lines.append(f"  row {create.row}: {visible(create.describe())}")
    if len(the_plan.creates) > MAX_SHOWN_ROWS:
        lines.append(f"  … and {counted(len(the_plan.creates) - MAX_SHOWN_ROWS, 'more create')}")

    deletable = [item for item in the_plan.deletes if item.problem is None]
    refused = [item for item in the_plan.deletes if item.problem is not None]
    if deletable:
        centers = counted(len(deletable), "call center")
        if allow_delete:
            lines.append(f"DELETE /api/v2/callcenters/{{id}} … {centers} (the created sheet, --allow-delete):")
            lines += [f"  id {item.id}: {visible(repr(item.name))} in office {item.office_id}"
                      for item in deletable[:MAX_SHOWN_ROWS]]
        else:
            lines.append(f"Not deleted: {centers} on the created sheet (deleting needs --allow-delete).")
    if refused:
        lines.append(f"Never deleted: {counted(len(refused), 'row')} of the created sheet, whatever the flags:")
        lines += [f"  row {item.row}: {visible(item.problem)}" for item in refused[:MAX_SHOWN_ROWS]]
    return lines


RESEND_LINE = ("--resend-maybe-created: each create whose outcome an earlier run did not learn (maybe_created), and "
               "that its office still does not list after the wait, is sent once more. If its first POST did make "
               "the call center and the office's listing lags longer than the wait, this makes a second one: check "
               "the office in Dialpad first.")


def describe_plan(the_plan, target, *, saved=None, diff: bool = False, allow_delete: bool = False,
                  exact: bool = False, resend: bool = False, rollback: bool = True,
                  undoing: dict | None = None) -> list[str]:
    """What the confirmation shows: where it goes, the creates (and a rollback's deletes) apart, then per
    field how many call centers the updates change, what is read before the first write (`rollback`: the
    run writes one), and for a rollback workbook (`undoing`: its rollback sheet) what it puts back."""
    counts = the_plan.summary()
    source = ""
    if saved is not None:
        from bulkcc.run.apply_plan import duration_text

        source = (f" from the plan {saved.path.name if saved.path else ''} (made {duration_text(saved.age())} ago, "
                  f"SHA-256 {saved.checksum[:16]}…)")
    new = len(the_plan.creates)
    creating = f"create {counted(new, 'call center')} (POST) and " if new else ""
    verb = "About to " + (creating or "") + "send"
    lines = [f"{verb} {counted(counts['requests'], 'PATCH request')} to {target.base_url}{source}."]
    from bulkcc.cli.lookup_output import lookup_lines

    lines += lookup_lines(the_plan.lookups)
    lines += _creates_and_deletes(the_plan, allow_delete)
    if resend:
        lines.append(RESEND_LINE)
    fields = the_plan.field_counts()
    if fields:
        lines.append("Fields the rows set (with --diff only those that differ from live are sent):" if diff else
                     "What it changes:")
        width = max(len(name) for name in fields)
        lines += [f"  {name.ljust(width)}  {counted(n, 'call center')}" for name, n in fields.items()]
    if saved is not None and saved.diff:
        lines.append("Each call center is read again first: a row whose live values moved since the plan was made "
                     "is not sent (stale).")
    unchanged = f"{len(the_plan.unchanged):,} unchanged, " if the_plan.diffed else ""
    lines.append(f"({counted(counts['skipped'], 'row')} with nothing to change, {unchanged}"
                 f"{counted(counts['invalid'], 'invalid row')} not sent.)")
    from bulkcc.cli.operator_output import operator_confirmation_lines, operator_plan_of
    from bulkcc.cli.rollback_output import read_lines, rollback_confirmation_lines

    if undoing is not None:
        return lines + rollback_confirmation_lines(the_plan, undoing)
    lines += operator_confirmation_lines(the_plan, diff=diff, exact=exact,
                                         saved=saved.operators if saved is not None else None)
    operator_plan = saved.operators if saved is not None else operator_plan_of(the_plan)
    return lines + read_lines(the_plan, operator_plan, diff=diff, rollback=rollback,
                              guard=saved is not None and saved.diff)


def _confirm_removals(yes: bool, target):
    """--exact-operators: once the operators are read, the removals of those the sheet does not list are
    shown and asked for (a loopback target or --yes: not asked)."""
    def confirm(operator_plan) -> bool:
        for center, why in sorted(operator_plan.exact_held.items()):
            out.print(visible(f"--exact-operators, call center {center}: {why}"), markup=False)
        removals = operator_plan.exact_removals
        if target.is_loopback or yes or not removals:
            return True
        out.print(f"--exact-operators: {counted(len(removals), 'operator')} that the operators sheet does not list "
                  f"would be removed:", markup=False)
        for request in removals[:MAX_SHOWN_ROWS * 5]:
            out.print(f"  {visible(request.describe())}", markup=False)
        if len(removals) > MAX_SHOWN_ROWS * 5:
            out.print(f"  … and {len(removals) - MAX_SHOWN_ROWS * 5} more", markup=False)
        return click.confirm("Remove them (and send the rest)?", default=False)
    return confirm


def _confirm_with_user(yes: bool, *, saved=None, diff: bool = False, allow_delete: bool = False,
                       exact: bool = False, resend: bool = False, rollback: bool = True, undoing: dict | None = None):
    """Ask before sending to anything but loopback; refuse without a terminal unless --yes.

    The sheet's warnings (hidden rows, columns or sheet holding values) are shown
    first, whatever the target: they are what an admin could not review on screen."""
    def confirm(the_plan, target) -> bool:
        from bulkcc.validate import render_warnings

        render_warnings(the_plan.validation, err)
        if target.is_loopback or yes:
            return True
        lines = describe_plan(the_plan, target, saved=saved, diff=diff, allow_delete=allow_delete, exact=exact,
                              resend=resend, rollback=rollback, undoing=undoing)
        if not sys.stdin.isatty():
            out.print("\n".join(lines[1:]), markup=False)
            raise UsageError(lines[0] + " No terminal to confirm on: pass --yes to send")
        out.print("\n".join(lines), markup=False)
        return click.confirm("Send them?", default=False)
    return confirm


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--results", "results_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The results workbook to write (default: INPUT's name + -results.xlsx, here).")
@click.option("--skip-invalid", is_flag=True, help="Send the valid rows even if some rows are invalid.")
@click.option("--only-failed", is_flag=True, help="With a results workbook as INPUT: re-send only the rows "
              "that failed, were invalid or not sent.")
@click.option("--resume", is_flag=True, help="Continue a stopped run: rows already updated are not sent.")
@click.option("--restart", is_flag=True, help="Start over, ignoring (and replacing) an earlier run's journal.")
@click.option("--diff", is_flag=True, help="Read each call center first and send only the fields that differ.")
@click.option("--exact-operators", "exact_operators", is_flag=True,
              help="With --diff: also remove the operators that the operators sheet does not list, from the call "
              "centers it names (they are listed, and asked for, before anything is sent).")
@click.option("--rollback", "rollback_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the rollback workbook: what puts back every field and agent the run changes, "
              "read before its first write (default: <results name>-rollback.xlsx).")
@click.option("--no-rollback", "no_rollback", is_flag=True,
              help="Write no rollback workbook, and (without --diff) read nothing before sending: the run cannot "
              "be undone by bulkcc.")
@click.option("--input", "input_check", type=click.Path(dir_okay=False, path_type=Path),
              help="With a plan file as INPUT: the workbook it was made from; refused unless its SHA-256 is the "
              "one the plan records.")
@click.option("--plan-sha256", "plan_sha256", metavar="HEX",
              help="With a plan file as INPUT: refuse it unless its SHA-256 is this one (the checksum its review "
              "workbook shows, so only the approved plan is sent).")
@click.option("--max-age", "max_age", default="24h", show_default=True,
              help="With a plan file as INPUT: refuse a plan older than this (e.g. 90m, 48h, 2d).")
@click.option("--allow-delete", is_flag=True, help="With a rollback workbook as INPUT: delete the call centers of "
              "its created sheet (the ones the run created). Without it they are left alone: nothing else in "
              "bulkcc ever deletes a call center.")
@click.option("--resend-maybe-created", "resend_maybe_created", is_flag=True,
              help="With --resume (or a results workbook as INPUT): send once more each create whose outcome an "
              "earlier run did not learn (maybe_created) and that its office still does not list after the wait. "
              "Check the office in Dialpad first: a listing that lags longer would make a second center.")
@click.option("--lookup-wait", "lookup_wait", default="10s", show_default=True,
              help="How long a create whose answer settled nothing is looked for in its office's listing before "
              "it is called maybe_created (e.g. 30s, 2m).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending (for scripts).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@target_options
@handles_errors
def apply(input_path, results_path, skip_invalid, only_failed, resume, restart, diff, exact_operators, rollback_path,
          no_rollback, input_check, plan_sha256, max_age, allow_delete, resend_maybe_created, lookup_wait, yes,
          quiet, **target) -> None:
    """Send the PATCH each valid row of INPUT stands for, and write a results workbook.

    INPUT may be a plan file saved by `bulkcc plan INPUT --out PLAN.json`: its requests are sent exactly,
    without reading the workbook again (a --diff plan first checks that live state has not moved since).
    """
    from bulkcc.errors import InvalidRowsError
    from bulkcc.plan.planfile import is_plan_file, read_plan_file
    from bulkcc.run.apply import ApplyOptions, check_output_paths
    from bulkcc.run.apply import apply as run_apply
    from bulkcc.run.apply_plan import apply_plan, plan_line
    from bulkcc.run.progress import make_progress

    if resume and restart:
        raise click.UsageError("--resume and --restart contradict each other")
    if exact_operators and not diff:
        raise click.UsageError("--exact-operators needs --diff: which operators the sheet does not list is known "
                               "only once each call center's operators are read")
    if no_rollback and rollback_path is not None:
        raise click.UsageError("--rollback names the rollback workbook and --no-rollback writes none: choose one")
    connection = connection_options(**target)
    results_path = results_path or Path(f"{input_path.stem}-results.xlsx")
    options = ApplyOptions(results_path=results_path, connection=connection, skip_invalid=skip_invalid,
                           only_failed=only_failed, resume=resume, restart=restart, diff=diff,
                           rollback_path=rollback_path, max_age=parse_duration(max_age, "--max-age"),
                           input_check=input_check, plan_sha256=plan_sha256, allow_delete=allow_delete,
                           exact_operators=exact_operators, resend_maybe_created=resend_maybe_created,
                           lookup_wait_s=parse_duration(lookup_wait, "--lookup-wait").total_seconds(),
                           no_rollback=no_rollback)
    if connection.target.simulator:
        out.print("Sending to the built-in simulator: nothing real will be changed.", markup=False)
    undoing = None  # a rollback workbook's rollback sheet (what it undoes); None for any other input
    try:
        if is_plan_file(input_path):
            check_output_paths(input_path, options)  # before reading: a refusal costs nothing
            saved = read_plan_file(input_path)
            out.print(f"Applying the plan {plan_line(saved)}", markup=False)
            outcome = apply_plan(saved, options, progress=make_progress(quiet, err_stream),
                                 confirm=_confirm_with_user(yes, saved=saved, resend=resend_maybe_created,
                                                            rollback=not no_rollback))
        else:
            undoing = _rollback_about(input_path)
            outcome = run_apply(input_path, options, progress=make_progress(quiet, err_stream),
                                confirm=_confirm_with_user(yes, diff=diff, allow_delete=allow_delete,
                                                           exact=exact_operators, resend=resend_maybe_created,
                                                           rollback=not no_rollback, undoing=undoing),
                                confirm_removals=_confirm_removals(yes, connection.target))
    except InvalidRowsError as exc:
        from bulkcc.validate import render_text

        render_text(exc.validation, out)
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    _render_outcome(outcome, results_path, rollback=undoing is not None,
                    rollback_expected=not (no_rollback or undoing is not None))
    sys.exit(outcome.exit_code)


def _undo_command(path: Path) -> str:
    """How to apply the rollback workbook just written, as its rollback sheet says."""
    from bulkcc.errors import InputError
    from bulkcc.workbook.rollback_book import read_about

    try:
        return read_about(path).get("apply") or f"bulkcc apply {path}"
    except InputError:
        return f"bulkcc apply {path}"


def _rollback_about(input_path: Path) -> dict | None:
    """A rollback workbook's rollback sheet (what it undoes), or None for any other input."""
    from bulkcc.workbook.rollback_book import is_rollback_workbook, read_about

    return read_about(input_path) if is_rollback_workbook(input_path) else None


def _render_outcome(outcome, results_path: Path, rollback: bool = False, rollback_expected: bool = False) -> None:
    from collections import Counter

    from bulkcc.values import counted

    counts = Counter(r.status for r in outcome.results)
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    # (a sheet of operators only, or a rollback of creates only, has no call center rows)
    if outcome.results or not (outcome.operator_results or outcome.deletes):
        out.print(counted(len(outcome.results), "row") + (f": {parts}" if parts else " (nothing to send)"),
                  markup=False)
    from bulkcc.cli.operator_output import operator_outcome_lines

    for line in operator_outcome_lines(outcome.operator_results, MAX_SHOWN_ROWS, results_path):
        out.print(visible(line), markup=False)
    from bulkcc.cli.rollback_output import stale_lines

    for line in stale_lines(outcome.results, outcome.operator_results, results_path, rollback=rollback):
        out.print(visible(line), markup=False)
    _maybe_created_lines(outcome)
    if outcome.deletes:
        deleted = Counter(r.status for r in outcome.deletes)
        out.print(f"created sheet: {counted(len(outcome.deletes), 'call center')}: "
                  + ", ".join(f"{n} {status}" for status, n in sorted(deleted.items())), markup=False)
        refused = [r for r in outcome.deletes if r.error and "--allow-delete" not in r.error and
                   r.status not in ("deleted", "unchanged")]
        for result in refused[:MAX_SHOWN_ROWS]:
            out.print(visible(f"created sheet row {result.row}: {result.status}, {result.error}"), markup=False)
        if any(r.error and "--allow-delete" in r.error for r in outcome.deletes):
            out.print("The call centers of the created sheet were not deleted: to delete them, run the same "
                      "command with --allow-delete", markup=False)
    rate = outcome.summary.achieved_rate_per_min
    if rate:
        out.print(f"achieved {rate:.0f} requests/min (allowed {outcome.summary.allowed_rate_per_min}); "
                  f"{outcome.summary.throttled:,} answered 429", markup=False)
    if outcome.message:
        err.print(f"stopped: {outcome.message}", markup=False)
    if outcome.results_written:
        out.print(f"wrote {results_path}", markup=False)
    created = sum(1 for r in outcome.results if r.status == "created")
    for path in outcome.extra_files:
        deleting = (f"; its created sheet lists the {counted(created, 'call center')} this run created, deleted "
                    "only with --allow-delete" if created else "")
        out.print(f"wrote {path} (it undoes this run's changes{deleting}): {_undo_command(path)}", markup=False)
    if rollback_expected and outcome.results_written and not outcome.extra_files and outcome.exit_code == 0:
        # Said, not left silent: the admin was told at the last run that a rollback would be written.
        sent = any(r.attempts for r in [*outcome.results, *outcome.operator_results])
        out.print("no rollback workbook: this run changed nothing that needs undoing"
                  + (" (every value it sent was already live)" if sent else ""), markup=False)
    if outcome.summary.simulator:
        out.print("That was the simulator: nothing real was changed.", markup=False)


def _maybe_created_lines(outcome) -> None:
    """Creates whose outcome is not known: each row and its error (what to do), then the advice once."""
    maybe = [r for r in outcome.results if r.status == "maybe_created"]
    for result in maybe[:MAX_SHOWN_ROWS]:
        err.print(visible(f"row {result.row}: maybe_created: {result.error}"), markup=False)
    if len(maybe) > MAX_SHOWN_ROWS:
        err.print(f"… and {len(maybe) - MAX_SHOWN_ROWS} more maybe_created rows (see the results)", markup=False)
    if maybe:
        from bulkcc.run.creates import maybe_created_note

        err.print(visible(maybe_created_note(outcome.results) or ""), markup=False)
