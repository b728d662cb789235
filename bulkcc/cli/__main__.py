"""`python -m bulkcc.cli`: the same as the `bulkcc` command."""

from bulkcc.cli import main

main()
