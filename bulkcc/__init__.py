"""bulkcc: change many Dialpad call centers at once from an Excel workbook.

The library calls the README names are importable from here; they load on first
use, so `import bulkcc` (and the CLI's `--help`) stays fast:

    from bulkcc import validate_file, make_plan, apply, export
    validation = validate_file("callcenters.xlsx")
    for problem in validation.problems: ...

Layers, top to bottom (import-linter checks them, see pyproject.toml):
`cli` → `run` → `send` | `plan` → `validate` → `workbook` → `operator_fields` →
`fields`, `errors`, `values`, `status`. The simulator (`sim`) sits beside them, reached only by
`bulkcc simulate` and the `--simulator` hook in `send.connection`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "validate_file": "bulkcc.validate.validation",
    "Validation": "bulkcc.validate.validation",
    "make_plan": "bulkcc.plan.plans",
    "Plan": "bulkcc.plan.plans",
    "SavedPlan": "bulkcc.plan.planfile",
    "read_plan_file": "bulkcc.plan.planfile",
    "write_plan_file": "bulkcc.plan.planfile",
    "apply_plan": "bulkcc.run.apply_plan",
    "apply_plan_async": "bulkcc.run.apply_plan",
    "apply": "bulkcc.run.apply",
    "apply_async": "bulkcc.run.apply",
    "ApplyOptions": "bulkcc.run.apply",
    "ApplyOutcome": "bulkcc.run.apply",
    "export": "bulkcc.run.export",
    "export_async": "bulkcc.run.export",
    "ExportQuery": "bulkcc.run.export",
    "ConnectionOptions": "bulkcc.send.connection",
    "resolve_target": "bulkcc.send.target",
    "Problem": "bulkcc.errors",
    "BulkccError": "bulkcc.errors",
    "InputError": "bulkcc.errors",
    "UsageError": "bulkcc.errors",
    "RunStopped": "bulkcc.errors",
    "Status": "bulkcc.status",
    # Migrations: creates and the operators sheet.
    "PlannedCreate": "bulkcc.plan.creates",
    "OperatorRow": "bulkcc.operator_fields",
    "OperatorsValidation": "bulkcc.validate.operators",
    "OperatorPlan": "bulkcc.plan.operator_changes",
    "plan_operators": "bulkcc.plan.operators",
}

__all__ = [
    "ApplyOptions", "ApplyOutcome", "BulkccError", "ConnectionOptions", "ExportQuery", "InputError", "OperatorPlan",
    "OperatorRow", "OperatorsValidation", "Plan", "PlannedCreate", "Problem", "RunStopped", "SavedPlan", "Status",
    "UsageError", "Validation", "__version__", "apply",
    "apply_async", "apply_plan", "apply_plan_async", "export", "export_async", "make_plan", "plan_operators",
    "read_plan_file",
    "resolve_target", "validate_file", "write_plan_file",
]

if TYPE_CHECKING:
    from bulkcc.errors import BulkccError, InputError, Problem, RunStopped, UsageError
    from bulkcc.operator_fields import OperatorRow
    from bulkcc.plan.creates import PlannedCreate
    from bulkcc.plan.operator_changes import OperatorPlan
    from bulkcc.plan.operators import plan_operators
    from bulkcc.plan.planfile import SavedPlan, read_plan_file, write_plan_file
    from bulkcc.plan.plans import Plan, make_plan
    from bulkcc.run.apply import ApplyOptions, ApplyOutcome, apply, apply_async
    from bulkcc.run.apply_plan import apply_plan, apply_plan_async
    from bulkcc.run.export import ExportQuery, export, export_async
    from bulkcc.send.connection import ConnectionOptions
    from bulkcc.send.target import resolve_target
    from bulkcc.status import Status
    from bulkcc.validate.operators import OperatorsValidation
    from bulkcc.validate.validation import Validation, validate_file


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bulkcc' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value
