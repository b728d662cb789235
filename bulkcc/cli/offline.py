"""The commands that need no API: template, validate, and plan (whose --diff reads live state)."""

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
    out_stream,
    target_options,
    visible,
)
from bulkcc.cli.plan_output import write_requests
from bulkcc.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError
from bulkcc.values import counted, plural, printable


@click.command()
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("callcenters-template.xlsx"), show_default=True, help="Where to write the template.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@handles_errors
def template(output: Path, force: bool) -> None:
    """Write the template workbook: every column, drop-downs, ranges and help."""
    if output.exists() and not force:
        raise click.UsageError(f"{output} exists; pass --force to overwrite it")
    from bulkcc.workbook.template import write_template

    write_template(output)
    out.print(f"wrote {output}")


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a copy of the workbook with bad cells highlighted and an Errors sheet.")
@click.option("--diff", is_flag=True, help="Check INPUT as a sheet for plan/apply --diff: a row may fill only "
              "the routing cells it changes (the rest come from the live call center). Still offline.")
@handles_errors
def validate(input_path: Path, fmt: str, report_path: Path | None, diff: bool) -> None:
    """Check every cell and rule of INPUT (.xlsx or .csv), offline."""
    from bulkcc.validate import render_json, render_text, validate_file, write_report_workbook

    validation = validate_file(input_path, diff=diff)
    if fmt == "json":
        click.echo(render_json(validation))
    else:
        render_text(validation, out)
    if report_path:
        write_report_workbook(validation, report_path)
        if fmt == "text":
            out.print(f"wrote {printable(str(report_path), 300)}", markup=False)
    sys.exit(EXIT_OK if validation.ok else EXIT_INVALID)


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the requests as JSON Lines: one {row, id, method, path, body} per row.")
@click.option("--diff", is_flag=True, help="Read each call center's live state (needs a target and key) and "
              "plan only the fields that differ, shown as field: old → new.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan, to send later with `bulkcc apply PLAN`: a JSON file of the exact requests, "
              "the input's SHA-256, the target and, with --diff, the live values they were planned against.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a review workbook: a row per call center to change, a column per field "
              "(old → new with --diff), the unchanged rows, and a Summary with counts and the plan's checksum.")
@click.option("--skip-invalid", is_flag=True, help="With --out: save the plan even if some rows are invalid (or, "
              "with --diff, unreadable or blocked); they are left out of it, and listed in it.")
@click.option("--exact-operators", "exact_operators", is_flag=True, help="With --diff: also plan the removal of "
              "the operators that the operators sheet does not list, from the call centers it names.")
