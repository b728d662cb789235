"""Dialpad's call center OpenAPI, packaged with bulkcc, as JSON Schema.

The OpenAPI files (`bulkcc/data/dialpad-callcenters-openapi.json`, and
`dialpad-callcenter-operators-openapi.json` for operators, skill levels, status
and an office's call centers, `dialpad-users-offices-openapi.json` for users and
offices) are OpenAPI 3.0:
its schemas say `nullable: true` and point at each other with
`#/components/schemas/...` references. This module turns a component into a
self-contained Draft 2020-12 JSON Schema (references inlined, `nullable` as a
`"null"` type) so that jsonschema can check PATCH bodies against it, and it
knows which fields are int64: the live API answers those as JSON strings
("30") while request bodies send JSON integers (30).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators

CALL_CENTER = "schemas.group.CallCenterProto"
UPDATE_MESSAGE = "schemas.group.UpdateCallCenterMessage"
CREATE_MESSAGE = "schemas.group.CreateCallCenterMessage"
ADD_OPERATOR = "schemas.group.AddCallCenterOperatorMessage"
REMOVE_OPERATOR = "schemas.group.RemoveCallCenterOperatorMessage"
UPDATE_SKILL = "schemas.group.UpdateOperatorSkillLevelMessage"
SKILL_LEVEL = "schemas.group.OperatorSkillLevelProto"
USER = "schemas.user.UserProto"
OFFICE = "schemas.office.OfficeProto"
STATUS = "schemas.group.CallCenterStatusProto"
_DOCUMENTS = ("dialpad-callcenters-openapi.json", "dialpad-callcenter-operators-openapi.json",
              "dialpad-users-offices-openapi.json")
_REF_PREFIX = "#/components/schemas/"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_REPORTED_ERRORS = 20


@functools.cache
def openapi(document: str = _DOCUMENTS[0]) -> dict[str, Any]:
    """A packaged OpenAPI document, the call centers' by default (read once; treat it as read-only)."""
    text = resources.files("bulkcc").joinpath(f"data/{document}").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _components() -> dict[str, Any]:
    """The schemas of both documents by name (the ones they share are the same text)."""
    merged: dict[str, Any] = {}
    for document in reversed(_DOCUMENTS):  # the call centers' own document wins a shared name
        merged.update(openapi(document)["components"]["schemas"])
    return merged


@functools.cache
def json_schema(schema_name: str, *, strict: bool = False) -> dict[str, Any]:
    """The component `schema_name` as one self-contained Draft 2020-12 schema.

    With `strict`, objects refuse properties the spec does not define: a PATCH
    body that carries `id` or a misspelt field is a client bug we want to see,
    not a field the server silently drops.
    """
    components = _components()
    return _convert(components[schema_name], components, strict, seen=(schema_name,))


def _convert(node: dict[str, Any], components: dict, strict: bool, seen: tuple[str, ...]) -> dict[str, Any]:
    """One OpenAPI 3.0 schema object as JSON Schema (recursive, refs inlined)."""
    node = dict(node)
    nullable = bool(node.pop("nullable", False))
    ref = node.pop("$ref", None)
    if ref is not None:
        target = ref.removeprefix(_REF_PREFIX)
        if target in seen:  # the call center schemas are a tree; fail loudly if that changes
            raise ValueError(f"recursive schema reference {ref}")
        # OpenAPI 3.0 ignores a $ref's siblings; only `nullable` carries meaning here.
        node = dict(_convert(components[target], components, strict, seen + (target,)))
    else:
        if "properties" in node:
            node["properties"] = {
                name: _convert(prop, components, strict, seen) for name, prop in node["properties"].items()
            }
            # The API reads null as "not given" (protobuf JSON), so a required
            # property must carry a value: take "null" back out of its types.
            for name in node.get("required", ()):
                prop = node["properties"][name] = dict(node["properties"][name])
                if isinstance(prop.get("type"), list):
                    prop["type"] = [t for t in prop["type"] if t != "null"]
            if strict:
                node["additionalProperties"] = False
        if "items" in node:
            node["items"] = _convert(node["items"], components, strict, seen)
        if node.get("format") == "int64":
            node.update(minimum=_INT64_MIN, maximum=_INT64_MAX)
    if nullable:
        # OpenAPI 3.0 `nullable: true` is JSON Schema's extra "null" type. `required`
        # and `properties` only apply to objects, so null still passes a nested schema.
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            # Checked only on non-null values, so the message lists just the real choices.
            node["if"] = {"not": {"type": "null"}}
            node["then"] = {"enum": node.pop("enum")}
    return node


def _is_strict_integer(_checker: Any, instance: Any) -> bool:
    # jsonschema counts 25.0 as an integer; the API's int64 fields want 25, and a
    # float usually means a spreadsheet cell leaked through unconverted.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictIntegerValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


@functools.cache
def _validator(schema_name: str) -> Draft202012Validator:
    return _StrictIntegerValidator(json_schema(schema_name, strict=True))


def json_path(parts: Any) -> str:
    """A jsonschema error path as `routing_options.open.dtmf[0].options.action`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def update_body_errors(body: Any) -> list[str]:
    """Why `body` is not a valid `PATCH /api/v2/callcenters/{id}` body ([] if it is).

    Each message starts with the JSON path it is about, e.g.
    `routing_options.open.action: 'x' is not one of [...]`. Sorted by path so the
    answer is stable; at most 20 messages.
    """
    return body_errors(body, UPDATE_MESSAGE)


def body_errors(body: Any, schema_name: str) -> list[str]:
    """Why `body` is not a valid instance of the request message `schema_name`, as `update_body_errors`."""
    errors = sorted(_validator(schema_name).iter_errors(body), key=lambda e: (json_path(e.absolute_path), e.message))
    return [f"{json_path(e.absolute_path)}: {e.message}" for e in errors[:_MAX_REPORTED_ERRORS]]


def _walk_int64(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    if schema.get("format") == "int64":
        yield prefix
    for name, prop in schema.get("properties", {}).items():
        yield from _walk_int64(prop, f"{prefix}.{name}" if prefix else name)
    if "items" in schema:
        yield from _walk_int64(schema["items"], f"{prefix}[]")


@functools.cache
def int64_paths(schema_name: str = CALL_CENTER) -> frozenset[str]:
    """Dotted paths of the int64 properties, `[]` marking arrays.

    e.g. `ring_seconds`, `routing_options.open.dtmf[].options.action_target_id`.
    """
    return frozenset(_walk_int64(json_schema(schema_name), ""))


def _map_int64(value: Any, schema: dict[str, Any], convert: Callable[[Any], Any]) -> Any:
    """A copy of `value` with `convert` applied to every int64 field the schema knows."""
    if schema.get("format") == "int64":
        return convert(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _map_int64(v, props[k], convert) if k in props else copy.deepcopy(v) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [_map_int64(v, schema["items"], convert) for v in value]
    return copy.deepcopy(value)


def _int_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _str_to_int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value  # leave it for validation to complain about
    return value


def to_wire(obj: Any, schema_name: str = CALL_CENTER) -> Any:
    """`obj` as the live API sends it: int64 fields as JSON strings ("30")."""
    return _map_int64(obj, json_schema(schema_name), _int_to_str)


def from_wire(obj: Any, schema_name: str = CALL_CENTER) -> Any:
    """The inverse of `to_wire`: int64 fields given as strings become ints."""
    return _map_int64(obj, json_schema(schema_name), _str_to_int)
