"""Fail if pyproject.toml's runtime floors and .ci/constraints-floor.txt disagree.

The floor venv proves only what the constraints file pins, so a floor raised or lowered in
pyproject.toml (or a new dependency) without the same change there would go unproven.
Lines for packages that are not direct dependencies are transitive pins, allowed as they are.
Run with a Python that has `packaging` (pip's test extras bring it): python .ci/floors_match.py
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def declared_floors() -> dict[str, Version | None]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    floors: dict[str, Version | None] = {}
    for text in deps:
        req = Requirement(text)
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        floors[canonicalize_name(req.name)] = max(lows) if lows else None
    return floors


def pinned() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / ".ci" / "constraints-floor.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        exact = [Version(s.version) for s in req.specifier if s.operator == "=="]
        if exact:
            pins[canonicalize_name(req.name)] = exact[0]
    return pins


def main() -> int:
    floors, pins = declared_floors(), pinned()
    problems = []
    for name, floor in floors.items():
        if floor is None:
            problems.append(f"{name}: pyproject.toml declares no >= floor; give it one and pin it here")
        elif name not in pins:
            problems.append(f"{name}: no '{name}=={floor}' line in .ci/constraints-floor.txt")
        elif pins[name] != floor:
            problems.append(f"{name}: pyproject.toml says >={floor} but .ci/constraints-floor.txt pins "
                            f"{pins[name]}; make them the same version (the one the suite passes on)")
    for problem in problems:
        print(f"floors_match: {problem}", file=sys.stderr)
    if not problems:
        print(f"floors_match: {len(floors)} runtime floors match .ci/constraints-floor.txt")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
