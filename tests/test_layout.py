"""The layout's promises that a user (or a reviewer) can observe from outside.

The layer contracts themselves are import-linter's job (`lint-imports`, in CI);
these check what they imply at run time: a real-API run never loads the
simulator or jsonschema, `--help` loads none of the heavy libraries, and no
module grows past one concern's size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "callcenters.xlsx"
MAX_MODULE_LINES = 400

PROBE = """
import json, sys
from bulkcc.cli import main
try:
    main({args!r}, standalone_mode=False)
except SystemExit:
    pass
except Exception as exc:  # a refused request is fine here: only the imports matter
    print(type(exc).__name__, file=sys.stderr)
WATCHED = ("bulkcc", "jsonschema", "pandas", "pandera", "openpyxl")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in WATCHED)))
"""


def loaded_modules(args: list[str], tmp_path: Path) -> set[str]:
    code = PROBE.format(args=args)
    env = {"DIALPAD_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", [
    ["validate", str(SAMPLE)],
    ["plan", str(SAMPLE)],
    # A real URL that answers nothing (port 9 on loopback): the run fails fast, but takes the real-API path.
    ["apply", str(SAMPLE), "--base-url", "http://127.0.0.1:9", "--max-attempts", "1", "--quiet", "--yes"],
], ids=["validate", "plan", "apply-real-url"])
def test_a_real_api_run_never_loads_the_simulator_or_jsonschema(command: list[str], tmp_path: Path) -> None:
    if command[0] == "apply":
        command = [*command, "--results", str(tmp_path / "r.xlsx")]
    modules = loaded_modules(command, tmp_path)
    assert "bulkcc.validate" in modules  # the probe did run the command
    assert not {m for m in modules if m.startswith("bulkcc.sim")}
    assert "jsonschema" not in modules


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    modules = loaded_modules(["--help"], tmp_path)
    assert not modules & {"pandas", "pandera", "openpyxl"}


def test_no_module_is_over_400_lines() -> None:
    sizes = {path.relative_to(REPO): len(path.read_text("utf-8").splitlines())
             for path in (REPO / "bulkcc").rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_only_the_rollback_delete_path_sends_a_delete() -> None:
    """No path of bulkcc but the rollback's --allow-delete ever sends a DELETE of a call center: the
    method appears in one module's code (run/deletes, outside the simulator), in one call, and that
    module is reached only from the engine's delete phase, which runs only for a rollback's created
    sheet. The one other DELETE is the API's way to remove an operator, and it goes only to
    `…/callcenters/{id}/operators` (plan/operator_changes: a removal's method, its path the operators')."""
    package = Path(__file__).resolve().parents[1] / "bulkcc"
    holders = {}
    for path in package.rglob("*.py"):
        if "sim" in path.relative_to(package).parts:
            continue  # the simulator answers DELETEs; it never sends one
        code = path.read_text("utf-8")
        found = code.count('"DELETE"') + code.count("'DELETE'")
        if found:
            holders[str(path.relative_to(package))] = found
    assert holders == {"run/deletes.py": 1, "plan/operator_changes.py": 1}
    changes = (package / "plan" / "operator_changes.py").read_text("utf-8")
    assert 'METHODS = {ADD: "POST", REMOVE: "DELETE", SKILL: "PATCH"}' in changes
    assert "return skill_path(center, self.user_id) if self.kind == SKILL else operators_path(center)" in changes
    deletes = (package / "run" / "deletes.py").read_text("utf-8")
    assert 'return await client.call("DELETE", request.path, stop=stop)' in deletes
    assert deletes.count("delete_call") == 2  # defined, and used once: in run_deletes, behind `allow`
    users = [str(p.relative_to(package)) for p in package.rglob("*.py")
             if "run_deletes" in p.read_text("utf-8") and p.name != "deletes.py"]
    assert users == ["run/execute.py"]
    execute = (package / "run" / "execute.py").read_text("utf-8")
    assert "if the_plan.deletes and run.refused is None:" in execute and execute.count("run_deletes(") == 1
    assert "allow=options.allow_delete" in execute
