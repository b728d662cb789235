"""The operators sheet's field table, and the parsed row it describes.

The `operators` sheet of a workbook assigns agents to call centers: one row per
(call center, user). Like `fields.FIELDS` for the `callcenters` sheet, this one
table generates the template's operators sheet (columns, drop-downs, notes), its
pandera schema and its column reference; the API texts come from the official
operators OpenAPI (`dialpad-callcenter-operators-openapi.json`).

A blank cell means "the API's default when the operator is added, and the live
value kept otherwise" (with --diff); `remove` TRUE removes the operator.
Bottom layer: imports only `fields`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulkcc.fields import Field, _f

OPERATORS_SHEET = "operators"
ROLES = ("admin", "operator", "supervisor")
LICENSE_TYPES = ("agents", "lite_support_agents")
# The spec's ranges: adding takes 1-100 (default 100), changing a skill level takes 0-100.
ADD_SKILL_MIN, SKILL_MIN, SKILL_MAX = 1, 0, 100

OPERATOR_FIELDS: tuple[Field, ...] = (
    _f("call_center_id", "id", "operator", "The id of the call center the operator belongs to. Give this, "
       "or call_center_name.", minimum=1, named_by=("call_center_name", "the call center by its name")),
    _f("call_center_name", "text", "operator", "The call center's name, instead of call_center_id: a row of the "
       "callcenters sheet of this workbook (a center created in this run gets its agents in the same run) or a "
       "live call center, looked up when planned with a key or applied. Names are compared as a person reads "
       "them (case and blanks aside); a name that is both on the sheet and live as another center, or two live "
       "centers', is ambiguous: an invalid row.", max_length=100, single_line=True),
    _f("user_id", "id", "operator", "The ID of the user. Give this, or user_email.", minimum=1,
       named_by=("user_email", "the user by email")),
    _f("user_email", "text", "operator", "The user's email, instead of user_id: looked up when planned with a "
       "key or applied (compared ignoring case and outer blanks, nothing looser). An email of no user, of two "
       "users, or of a suspended or deleted user is an invalid row.", max_length=254, single_line=True),
    _f("role", "enum", "operator", "The role the user should assume. Blank: operator when added; "
       "with --diff the live role is kept.", choices=ROLES, default="operator"),
    _f("skill_level", "int", "operator", "Skill level of the operator: 1-100 when adding (default 100), "
       "0-100 when changing an existing operator's level (with --diff).",
       minimum=SKILL_MIN, maximum=SKILL_MAX, default="100"),
    _f("license_type", "enum", "operator", "The type of license to assign to the new operator if a license "
       "is required. Defaults to agents.", choices=LICENSE_TYPES, default="agents"),
    _f("keep_paid_numbers", "bool", "operator", "Whether or not to keep phone numbers when switching to a "
       "support license. Phone numbers require additional number licenses under a support license.",
       default="TRUE"),
    _f("remove", "bool", "operator", "TRUE removes the operator from the call center. Removing does not "
       "change or release any licenses.", default="FALSE"),
)

OPERATOR_FIELDS_BY_PATH: dict[str, Field] = {f.path: f for f in OPERATOR_FIELDS}
OPERATOR_COLUMNS: tuple[str, ...] = tuple(OPERATOR_FIELDS_BY_PATH)
# The add body's keys (AddCallCenterOperatorMessage), in the table's order.
ADD_KEYS = ("user_id", "role", "skill_level", "license_type", "keep_paid_numbers")


def email_key(email: object) -> str:
    """An email as the lookup compares it: outer blanks trimmed, case ignored, nothing looser."""
    return str(email).strip().lower()


@dataclass(frozen=True)
class OperatorRow:
    """One valid row of the operators sheet, parsed. None means the cell was blank.

    A row names its call center by `call_center_id` or by `call_center_name` (a row of
    the callcenters sheet, resolved to an id when the run knows it); a live center's
    name, once looked up, is kept beside the id it gave (`bulkcc.plan.lookups`). The
    user is `user_id`; a row that named it by email carries `user_email` too, once
    looked up (a row not yet looked up is not an OperatorRow).
    """

    excel_row: int
    user_id: int
    call_center_id: int | None = None
    call_center_name: str | None = None
    role: str | None = None
    skill_level: int | None = None
    license_type: str | None = None
    keep_paid_numbers: bool | None = None
    remove: bool = False
    user_email: str | None = None  # the email the row named the user by (looked up), for the words and sheets

    def add_body(self) -> dict[str, object]:
        """The POST body that adds this operator: user_id and every filled cell."""
        values = {"user_id": self.user_id, "role": self.role, "skill_level": self.skill_level,
                  "license_type": self.license_type, "keep_paid_numbers": self.keep_paid_numbers}
        return {k: values[k] for k in ADD_KEYS if values[k] is not None}
