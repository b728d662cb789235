"""Planning: from valid rows to the exact requests they stand for.

Owns the PATCH body builder and its inverse (`payload`), the creates (`creates`:
a blank id and an office_id is a POST, its body checked against
CreateCallCenterMessage's keys), the `Plan` value
(`plans`), the --diff comparison against live call centers (`diff`, pure: the
live state is read by the run layer), what of a live routing a PATCH cannot
carry back, so that --diff never sends a routing that would lose it (`exact`),
the check that an answer shows what was sent (`compare`), the saved plan file
(`planfile`, read back strictly by `saved`), the stale guard of a saved --diff
plan (`stale`), the data of the review workbook (`review`), and the operator
changes of the operators sheet as values (`operator_changes`), planned purely
from its rows and the live operators (`operators`), in the saved plan
(`operator_planfile`), and the rollback of a run as a value (`undo`: what it
puts back and when something is stale), as a workbook (`undo_file`), and as the journal's
records that prove the workbook's rows (`undo_proof`). May import
`validate`, `workbook`, and the bottom layer (`fields`, `errors`, `values`,
`status`); never `send`, `run` or `sim`.
"""

from bulkcc.plan.diff import diff_plan
from bulkcc.plan.payload import PlannedRequest
from bulkcc.plan.plans import Change, Plan, make_plan, write_plan_jsonl

__all__ = ["Change", "Plan", "PlannedRequest", "diff_plan", "make_plan", "write_plan_jsonl"]
