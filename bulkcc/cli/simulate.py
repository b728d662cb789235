"""`bulkcc simulate`: serve the simulator on 127.0.0.1 (the only command that imports it).

By default it serves the state file `--simulator` uses (./.bulkcc-simulator.jsonl,
or --state PATH), so a walk-through gives the same company whether each command
starts its own simulator or all point --base-url here. `--seed` or `--count`
without --state or --reset keep the old meaning: those call centers, in memory.
The company's users and call center licenses (`--users`, `--licenses`) and
extra offices (`--offices`) are kept in the state file with the call centers.
"""

from __future__ import annotations

import errno
import functools
from pathlib import Path

import click
from click.core import ParameterSource

from bulkcc.cli.options import handles_errors, load_key, out, simulator_knobs, simulator_options
from bulkcc.errors import BulkccError, UsageError
from bulkcc.values import counted

# The rate limit's models, by the names `bulkcc.sim.limits.LIMITERS` gives them (spelled out here: the
# command line is loaded for every command, the simulator only for this one; a test keeps them equal).
LIMITERS = ("sliding-granted", "sliding-all", "token-bucket", "fixed-window")


def _window(ctx, param, text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        start, end = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("expected A,B in seconds from the first request, e.g. 10,40") from None
    if not 0 <= start < end:
        raise click.BadParameter("expected 0 <= A < B")
    return start, end


def _offices(ctx, param, text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        offices = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("expected office ids separated by commas, e.g. 124,125") from None
    if any(office <= 0 for office in offices):
        raise click.BadParameter("office ids are positive integers")
    return offices


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8089, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--rate-limit", "rate", type=int, default=1200, show_default=True,
              help="Requests per minute before it answers 429 (and PER_MIN/60 per second).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The state file to serve and keep changes in (default: ./.bulkcc-simulator.jsonl, the one "
                   "--simulator uses); created on first use.")
@click.option("--reset", is_flag=True, help="Start the state file over: made-up call centers (or --seed's) "
              "replace what it holds.")
@click.option("--seed", "seed_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Call centers to serve: a JSON list (or {\"items\": [...]}), or a workbook whose ids get "
                   "made-up call centers. Without --state or --reset: served in memory, nothing kept.")
@click.option("--count", type=click.IntRange(0), default=250, show_default=True,
              help="Without --seed: how many made-up call centers a new state holds (alone: served in memory).")
@click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The key it accepts (default: the DIALPAD_API_KEY variable, else the key 'simulator').")
@click.option("--other-load", "other_load", type=click.FloatRange(0), default=0.0,
              help="Requests per second of the company's other integrations, taken from the same budget.")
@click.option("--other-load-window", "other_window", callback=_window, metavar="A,B",
              help="Run the other load only from A to B seconds after the first request (default: always).")
@click.option("--other-load-burst", "other_burst", type=click.IntRange(1), default=None, metavar="N",
              help="The other load comes N requests at once, every N/RATE seconds, instead of evenly.")
@click.option("--limiter", type=click.Choice(LIMITERS), default=LIMITERS[0], show_default=True,
              help="How the rate limit counts (nobody outside Dialpad knows): sliding 1 s and 60 s windows of "
                   "the calls granted; the same counting refused calls too (each 429 costs a slot); a token "
                   "bucket of PER_MIN/60 that the other load can put in debt; fixed 1 s and 60 s windows.")
@click.option("--users", type=click.IntRange(0), default=None,
              help="Users the company has, ids 6200000000000001 up, user N's email userN@example.com (users 97, "
                   "197 … suspended, 98, 198 … deleted; default 500; kept in the state file).")
@click.option("--licenses", type=click.IntRange(0), default=None,
              help="Call center licenses the company has, those in use included; adding an operator who holds "
                   "none takes one, and with none left the add fails (default 1000; kept in the state file).")
@click.option("--offices", callback=_offices, metavar="ID,ID",
              help="Offices to know beyond those of the call centers, each named `Office N` (POST "
                   "/api/v2/callcenters in another office is a 404).")
@simulator_options()
@handles_errors
def simulate(port, rate, state_path, reset, seed_path, count, api_key_file, other_load, other_window,
             other_burst, limiter, users, licenses, offices, latency_ms, fail_rate, drop_rate, slow_rate,
             repeated_add) -> None:
    """Run a local stand-in for Dialpad's call center API on 127.0.0.1.

    It serves the call centers of the state file that --simulator uses, so
    commands pointed at it with --base-url and commands run with --simulator
    see the same made-up company.
    """
    import asyncio
    import gc

    from bulkcc.send.connection import DEFAULT_SIMULATOR_STATE
    from bulkcc.send.target import KEY_ENV, SIMULATOR_KEY
    from bulkcc.sim.server import (
        DEFAULT_LICENSES,
        DEFAULT_USERS,
        USER_ID_BASE,
        SimulatorConfig,
        StateError,
        StateFile,
        serve_forever,
    )

    for given, name in ((other_window, "--other-load-window says when"), (other_burst, "--other-load-burst says how")):
        if given is not None and not other_load:
            raise UsageError(f"{name} the other load runs: give its rate with --other-load")
    count_given = click.get_current_context().get_parameter_source("count") is not ParameterSource.DEFAULT
    initial = functools.partial(_initial_store, seed_path, count)
    if (seed_path is not None or count_given) and state_path is None and not reset:
        state, store = None, initial()
        where = "in memory (nothing is kept: --state PATH keeps the changes)"
    else:
        path = state_path or DEFAULT_SIMULATOR_STATE
        if (seed_path is not None or count_given) and path.exists() and not reset:
            raise UsageError(f"{path} already holds its call centers: add --reset to start it over from "
                             f"{'--seed' if seed_path is not None else '--count'}")
        state = StateFile(path)
        try:
            store = state.load(initial, reset=reset)
        except StateError as exc:
            raise UsageError(str(exc)) from exc
        where = f"kept in {path}"

    key = load_key(api_key_file, required=False)
    if key:
        hints = [f"# it accepts the {KEY_ENV} set in this terminal"] if api_key_file is None else []
        flags = "" if api_key_file is None else f" --api-key-file {api_key_file}"
    else:
        key, hints, flags = SIMULATOR_KEY, [f"export {KEY_ENV}={SIMULATOR_KEY}"], ""
    config = SimulatorConfig(api_key=key, history=0, background_rps=other_load, background_window=other_window,
                             background_burst=other_burst or 0, limiter=limiter,
                             users=users, licenses=licenses, offices=offices,
                             **simulator_knobs(rate, latency_ms, fail_rate, drop_rate, slow_rate, repeated_add))
    kept = state.company if state is not None else None
    users = users if users is not None else kept.users if kept is not None else DEFAULT_USERS
    licenses = licenses if licenses is not None else kept.licenses if kept is not None else DEFAULT_LICENSES
    company = (f"{counted(users, 'user')} (ids {USER_ID_BASE + 1} to {USER_ID_BASE + users}), "
               f"{counted(licenses, 'call center license')}")
    announce = functools.partial(_announce, count=len(store), where=where, hints=hints, flags=flags,
                                 company=company)
    # The call centers (and every module) live as long as the server: frozen, the collector
    # stops walking them mid-run. 10,000 call centers cost 270-440 ms pauses of the oldest
    # generation during a 10,000-PATCH run (the burst after such a pause drew false 429s).
    gc.freeze()
    try:
        asyncio.run(serve_forever(config, store, port, announce, state=state))
    except KeyboardInterrupt:
        pass
    except StateError as exc:  # the state file became locked or unwritable while starting
        raise UsageError(str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on 127.0.0.1 is in use (another bulkcc simulate?): stop what uses "
                             "it, or choose another port with --port (--port 0 takes any free one)") from None
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    finally:
        gc.unfreeze()


def _initial_store(seed_path: Path | None, count: int) -> dict:
    import random

    from bulkcc.send.connection import demo_ids
    from bulkcc.sim.server import load_seed_file, seed_store

    if seed_path is None:
        return seed_store(demo_ids(count), random.Random(0))
    if seed_path.suffix.lower() == ".json":
        try:
            return load_seed_file(seed_path)
        except ValueError as exc:
            raise BulkccError(f"--seed {seed_path}: {exc}") from exc
    from bulkcc.validate import validate_file

    return seed_store(validate_file(seed_path).ids, random.Random(0))


def _announce(url: str, *, count: int, where: str, hints: list[str], flags: str, company: str) -> None:
    out.print(f"simulating Dialpad's call center API at {url} with {counted(count, 'call center')}, {where} "
              "(Ctrl-C stops)", markup=False)
    out.print(f"the company has {company}", markup=False)
    out.print("use it from another terminal:", markup=False)
    for line in hints:
        out.print(f"  {line}", markup=False)
    out.print(f"  bulkcc export -o live.xlsx --base-url {url}{flags}", markup=False)
