"""The command line: parse options, call the library, render, map errors to exit codes.

Exit codes: 0 all good; 1 some rows invalid or failed; 2 usage error or
unreadable input (nothing sent); 3 aborted (refused key, interrupted).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from . import __version__
from .errors import EXIT_INVALID, EXIT_OK, BulkccError
from .plan import make_plan, write_plan_jsonl
from .report import render_json, render_text, summary_line, write_report_workbook
from .validate import validate_file

# Piped output gets a wide table: it is read in a log or a file, not a narrow terminal.
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)


def handles_errors(command):
    """Turn a run-stopping BulkccError into one clear line and its exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BulkccError as exc:
            err.print(f"error: {exc}", markup=False)
            sys.exit(exc.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulkcc")
def main() -> None:
    """Change many Dialpad call centers at once from an Excel workbook.

    Typical run: `bulkcc template`, fill it, `bulkcc validate`, `bulkcc plan`,
    then `bulkcc apply` (try it first with --simulator).
    """


@main.command()
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("callcenters-template.xlsx"), show_default=True, help="Where to write the template.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@handles_errors
def template(output: Path, force: bool) -> None:
    """Write the template workbook: every column, drop-downs, ranges and help."""
    from .template import write_template

    if output.exists() and not force:
        raise click.UsageError(f"{output} exists; pass --force to overwrite it")
    write_template(output)
    out.print(f"wrote {output}")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a copy of the workbook with bad cells highlighted and an Errors sheet.")
@handles_errors
def validate(input_path: Path, fmt: str, report_path: Path | None) -> None:
    """Check every cell and rule of INPUT (.xlsx or .csv), offline."""
    validation = validate_file(input_path)
    if fmt == "json":
        click.echo(render_json(validation))
    else:
        render_text(validation, out)
    if report_path:
        write_report_workbook(validation, report_path)
        if fmt == "text":
            out.print(f"wrote {report_path}")
    sys.exit(EXIT_OK if validation.ok else EXIT_INVALID)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the requests as JSON Lines: one {row, id, method, path, body} per row.")
@handles_errors
def plan(input_path: Path, json_path: Path | None) -> None:
    """Show the exact request each valid row of INPUT stands for; nothing is sent."""
    the_plan = make_plan(validate_file(input_path))
    for request in the_plan.requests:
        out.print(f"row {request.row}: {request.method} {request.path}", markup=False)
        out.print("  " + json.dumps(request.body, ensure_ascii=False), markup=False)
    for request in the_plan.skipped:
        out.print(f"row {request.row}: id {request.id} has nothing to change, not sent", markup=False)
    if the_plan.validation.problems:
        render_text(the_plan.validation, out)
    counts = the_plan.summary()
    out.print(f"{counts['requests']} requests planned, {counts['skipped']} rows with nothing to change, "
              f"{counts['invalid']} invalid rows (never sent)", markup=False)
    if json_path:
        write_plan_jsonl(the_plan.requests, json_path)
        out.print(f"wrote {json_path}")
    sys.exit(EXIT_INVALID if the_plan.validation.problems else EXIT_OK)


# ---- online commands: simulate, apply ----

def _latency(text: str) -> tuple[int, int]:
    try:
        low, _, high = text.partition(",")
        low_ms, high_ms = int(low), int(high or low)
    except ValueError:
        raise click.BadParameter("expected LO,HI in milliseconds, e.g. 100,400") from None
    if not 0 <= low_ms <= high_ms:
        raise click.BadParameter("expected 0 <= LO <= HI")
    return low_ms, high_ms


def _probability(ctx, param, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("a probability from 0 to 1")
    return value


def simulator_options(prefix: str = ""):
    """The fault-injection options, shared by `simulate` and `apply --simulator`."""
    def decorate(command):
        options = [
            click.option(f"--{prefix}latency-ms", "latency_ms", default="0,0", show_default=True,
                         help="Extra latency of each answer, LO,HI milliseconds (uniform)."),
            click.option(f"--{prefix}fail-rate", "fail_rate", type=float, default=0.0, callback=_probability,
                         help="Share of requests answered with a 5xx."),
            click.option(f"--{prefix}drop-rate", "drop_rate", type=float, default=0.0, callback=_probability,
                         help="Share of requests whose connection is dropped without an answer."),
            click.option(f"--{prefix}slow-rate", "slow_rate", type=float, default=0.0, callback=_probability,
                         help="Share of answers delayed by 5 s (to exercise timeouts)."),
        ]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _simulator_config(api_key: str, rate: int, latency_ms: str, fail_rate: float, drop_rate: float,
                      slow_rate: float):
    from .simulator import SimulatorConfig

    return SimulatorConfig(api_key=api_key, rate_limit_per_min=rate, latency_ms=_latency(latency_ms),
                           fail_rate=fail_rate, drop_rate=drop_rate, slow_rate=slow_rate)


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
        ids = validate_file(seed_path).typed["id"].dropna()
        store = seed_store([int(i) for i in ids], random.Random(0))
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
@click.option("--base-url", help="API base URL (default https://dialpad.com).")
@click.option("--sandbox", is_flag=True, help="Use https://sandbox.dialpad.com.")
@click.option("--simulator", is_flag=True, help="Send to the built-in simulator: nothing real is changed.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the API key from this file (default: the DIALPAD_API_KEY variable).")
@click.option("--rate-limit", "rate", type=int, default=1200, show_default=True,
              help="Requests per minute at most (and PER_MIN/60 in any second).")
@click.option("--concurrency", type=int, help="Requests in flight at most (default: enough for the rate "
              "with 1 s answers).")
@click.option("--skip-invalid", is_flag=True, help="Send the valid rows even if some rows are invalid.")
@click.option("--only-failed", is_flag=True, help="With a results workbook as INPUT: re-send only the rows "
              "that failed, were invalid or not sent.")
@click.option("--resume", is_flag=True, help="Continue a stopped run: rows already updated are not sent.")
@click.option("--restart", is_flag=True, help="Start over, ignoring an earlier run's journal.")
@click.option("--max-attempts", type=click.IntRange(1, 10), default=5, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=30.0, show_default=True,
              help="Seconds before one attempt times out.")
@click.option("--diff", is_flag=True, help="Read each call center first and send only the fields that differ; "
              "saves the prior values as a rollback workbook.")
@click.option("--rollback", "rollback_path", type=click.Path(dir_okay=False, path_type=Path),
              help="With --diff: where to save the prior values (default: <results name>-rollback.xlsx).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending (for scripts).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--sim-rate-limit", type=int, default=1200, show_default=True,
              help="With --simulator: its rate limit per minute.")
@simulator_options(prefix="sim-")
@handles_errors
def apply(input_path, results_path, base_url, sandbox, simulator, api_key_file, rate, concurrency, skip_invalid,
          only_failed, resume, restart, max_attempts, timeout_s, diff, rollback_path, yes, quiet, sim_rate_limit,
          latency_ms, fail_rate, drop_rate, slow_rate) -> None:
    """Send the PATCH each valid row of INPUT stands for, and write a results workbook."""
    from .apply import ApplyOptions, InvalidRowsError
    from .apply import apply as run_apply
    from .connection import ConnectionOptions
    from .progress import make_progress
    from .target import check_rate, load_api_key, resolve_target

    target = resolve_target(base_url, sandbox, simulator)
    check_rate(rate, target)
    if resume and restart:
        raise click.UsageError("--resume and --restart contradict each other")
    api_key = load_api_key(api_key_file, required=not simulator)
    results_path = results_path or Path(f"{input_path.stem}-results.xlsx")
    connection = ConnectionOptions(
        target=target, api_key=api_key, rate_per_min=rate, concurrency=concurrency, max_attempts=max_attempts,
        timeout_s=timeout_s,
        simulator_config=_simulator_config("", sim_rate_limit, latency_ms, fail_rate, drop_rate, slow_rate)
        if simulator else None,
    )
    options = ApplyOptions(results_path=results_path, connection=connection, skip_invalid=skip_invalid,
                           only_failed=only_failed, resume=resume, restart=restart, diff=diff,
                           rollback_path=rollback_path)
    if simulator:
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


if __name__ == "__main__":  # pragma: no cover
    main()
