"""Reading live state for --diff (`bulkcc.run.live`): the cheaper way, by requests, against the simulator.

The list endpoint answers 100 call centers a request; a GET answers one. These
tests count the requests the simulator saw for `plan --diff` (the same read as
`apply --diff` and the stale guard), never the time they took.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from bulkcc.plan import make_plan
from bulkcc.run.live import plan_against_live_async
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import Target
from bulkcc.sim.server import Simulator, SimulatorConfig, seed_store
from bulkcc.validate import validate_file

pytestmark = pytest.mark.timeout(30)

KEY = "live-test-key"
FAST = 600_000  # loopback only
FIRST_ID = 4_800_000_000_000_001
LIST_PATH = "/api/v2/callcenters"


def company(count: int) -> dict[int, dict[str, Any]]:
    return seed_store(range(FIRST_ID, FIRST_ID + count), random.Random(0))


def workbook(path: Path, rows: list[dict[str, Any]]) -> Path:
    header = sorted({name for row in rows for name in row}, key=lambda n: (n != "id", n))
    book = Workbook()
    sheet = book.active
    sheet.title = "callcenters"
    sheet.append(header)
    for row in rows:
        sheet.append([str(row[name]) if name in ("id", "info.office_id") and name in row else row.get(name)
                      for name in header])
    book.save(path)
    return path


def ring_change(store: dict[int, dict[str, Any]], cc_id: int) -> int:
    return 10 if store[cc_id]["ring_seconds"] != 10 else 11


async def planned(path: Path, sim: Simulator):
    options = ConnectionOptions(target=Target(sim.base_url), api_key=KEY, rate_per_min=FAST, concurrency=8,
                                max_attempts=2, timeout_s=5)
    return await plan_against_live_async(make_plan(validate_file(path)), options)


def reads(sim: Simulator) -> Counter:
    """GETs by kind: the listing's pages, and one-id reads."""
    return Counter("list" if r.path == LIST_PATH else "get" for r in sim.requests if r.method == "GET")


async def test_many_rows_are_read_by_pages_not_one_get_each(tmp_path: Path) -> None:
    store = company(450)
    ids = sorted(store)[::3]  # 150 rows spread over the whole company
    rows = [{"id": i, "ring_seconds": ring_change(store, i)} for i in ids]
    async with Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST), store=store) as sim:
        plan = await planned(workbook(tmp_path / "in.xlsx", rows), sim)
        seen = reads(sim)
    assert seen == {"list": 5}  # 450 call centers, 100 a page: 150 GETs would cost 30 times more
    assert len(plan.requests) == 150 and not plan.unreadable


async def test_paging_stops_once_every_row_is_found(tmp_path: Path) -> None:
    store = company(1000)
    ids = sorted(store)[:120]  # all on the first two pages
    rows = [{"id": i, "ring_seconds": ring_change(store, i)} for i in ids]
    async with Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST), store=store) as sim:
        plan = await planned(workbook(tmp_path / "in.xlsx", rows), sim)
        seen = reads(sim)
    assert seen == {"list": 2}
    assert len(plan.requests) == 120


async def test_a_few_rows_among_many_are_read_one_get_each(tmp_path: Path) -> None:
    store = company(1000)
    ids = sorted(store)[-2:]
    rows = [{"id": i, "ring_seconds": ring_change(store, i)} for i in ids]
    async with Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST), store=store) as sim:
        plan = await planned(workbook(tmp_path / "in.xlsx", rows), sim)
        seen = reads(sim)
    assert seen == {"get": 2}
    assert len(plan.requests) == 2


async def test_rows_the_listing_does_not_show_are_confirmed_with_their_own_get(tmp_path: Path) -> None:
    store = company(250)
    ids = sorted(store)[:8]
    gone = FIRST_ID + 10_000  # no such call center
    rows = [*({"id": i, "ring_seconds": ring_change(store, i)} for i in ids), {"id": gone, "ring_seconds": 20}]
    async with Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST), store=store) as sim:
        plan = await planned(workbook(tmp_path / "in.xlsx", rows), sim)
        gets = [r.path for r in sim.requests if r.method == "GET" and r.path != LIST_PATH]
        seen = reads(sim)
    assert gets == [f"{LIST_PATH}/{gone}"]  # asked for itself before it is called missing
    assert seen["list"] <= 3
    assert list(plan.unreadable) == [10] and "404" in plan.unreadable[10]
    assert len(plan.requests) == 8


async def test_rows_of_known_offices_list_only_those_offices(tmp_path: Path) -> None:
    store = company(2000)
    office = Counter(cc["office_id"] for cc in store.values()).most_common(1)[0][0]
    ids = sorted(i for i, cc in store.items() if cc["office_id"] == office)[:150]
    rows = [{"id": i, "ring_seconds": ring_change(store, i), "info.office_id": office} for i in ids]
    async with Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=FAST), store=store) as sim:
        plan = await planned(workbook(tmp_path / "in.xlsx", rows), sim)
        seen = reads(sim)
    # The office's first two pages hold the 150 rows; company-wide, they are spread over all 20 pages.
    assert seen == {"list": 2}
    assert len(plan.requests) == 150
