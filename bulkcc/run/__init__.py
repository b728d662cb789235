"""Runs: the library calls behind `apply` and `export`, over live state.

Owns `apply` (validate, plan, read live state for --diff), `apply_plan` (send
a saved plan after its checks and stale guard), the engine both end in
(`execute`: journal, send, rollback, results) and their `options`, the files
a run writes and their lock (`outputs`), the create phase it runs before the
updates (`creates`: each new call center at most once per row and run;
`create_answers`: what a create's answer must be, and what each outcome says;
`offices`: an office's listing, and the bounded look for a create whose answer
settled nothing), the rollback workbook every run writes (`rollback`: read
before the first write; `live.prior_phase` and `operator_priors` without
--diff), a rollback workbook applied (`undo`, `agent_undo`) and the deletes of
its created sheet, only with --allow-delete and only what the run's journal
proves it created (`deletes`, the one DELETE of bulkcc),
`export` (and `export_cells`: every cell reads back as its live value, or is
blank with a note), reading live call centers (`live`), the crash-safe journal
(`journal`, written through the group commit of `commit`), the locks that
allow one run per results path and one create phase per target (`lock`), Ctrl-C and SIGTERM (`signals`) and
progress output (`progress`); and the operators sheet's part of a run: its
input (`operator_input`), its --diff reads and its sends (`operators`), the phase
the engine runs after the call centers (`operator_phase`; a saved plan's stale
guard: `operator_guard`) and `export --operators`
(`export_operators`). Office listings for creates go through `listing`.
May import `send`,
`plan`, `validate`, `workbook` and the bottom layer; never `cli` or `sim`.
"""