@click.option("--quiet", "-q", is_flag=True, help="With --diff: no progress output while reading.")
@target_options
@handles_errors
def plan(input_path: Path, json_path: Path | None, diff: bool, out_path: Path | None, report_path: Path | None,
         skip_invalid: bool, exact_operators: bool, quiet: bool, **target) -> None:
    """Show the exact request each valid row of INPUT stands for; nothing is sent."""
    from bulkcc.cli.operator_output import operator_plan_of, write_operator_plan
    from bulkcc.plan import make_plan, write_plan_jsonl
    from bulkcc.validate import render_text, render_warnings, validate_file

    if exact_operators and not diff:
        raise click.UsageError("--exact-operators needs --diff: which operators the sheet does not list is known "
                               "only once each call center's operators are read")
    _check_plan_outputs(input_path, json_path, out_path, report_path)
    validation = validate_file(input_path, diff=diff)
    look = validation.needs_lookups and (diff or _can_look_up(target, validation))
    live: dict = {}
    operator_plan = None
    if diff or look:
        from bulkcc.run.operator_input import LiveOperatorPlan
        from bulkcc.run.progress import make_progress
        from bulkcc.run.resolve import plan_with_names

        connection = connection_options(**target)
        the_target = connection.target
        if exact_operators and validation.operators is None:
            raise UsageError("--exact-operators: the workbook has no operators sheet, so it lists no operators "
                             "to keep; add one (bulkcc template has it), or drop --exact-operators")

        def operators_of(planned):
            return LiveOperatorPlan.of(planned.validation, planned.values, exact=exact_operators,
                                       concurrency=connection.pool_size)

        the_plan, state, operators = plan_with_names(validation, connection, make_progress(quiet, err_stream),
                                                     diff=diff, look=look, operators_of=operators_of if diff else None)
        if not diff:
            operator_plan = operator_plan_of(the_plan)
        else:
            operator_plan = operators.plan if operators is not None else None
            live = state.callcenters if state is not None else {}
            _print_live(the_plan)
    else:
        from bulkcc.run.resolve import offline_plan
        from bulkcc.send.target import resolve_target

        the_target = resolve_target(target["base_url"], target["sandbox"], target["simulator"])
        the_plan = offline_plan(validation) if validation.needs_lookups else make_plan(validation)
        operator_plan = operator_plan_of(the_plan)
    from bulkcc.cli.lookup_output import SHOWN_NAMES, lookup_lines

    for line in lookup_lines(the_plan.lookups, SHOWN_NAMES if out_stream.isatty() else None):
        out.print(line, markup=False)
    hint = (f"all of them are in {json_path or out_path}" if json_path or out_path
            else "write them all with --json PATH or --out PLAN (or pipe the output)")
    write_requests(the_plan, out_stream, full_plan_hint=hint)
    write_operator_plan(operator_plan, out_stream)
    if not the_plan.validation.ok:  # a problem of either sheet (callcenters, operators)
        render_text(the_plan.validation, out)  # the warnings too
    else:
        render_warnings(the_plan.validation, out)
    counts = the_plan.summary()
    blocked = f", {counted(len(the_plan.blocked), 'row')} blocked (never sent)" if the_plan.blocked else ""
    creating = f"{counted(len(the_plan.creates), 'call center')} to create (POST), " if the_plan.creates else ""
    out.print(f"{creating}{counted(counts['requests'], 'request')} planned, {counted(counts['skipped'], 'row')} with "
              f"nothing to change, {counted(counts['invalid'], 'invalid row')} (never sent){blocked}", markup=False)
    if operator_plan is not None:
        out.print(f"operators: {operator_plan.summary_text()}", markup=False)
    _print_reads(input_path, the_plan, operator_plan, diff)
    if json_path:
        try:
            write_plan_jsonl([*the_plan.creates, *the_plan.requests], json_path)
        except OSError as exc:  # a folder in the way, no permission, a full disk: one line, not a traceback
            raise UsageError(f"cannot write {printable(str(json_path), 300)}: "
                             f"{printable(exc.strerror or exc)}; pick another path") from exc
        out.print(f"wrote {printable(str(json_path), 300)}", markup=False)
    saved = _save_plan(the_plan, out_path, the_target.name, input_path, skip_invalid,
                       operator_plan) if out_path else None
    if report_path:
        from bulkcc.plan.review import build_review
        from bulkcc.values import sha256_file
        from bulkcc.workbook.review import write_review

        review = build_review(the_plan, target=the_target.name, input_name=input_path.name,
                              input_sha256=sha256_file(input_path), saved=saved, live=live, operators=operator_plan)
        write_review(report_path, review)
        out.print(f"wrote {report_path} (the review of " + (f"{out_path}" if saved else "a plan not saved") + ")",
                  markup=False)
    operators_bad = operator_plan is not None and bool(operator_plan.blocked or operator_plan.unresolved
                                                       or operator_plan.unreadable)
    code = (EXIT_INVALID if not the_plan.validation.ok or the_plan.unreadable or the_plan.blocked or operators_bad
            else EXIT_OK)
    if out_path and saved is None and code == EXIT_OK:
        code = EXIT_USAGE  # --out asked for a plan file and none was written (names wait for a key): not "all good"
    sys.exit(code)


def _can_look_up(target: dict, validation) -> bool:
    """Whether `plan` (without --diff) reads names from the API: when given a target (--simulator, --sandbox,
    --base-url) or a key file, or when a key is in the environment and the sheet names what only the API
    knows (an email, an office, a call center no row has). Otherwise it plans what the sheet alone says, as
    it always did, and tells which rows wait."""
    import os

    from bulkcc.send.target import KEY_ENV

    if target["simulator"] or target["sandbox"] or target["base_url"] or target["api_key_file"]:
        return True
    operators = validation.operators
    only_the_api = bool(validation.lookups) or (operators is not None and bool(operators.lookups))
    return only_the_api and bool(os.environ.get(KEY_ENV))


