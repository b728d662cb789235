"""The pandera schema of the parsed sheet, generated from the field table.

Every column's dtype, range, enum, length and shape is a pandera check. Each
check is registered with the message an admin should read when it fails, and
`failures_to_problems` is the one place where pandera's failure cases become
`Problem` records (Excel row, column, value, message).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS, Field, suggest_choice
from bulkcc.validate.cells import hours_in_order
from bulkcc.values import is_missing, is_nan, native, printable

# The pandas dtype each kind is held in once parsed; pandera checks it.
DTYPES = {
    "id": "Int64",
    "int": "Int64",
    "bool": "boolean",
    "text": "string",
    "enum": "string",
    "dtmf_key": "string",
    "hours": "object",  # tuples of "HH:MM"
}

Message = Callable[[Any], str]
# Columns pandera checks for uniqueness. The callcenters sheet's id is not one of them: it is unique by a
# rule (`rules.unique_ids`), since pandera counts blank ids (the rows that create a call center) as duplicates.
UNIQUE_COLUMNS: frozenset[str] = frozenset()
# What a blank required cell needs, by column.
REQUIRED_FIX = {
    "id": "fill in the call center's id",
    "user_id": "fill in the id of the user (the agent) the row adds, changes or removes",
}


@dataclass(frozen=True)
class _Rule:
    check: pa.Check
    message: Message


def _choice_message(field: Field) -> Message:
    leaf = field.path.rsplit(".", 1)[-1]

    def message(value: Any) -> str:
        text = str(value)
        hint = suggest_choice(text, field.choices) if len(text) <= 100 else None  # difflib is slow on huge text
        did_you_mean = f"did you mean {hint}? " if hint else ""
        return f"{printable(text, 40, quote=True)} is not an allowed {leaf}; {did_you_mean}allowed: {field.allowed}"

    return message


def _length_message(limit: int) -> Message:
    return lambda v: f"{len(str(v))} characters, over the limit of {limit}; shorten it"


def _range_words(field: Field) -> str:
    return f"from {field.minimum} to {field.maximum}" if field.maximum is not None else f"{field.minimum} or more"


def _rules_for(field: Field) -> list[_Rule]:
    rules: list[_Rule] = []
    if field.minimum is not None:
        if field.maximum is not None:
            check = pa.Check.in_range(field.minimum, field.maximum)
        else:
            check = pa.Check.ge(field.minimum)
        rules.append(_Rule(check, lambda v: f"{v} is out of range: {field.path} must be {_range_words(field)}"))
    if field.choices:
        rules.append(_Rule(pa.Check.isin(list(field.choices)), _choice_message(field)))
    if field.max_length:
        limit = field.max_length
        rules.append(_Rule(
            pa.Check.str_length(max_value=limit),
            _length_message(limit),
        ))
    if field.single_line:
        rules.append(_Rule(
            # Every character str.splitlines() breaks on, not only \r and \n.
            pa.Check.str_matches(r"[^\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*\Z"),
            lambda v: "must be a single line; remove the line breaks",
        ))
    if field.kind == "hours":
        rules.append(_Rule(
            pa.Check(hours_in_order, element_wise=True),
            lambda v: "each range must open before it closes, and ranges must ascend without overlapping "
                      "(e.g. 08:00-12:00, 14:00-18:00)",
        ))
    return rules


@cache
def _schema_and_messages(fields: tuple[Field, ...] = FIELDS
                         ) -> tuple[pa.DataFrameSchema, dict[tuple[str, int], Message]]:
    columns: dict[str, pa.Column] = {}
    messages: dict[tuple[str, int], Message] = {}
    for field in fields:
        rules = _rules_for(field)
        columns[field.path] = pa.Column(
            DTYPES[field.kind],
            checks=[r.check for r in rules],
            nullable=not field.required,
            # None today: the callcenters sheet's id is unique by a rule (see UNIQUE_COLUMNS). (An
            # operators row's ids repeat: a center has many operators; its own pairs are a rule too.)
            unique=field.path in UNIQUE_COLUMNS,
            required=False,
        )
        for number, rule in enumerate(rules):
            messages[(field.path, number)] = rule.message
    return pa.DataFrameSchema(columns, strict=False), messages


def schema(fields: tuple[Field, ...] = FIELDS) -> pa.DataFrameSchema:
    """The pandera schema of a parsed sheet (columns may be absent; blank cells are NA)."""
    return _schema_and_messages(fields)[0]


@cache
def _required_columns(fields: tuple[Field, ...]) -> frozenset[str]:
    return frozenset(field.path for field in fields if field.required)


def check_frame(typed: pd.DataFrame, fields: tuple[Field, ...] = FIELDS) -> list[Problem]:
    """Run the schema of `fields` (a sheet's field table) over the parsed frame (index: Excel rows)."""
    # A column blank in every row breaks no range, enum or length, and pandera spends about a millisecond
    # on each column whatever it holds: a template's sheet is mostly blank columns. Required columns stay,
    # so that a blank one is still reported on each of its rows.
    required = _required_columns(fields)
    blank = [c for c in typed.columns if c not in required and not typed[c].notna().any()]
    checked = typed.drop(columns=blank) if blank else typed
    try:
        # pandera's own pandas calls warn on pandas 2.x (FutureWarning about concatenating
        # all-NA frames): noise for an admin, who reads stderr for the problems in the sheet.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            schema(fields).validate(checked, lazy=True)
    except SchemaErrors as errors:
        return failures_to_problems(errors.failure_cases, typed, fields)
    return []


def failures_to_problems(failures: pd.DataFrame, typed: pd.DataFrame,
                         fields: tuple[Field, ...] = FIELDS) -> list[Problem]:
    """The one place where pandera's failure cases become Problem records."""
    messages = _schema_and_messages(fields)[1]
    problems: list[Problem] = []
    for case in failures.to_dict("records"):
        column, check, row = str(case["column"]), str(case["check"]), case["index"]
        value = case["failure_case"]
        if row is None or is_nan(row):
            # A whole-column failure (wrong dtype): a bug in parsing, not in the data.
            problems.append(Problem(None, column, None, f"internal: column {column} failed {check}"))
            continue
        row = int(row)
        if check == "not_nullable":
            message = f"{column} is required: {REQUIRED_FIX.get(column, 'fill it in')}"
            value = None
        else:
            number = -1 if is_missing(case["check_number"]) else int(case["check_number"])
            rule = messages.get((column, number))
            message = rule(value) if rule is not None else f"failed {check}"
        problems.append(Problem(row, column, native(value), message))  # pandera hands back numpy scalars
    return problems
