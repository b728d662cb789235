"""The command line: parse options, call the library, render, map errors to exit codes.

Exit codes: 0 all good; 1 some rows invalid or failed; 2 usage error or
unreadable input (nothing sent); 3 aborted (refused key, interrupted).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .cli_options import connection_options, handles_errors, out, target_options
from .errors import EXIT_INVALID, EXIT_OK
from .plan import make_plan, write_plan_jsonl
from .report import render_json, render_text, write_report_workbook
from .validate import validate_file

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
@click.option("--diff", is_flag=True, help="Read each call center's live state (needs a target and key) and "
              "plan only the fields that differ, shown as field: old → new.")
@target_options
@handles_errors
def plan(input_path: Path, json_path: Path | None, diff: bool, **target) -> None:
    """Show the exact request each valid row of INPUT stands for; nothing is sent."""
    the_plan = make_plan(validate_file(input_path))
    changes: dict[int, str] = {}
    if diff:
        changes = _diff_into(the_plan, connection_options(**target))
    for request in the_plan.requests:
        out.print(f"row {request.row}: {request.method} {request.path}", markup=False)
        if request.row in changes:
            for change in changes[request.row].split("; "):
                out.print(f"  {change}", markup=False)
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
    sys.exit(EXIT_INVALID if the_plan.validation.problems or the_plan.unreadable else EXIT_OK)


def _diff_into(the_plan, connection) -> dict[int, str]:
    """Replace the plan's bodies by what differs from live; returns the changes text by row."""
    import asyncio

    from .diff import diff_plan, split_by_diff

    diffs, failures = asyncio.run(diff_plan(the_plan.requests, the_plan.values, connection))
    for row, result in sorted(failures.items()):
        out.print(f"row {row}: cannot read the live call center: {result.error}", markup=False)
    the_plan.requests, unchanged, changes = split_by_diff(the_plan.requests, diffs)
    if unchanged:
        rows = [r.row for r in unchanged]
        shown = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
        out.print(f"{len(rows)} rows unchanged (live state already matches), not sent: rows {shown}", markup=False)
    the_plan.unreadable = sorted(failures)
    return changes


from . import cli_online  # noqa: E402,F401  (registers simulate, apply, export)

if __name__ == "__main__":  # pragma: no cover
    # `python -m bulkcc.cli`: this module runs as __main__, but cli_online registered
    # simulate/apply/export on the group of the imported `bulkcc.cli`: run that one.
    from bulkcc.cli import main as _registered_main

    _registered_main()
