"""`bulkcc simulate`: serve the simulator on 127.0.0.1 (the only command that imports it)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from bulkcc.cli.options import handles_errors, load_key, out, simulator_knobs, simulator_options
from bulkcc.errors import BulkccError


@click.command()
@click.option("--port", type=int, default=8089, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--rate-limit", "rate", type=int, default=1200, show_default=True,
              help="Requests per minute before it answers 429 (and PER_MIN/60 per second).")
@click.option("--seed", "seed_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Call centers to serve: a JSON list (or {\"items\": [...]}), or a workbook whose ids get "
                   "made-up call centers.")
@click.option("--count", type=int, default=250, show_default=True,
              help="Without --seed: how many made-up call centers to serve.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path))
@simulator_options()
@handles_errors
def simulate(port, rate, seed_path, count, api_key_file, latency_ms, fail_rate, drop_rate, slow_rate) -> None:
    """Run a local stand-in for Dialpad's call center API on 127.0.0.1."""
    import asyncio
    import random

    from bulkcc.send.target import KEY_ENV
    from bulkcc.sim.server import SimulatorConfig, ids_for_demo, load_seed_file, seed_store, serve_forever

    key = load_key(api_key_file, required=False)
    if seed_path is None:
        store = seed_store(ids_for_demo(count), random.Random(0))
    elif seed_path.suffix.lower() == ".json":
        try:
            store = load_seed_file(seed_path)
        except ValueError as exc:
            raise BulkccError(f"--seed {seed_path}: {exc}") from exc
    else:
        from bulkcc.validate import validate_file

        store = seed_store(validate_file(seed_path).ids, random.Random(0))
    if key:
        out.print(f"accepting the key in {KEY_ENV if api_key_file is None else api_key_file}", markup=False)
    else:
        key = "simulator"
        out.print(f"no {KEY_ENV} set: accepting the key 'simulator'", markup=False)
    config = SimulatorConfig(api_key=key, **simulator_knobs(rate, latency_ms, fail_rate, drop_rate, slow_rate))
    announce = functools.partial(_announce_simulator, count=len(store))
    try:
        asyncio.run(serve_forever(config, store, port, announce))
    except KeyboardInterrupt:
        pass


def _announce_simulator(url: str, count: int) -> None:
    out.print(f"simulating Dialpad's call center API at {url} with {count} call centers (Ctrl-C stops)",
              markup=False)
