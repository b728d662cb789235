"""Shared fixtures of the test suite.

Validation / plan fixtures (spec, workbook writers, samples, body schema) first;
other areas add theirs below the marked line.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings
from openpyxl import Workbook

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "sample_data"
SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"
OPENAPI_FILE = "dialpad-callcenters-openapi.json"
UPDATE_MESSAGE = "schemas.group.UpdateCallCenterMessage"

Rows = Sequence[Sequence[Any]]

# In CI the property tests draw the same examples every run (a red build then
# means the change, not the dice), and keep no example database in the clone.
# Locally they keep exploring new examples, which is how the 5000-digit crash was found.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The property tests' example counts, scaled by BULKCC_TEST_EXAMPLES (default 1). .ci/run draws a
# third of them in its second pass (the dependency floors): the newest releases explore the full
# counts, the floors' pass is there to prove the floors, which a third of the (fixed) examples does.
EXAMPLES_SCALE = float(os.environ.get("BULKCC_TEST_EXAMPLES", "1"))


def examples(count: int) -> int:
    """A property test's max_examples: `count`, scaled for this run (never under 5, nor over `count`)."""
    return min(count, max(5, round(count * EXAMPLES_SCALE)))


# ---- validation / plan fixtures ------------------------------------------------

PACKAGED_SPEC_DIR = Path(__file__).resolve().parents[1] / "bulkcc" / "data"


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    """The shared spec folder (`<repo>/../shared/spec`), where CI has it.

    Elsewhere (a clone on its own) the copy packaged in bulkcc/data stands in;
    test_apispec checks that the copy equals the shared file wherever both exist.
    """
    if (SPEC_DIR / OPENAPI_FILE).is_file():
        return SPEC_DIR
    return PACKAGED_SPEC_DIR


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def make_samples() -> ModuleType:
    """`sample_data/make_samples.py` as a module (realistic_row, errors_rows, write_workbook …)."""
    return load_make_samples()


@functools.cache
def load_make_samples() -> ModuleType:
    """The one loader of the sample generator (tests import it from here)."""
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLE_DIR / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = module
    spec.loader.exec_module(module)
    return module


def write_xlsx_file(path: Path, header: Sequence[Any], rows: Rows, sheet: str = "callcenters",
                    other_sheets: dict[str, Rows] | None = None, first: str | None = None) -> Path:
    """A workbook whose sheet `sheet` holds header + rows; `other_sheets` are added (by default after it)."""
    workbook = Workbook()
    data = workbook.active
    data.title = sheet
    data.append(list(header))
    for row in rows:
        data.append(list(row))
    for name, content in (other_sheets or {}).items():
        extra = workbook.create_sheet(name, 0 if first == name else None)
        for row in content:
            extra.append(list(row))
    workbook.save(path)
    return path


def write_csv_file(path: Path, header: Sequence[Any], rows: Rows) -> Path:
    """CSV as Excel exports it (the samples' writer)."""
    return load_make_samples().write_csv(path, [str(h) for h in header], rows)


@pytest.fixture
def write_xlsx(tmp_path: Path) -> Callable[..., Path]:
    """write_xlsx(header, rows, sheet="callcenters", name="input.xlsx", other_sheets=None, first=None)."""
    def write(header: Sequence[Any], rows: Rows, sheet: str = "callcenters", name: str = "input.xlsx",
              other_sheets: dict[str, Rows] | None = None, first: str | None = None) -> Path:
        return write_xlsx_file(tmp_path / name, header, rows, sheet, other_sheets, first)

    return write


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """write_csv(header, rows, name="input.csv"): booleans as TRUE/FALSE, None as an empty cell."""
    def write(header: Sequence[Any], rows: Rows, name: str = "input.csv") -> Path:
        return write_csv_file(tmp_path / name, header, rows)

    return write


@pytest.fixture
def zip_bomb(tmp_path: Path) -> Path:
    """`bomb.xlsx`: a real small workbook plus a member of 300 MB of spaces (~300 KB on disk)."""
    import zipfile

    small = tmp_path / "small.xlsx"
    write_xlsx_file(small, ["id"], [])
    chunk = b" " * (1024 * 1024)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            bomb.writestr(info, source.read(info))
        with bomb.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(chunk)
    return path


def openapi_to_json_schema(node: Any, components: dict[str, Any], strict: bool = True) -> Any:
    """An OpenAPI 3.0 schema as self-contained JSON Schema: refs inlined, `nullable` as a "null" type.

    With `strict`, objects refuse properties the spec does not define (a PATCH body
    must not carry `id` or a misspelt field).
    """
    if isinstance(node, list):
        return [openapi_to_json_schema(n, components, strict) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    nullable = node.pop("nullable", False)
    node.pop("description", None)
    if "$ref" in node:  # OpenAPI 3.0: a $ref's siblings (but nullable) are ignored
        node = openapi_to_json_schema(components[node["$ref"].rsplit("/", 1)[-1]], components, strict)
    else:
        node = {k: openapi_to_json_schema(v, components, strict) if k in ("items",) else v
                for k, v in node.items()}
        if "properties" in node:
            node["properties"] = {k: openapi_to_json_schema(v, components, strict)
                                  for k, v in node["properties"].items()}
            if strict:
                node["additionalProperties"] = False
        if node.get("format") == "int64":
            node["minimum"], node["maximum"] = -(2**63), 2**63 - 1
    if nullable and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


@pytest.fixture(scope="session")
def update_body_validator(spec_dir: Path):
    """A jsonschema validator of `schemas.group.UpdateCallCenterMessage` from the shared spec.

    Integers are strict: 25.0 or True are not integers (a spreadsheet float leaked
    through, or a bool where a number belongs).
    """
    import json

    from jsonschema import Draft202012Validator, validators

    components = json.loads((spec_dir / OPENAPI_FILE).read_text("utf-8"))["components"]["schemas"]
    schema = openapi_to_json_schema(components[UPDATE_MESSAGE], components)
    strict_int = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool))
    cls = validators.extend(Draft202012Validator, type_checker=strict_int)
    cls.check_schema(schema)
    return _BodyValidator(cls(schema))


class _BodyValidator:
    """The jsonschema validator, with a short repr (hypothesis prints fixtures of failing examples)."""

    def __init__(self, validator: Any) -> None:
        self.validator = validator
        self.iter_errors = validator.iter_errors
        self.is_valid = validator.is_valid

    def errors(self, body: Any) -> list[str]:
        """Every error as `path: message`, e.g. `routing_options.open.action: 'x' is not one of [...]`."""
        return [f"{'.'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in self.iter_errors(body)]

    def __repr__(self) -> str:
        return f"<{UPDATE_MESSAGE} validator>"


# ---- other fixtures below ------------------------------------------------------


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's create locks in a folder of its own (`BULKCC_LOCK_DIR`, inherited by the CLI
    subprocesses it starts), never the user's: tests of one target at once would block each other."""
    folder = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv("BULKCC_LOCK_DIR", str(folder))
    return folder
