"""The command line: the top layer.

It owns option parsing, the terminal rendering of reports and outcomes, the
confirmation prompt, and the mapping of exceptions to exit codes (0 all good,
1 some rows invalid or failed, 2 usage error or unreadable input, 3 aborted).
Each family of commands is one module (`offline`: template, validate, plan;
`apply`; `export`; `simulate`), registered on the `main` group here. It may
import every layer below; only `simulate` and the `--simulator` hook in
`bulkcc.send.connection` reach the simulator. Heavy libraries (pandas,
pandera, openpyxl) are imported inside the commands that use them, so `--help`
starts fast.
"""

from __future__ import annotations

import click

from bulkcc import __version__
from bulkcc.cli.apply import apply
from bulkcc.cli.export import export
from bulkcc.cli.offline import plan, template, validate
from bulkcc.cli.simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulkcc")
def main() -> None:
    """Change many Dialpad call centers at once from an Excel workbook.

    Typical run: `bulkcc template`, fill it, `bulkcc validate`, `bulkcc plan`,
    then `bulkcc apply` (try it first with --simulator).
    """


for _command in (template, validate, plan, apply, export, simulate):
    main.add_command(_command)

__all__ = ["main"]