def _print_live(the_plan) -> None:
    """plan --diff's lines on what live state said: unreadable rows, blocked ones, the unchanged."""
    for row, why in sorted(the_plan.unreadable.items()):
        out.print(f"row {row}: cannot read the live call center: {why}", markup=False)
    for row, why in sorted(the_plan.blocked.items()):
        out.print(f"row {row}: {why}", markup=False)
        for change in the_plan.change_lines(row):
            out.print(f"  {change}", markup=False)
    if the_plan.unchanged:
        rows = [r.row for r in the_plan.unchanged]
        shown = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
        out.print(f"{counted(len(rows), 'row')} unchanged (live state already matches), not sent: "
                  f"{plural(len(rows), 'row')} {shown}", markup=False)


def _print_reads(input_path: Path, the_plan, operator_plan, diff: bool) -> None:
    """What `apply` will read before its first write (a rollback workbook: what it puts back)."""
    from bulkcc.cli.rollback_output import read_lines, rollback_confirmation_lines
    from bulkcc.workbook.rollback_book import is_rollback_workbook, read_about

    if is_rollback_workbook(input_path):
        from dataclasses import replace

        from bulkcc.plan.undo_file import read_agents

        undo = replace(the_plan, agents=tuple(read_agents(input_path)))
        lines = rollback_confirmation_lines(undo, read_about(input_path))
    else:
        lines = read_lines(the_plan, operator_plan, diff=diff, rollback=True, who="apply")
    for line in lines:
        out.print(visible(line), markup=False)


def _check_plan_outputs(input_path: Path, *outputs: Path | None) -> None:
    paths = [p for p in outputs if p is not None]
    if any(p.resolve() == input_path.resolve() for p in paths):
        raise click.UsageError(f"an output is the input file {input_path}: the input is never overwritten")
    if len({p.resolve() for p in paths}) < len(paths):
        raise click.UsageError("--json, --out and --report must name different files")


def _save_plan(the_plan, out_path: Path, target: str, input_path: Path, skip_invalid: bool, operator_plan=None):
    """Write the plan file, unless rows would be left out of it unasked; returns it as saved, or None."""
    from bulkcc.cli.operator_output import left_out_count
    from bulkcc.plan.planfile import left_out_rows, write_plan_file

    waiting = the_plan.lookups.waiting if the_plan.lookups is not None else 0
    if waiting:
        err.print(f"error: plan file not written: {waiting} row{' waits' if waiting == 1 else 's wait'} for names "
                  "to be looked up, and a plan file holds ids: plan with a key (DIALPAD_API_KEY or --api-key-file) "
                  "or --simulator", markup=False)
        return None
    left_out = left_out_rows(the_plan)
    operators_left = left_out_count(operator_plan)
    if (left_out or operators_left) and not skip_invalid:
        kinds = sorted({r.reason for r in left_out})
        rows = f"{counted(len(left_out), 'row')} {'is' if len(left_out) == 1 else 'are'}"
        what = [f"{rows} {' or '.join(kinds)}"] if left_out else []
        if operators_left:
            what.append(f"{counted(operators_left, 'operator row')} {'is' if operators_left == 1 else 'are'} "
                        "invalid, blocked, unresolved or unreadable")
        err.print(f"error: plan file not written: {' and '.join(what)} and would be left "
                  "out of it (fix them, or pass --skip-invalid to save a plan of the other rows)", markup=False)
        return None
    saved = write_plan_file(out_path, the_plan, target=target, input_path=input_path, operators=operator_plan)
    note = f"; {counted(len(left_out), 'row')} left out of it, listed in it" if left_out else ""
    out.print(f"wrote {out_path} (plan SHA-256 {saved.checksum}{note}): send it with `bulkcc apply {out_path}`"
              + (" (it checks live state again first)" if the_plan.diffed else ""), markup=False)
    return saved
