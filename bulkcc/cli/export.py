"""`bulkcc export`: the live call centers as a workbook."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bulkcc.cli.options import connection_options, err, handles_errors, out, target_options, visible
from bulkcc.errors import EXIT_INVALID
from bulkcc.values import counted


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


@click.command()
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The workbook to write.")
@click.option("--ids", help="Only these call centers, by id: 1,2,3.")
@click.option("--office-id", type=int, help="Only the call centers of this office.")
@click.option("--name-search", help="Only call centers whose name contains this text.")
@click.option("--operators", "with_operators", is_flag=True,
              help="Also export each call center's operators (role, skill level) to the operators sheet: one "
              "request per call center and one per operator.")
@target_options
@handles_errors
def export(output, ids, office_id, name_search, with_operators, **target) -> None:
    """Write the live call centers as a workbook in the template's format.

    A listed item that cannot be a row (no id, not a call center, listed twice)
    is skipped with a line on stderr, and the command then exits 1. With --operators
    a read of operators that fails stops the export before anything is written.
    """
    from bulkcc.run.export import ExportQuery
    from bulkcc.run.export import export as run_export

    query = ExportQuery(ids=_ids(ids), office_id=office_id, name_search=name_search)
    if query.ids and (office_id is not None or name_search):
        raise click.UsageError("--ids reads those call centers; it does not combine with --office-id or --name-search")
    connection = connection_options(**target)
    if connection.target.simulator:
        out.print("Reading from the built-in simulator: made-up call centers.", markup=False)
    skipped: list[str] = []

    def report(line: str) -> None:
        skipped.append(line)
        err.print(f"warning: {line}", markup=False)

    callcenters = run_export(output, query, connection, report=report, operators=with_operators)
    out.print(f"exported {counted(len(callcenters), 'call center')} to {output}", markup=False)
    _print_notes(callcenters.notes)
    if callcenters.office_note:
        err.print(visible(f"note: {callcenters.office_note}"), markup=False)
    if callcenters.operators is not None:
        out.print(f"exported {callcenters.operators.summary()} to its operators sheet", markup=False)
        for note in callcenters.operators.notes:
            where = f"operators row {note.row}, {note.column}: " if note.row is not None else ""
            err.print(visible(f"note: {where}{note.message}"), markup=False)
    if skipped:
        err.print(f"{counted(len(skipped), 'listed item')} {'was' if len(skipped) == 1 else 'were'} skipped (see "
                  "above): the workbook holds only the others",
                  markup=False)
        sys.exit(EXIT_INVALID)


def _print_notes(notes) -> None:
    """Every cell export left blank, and why, on stderr: the workbook itself stays plain data."""
    if not notes:
        return
    for note in notes:
        err.print(f"note: row {note.row}, {note.column}: {note.message}", markup=False)
    cells = len({(n.row, n.column) for n in notes})
    rows = len({n.row for n in notes})
    they, cell = ("it is", "its cell") if cells == 1 else ("they are", "their cells")
    err.print(f"{counted(cells, 'live value')} in {counted(rows, 'row')} could not be written exactly (notes "
              f"above); with --diff {they} left as {they} unless you fill {cell}", markup=False)
