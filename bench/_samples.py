"""The sample generator (`sample_data/make_samples.py`), loaded for the benchmarks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", REPO / "sample_data" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
