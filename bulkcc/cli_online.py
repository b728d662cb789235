"""The commands that talk to an API: simulate, apply, export."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from .cli import main
from .cli_options import (
    _simulator_config,
    connection_options,
    err,
    handles_errors,
    out,
    simulator_options,
    target_options,
)
from .errors import BulkccError
from .report import render_text
from .validate import validate_file


@main.command()
@click.option("--port", type=int, default=8089, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--rate-limit", "rate", type=int, default=1200, show_default=True,
              help="Requests per minute before it answers 429 (and PER_MIN/60 per second).")
@click.option("--seed", "seed_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Call centers to serve: a JSON list (or {\"items\": [...]}), or a workbook whose ids get "
                   "made-up call centers.")
@click.option("--count", type=int, default=250, show_default=True,
              help="Without --seed: how many made-up call centers to serve.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path))
@simulator_options()
@handles_errors
def simulate(port, rate, seed_path, count, api_key_file, latency_ms, fail_rate, drop_rate, slow_rate) -> None:
    """Run a local stand-in for Dialpad's call center API on 127.0.0.1."""
    import asyncio
    import random

    from .simulator import ids_for_demo, load_seed_file, seed_store, serve_forever
    from .target import KEY_ENV, load_api_key

    key = load_api_key(api_key_file, required=False)
    if seed_path is None:
        store = seed_store(ids_for_demo(count), random.Random(0))
    elif seed_path.suffix.lower() == ".json":
        try:
            store = load_seed_file(seed_path)
        except ValueError as exc:
            raise BulkccError(f"--seed {seed_path}: {exc}") from exc
    else:
        store = seed_store(validate_file(seed_path).ids, random.Random(0))
    if key:
        out.print(f"accepting the key in {KEY_ENV if api_key_file is None else api_key_file}", markup=False)
    else:
        key = "simulator"
        out.print(f"no {KEY_ENV} set: accepting the key 'simulator'", markup=False)
    config = _simulator_config(key, rate, latency_ms, fail_rate, drop_rate, slow_rate)
    announce = functools.partial(_announce_simulator, count=len(store))
    try:
        asyncio.run(serve_forever(config, store, port, announce))
    except KeyboardInterrupt:
        pass


def _announce_simulator(url: str, count: int) -> None:
    out.print(f"simulating Dialpad's call center API at {url} with {count} call centers (Ctrl-C stops)",
              markup=False)


def _confirm_with_user(yes: bool):
    """Ask before sending to anything but loopback; refuse without a terminal unless --yes."""
    def confirm(the_plan, target) -> bool:
        if target.is_loopback or yes:
            return True
        counts = the_plan.summary()
        text = (f"About to send {counts['requests']} PATCH requests to {target.base_url} "
                f"({counts['skipped']} rows with nothing to change, {counts['invalid']} invalid rows not sent).")
        if not sys.stdin.isatty():
            from .errors import UsageError

            raise UsageError(text + " No terminal to confirm on: pass --yes to send")
        out.print(text, markup=False)
        return click.confirm("Send them?", default=False)
    return confirm


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--results", "results_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The results workbook to write (default: INPUT's name + -results.xlsx, here).")
@click.option("--skip-invalid", is_flag=True, help="Send the valid rows even if some rows are invalid.")
@click.option("--only-failed", is_flag=True, help="With a results workbook as INPUT: re-send only the rows "
              "that failed, were invalid or not sent.")
@click.option("--resume", is_flag=True, help="Continue a stopped run: rows already updated are not sent.")
@click.option("--restart", is_flag=True, help="Start over, ignoring an earlier run's journal.")
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
    from .apply import ApplyOptions, InvalidRowsError
    from .apply import apply as run_apply
    from .progress import make_progress

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
        outcome = run_apply(input_path, options, progress=make_progress(quiet),
                            confirm=_confirm_with_user(yes))
    except InvalidRowsError as exc:
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
    out.print(f"wrote {results_path}", markup=False)
    for path in outcome.extra_files:
        out.print(f"wrote {path} (apply it to undo this run's changes)", markup=False)
    if outcome.summary.simulator:
        out.print("That was the simulator: nothing real was changed.", markup=False)


def _ids(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        ids = tuple(dict.fromkeys(int(part) for part in text.replace(" ", "").split(",") if part))  # once each
    except ValueError:
        raise click.BadParameter("expected call center ids separated by commas, e.g. 1,2,3") from None
    if any(i <= 0 for i in ids):
        raise click.BadParameter("ids are positive whole numbers")
    return ids


@main.command()
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The workbook to write.")
@click.option("--ids", help="Only these call centers, by id: 1,2,3.")
@click.option("--office-id", type=int, help="Only the call centers of this office.")
@click.option("--name-search", help="Only call centers whose name contains this text.")
@target_options
@handles_errors
def export(output, ids, office_id, name_search, **target) -> None:
    """Write the live call centers as a workbook in the template's format."""
    from .export import ExportQuery
    from .export import export as run_export

    query = ExportQuery(ids=_ids(ids), office_id=office_id, name_search=name_search)
    if query.ids and (office_id is not None or name_search):
        raise click.UsageError("--ids reads those call centers; it does not combine with --office-id or --name-search")
    connection = connection_options(**target)
    if connection.target.simulator:
        out.print("Reading from the built-in simulator: made-up call centers.", markup=False)
    callcenters = run_export(output, query, connection)
    out.print(f"exported {len(callcenters)} call centers to {output}", markup=False)
