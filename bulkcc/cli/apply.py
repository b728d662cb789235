"""`bulkcc apply`: confirm, send, render the outcome."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bulkcc.cli.options import connection_options, err, err_stream, handles_errors, out, target_options
from bulkcc.errors import UsageError


def _confirm_with_user(yes: bool):
    """Ask before sending to anything but loopback; refuse without a terminal unless --yes."""
    def confirm(the_plan, target) -> bool:
        if target.is_loopback or yes:
            return True
        counts = the_plan.summary()
        text = (f"About to send {counts['requests']} PATCH requests to {target.base_url} "
                f"({counts['skipped']} rows with nothing to change, {counts['invalid']} invalid rows not sent).")
        if not sys.stdin.isatty():
            raise UsageError(text + " No terminal to confirm on: pass --yes to send")
        out.print(text, markup=False)
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
@click.option("--diff", is_flag=True, help="Read each call center first and send only the fields that differ; "
              "saves the prior values as a rollback workbook.")
@click.option("--rollback", "rollback_path", type=click.Path(dir_okay=False, path_type=Path),
              help="With --diff: where to save the prior values (default: <results name>-rollback.xlsx).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending (for scripts).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@target_options
@handles_errors
def apply(input_path, results_path, skip_invalid, only_failed, resume, restart, diff, rollback_path, yes, quiet,
          **target) -> None:
    """Send the PATCH each valid row of INPUT stands for, and write a results workbook."""
    from bulkcc.errors import InvalidRowsError
    from bulkcc.run.apply import ApplyOptions
    from bulkcc.run.apply import apply as run_apply
    from bulkcc.run.progress import make_progress

    if resume and restart:
        raise click.UsageError("--resume and --restart contradict each other")
    connection = connection_options(**target)
    results_path = results_path or Path(f"{input_path.stem}-results.xlsx")
    options = ApplyOptions(results_path=results_path, connection=connection, skip_invalid=skip_invalid,
                           only_failed=only_failed, resume=resume, restart=restart, diff=diff,
                           rollback_path=rollback_path)
    if connection.target.simulator:
        out.print("Sending to the built-in simulator: nothing real will be changed.", markup=False)
    try:
        outcome = run_apply(input_path, options, progress=make_progress(quiet, err_stream),
                            confirm=_confirm_with_user(yes))
    except InvalidRowsError as exc:
        from bulkcc.validate import render_text

        render_text(exc.validation, out)
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    _render_outcome(outcome, results_path)
    sys.exit(outcome.exit_code)


def _render_outcome(outcome, results_path: Path) -> None:
    from collections import Counter

    counts = Counter(r.status for r in outcome.results)
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    out.print(f"{len(outcome.results)} rows: {parts}", markup=False)
    rate = outcome.summary.achieved_rate_per_min
    if rate:
        out.print(f"achieved {rate:.0f} requests/min (allowed {outcome.summary.allowed_rate_per_min}); "
                  f"{outcome.summary.throttled} answered 429", markup=False)
    if outcome.message:
        err.print(f"stopped: {outcome.message}", markup=False)
    if outcome.results_written:
        out.print(f"wrote {results_path}", markup=False)
    for path in outcome.extra_files:
        out.print(f"wrote {path} (apply it to undo this run's changes)", markup=False)
    if outcome.summary.simulator:
        out.print("That was the simulator: nothing real was changed.", markup=False)
