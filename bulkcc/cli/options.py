"""Options and helpers the commands share: consoles, error mapping, target and simulator options.

The consoles are the last filter before a terminal or a log: whatever they
print has the API key replaced by `****` (the key is registered when it is
loaded) and control characters made visible, so neither a server echoing the
key nor ESC sequences in an API message can get through, whichever path the
text took. The client redacts at the boundary too; this is the second line.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, cast

import click
from rich.console import Console

from bulkcc.errors import EXIT_ABORTED, BulkccError
from bulkcc.send.target import Redactor
from bulkcc.values import printable

redact = Redactor()  # every key this process loaded


def visible(text: str) -> str:
    """Text with the key redacted and control characters shown as escapes; line breaks and tabs kept."""
    text = redact(text)
    if text.replace("\n", "").replace("\t", "").isprintable():  # the common case, at C speed (a 300,000-line plan)
        return text
    return "\n".join("\t".join(printable(part, limit=None) for part in line.split("\t"))
                     for line in text.split("\n"))


class RedactingStream:
    """A text stream that redacts what is written, on whatever sys.stdout/stderr is now (CliRunner swaps them)."""

    def __init__(self, stream: Callable[[], TextIO]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream().write(redact(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream(), name)


class SafeConsole(Console):
    """A rich Console whose text arguments are made `visible` before rendering, and whose stream redacts."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(visible(o) if isinstance(o, str) else o for o in objects), **kwargs)


out_stream = cast(TextIO, RedactingStream(lambda: sys.stdout))
err_stream = cast(TextIO, RedactingStream(lambda: sys.stderr))
# Piped output gets a wide table: it is read in a log or a file, not a narrow terminal.
out = SafeConsole(file=out_stream, highlight=False, soft_wrap=False,
                  width=None if sys.stdout.isatty() else 200)
err = SafeConsole(file=err_stream, stderr=True, highlight=False, soft_wrap=True)


def handles_errors(command):
    """Turn a run-stopping BulkccError into one clear line and its exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BulkccError as exc:
            err.print(f"error: {exc}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # a Ctrl-C outside a run's sending (which only stops it): aborted, as documented
            with contextlib.suppress(ValueError):  # not the main thread (a test's): nothing to ignore there
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # one more press must not cut this message short
            err.print("stopped: interrupted (Ctrl-C); an apply's journal keeps what was sent: run the same "
                      "command with --resume to go on", markup=False)
            sys.exit(EXIT_ABORTED)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: it prints them as usage errors
        except Exception as exc:  # a bug in bulkcc, not in the data: one clear message, the details in a file
            report = _crash_report()
            where = f"the details are in {report}" if report else "the details could not be written to a file"
            err.print(f"internal error: {type(exc).__name__}: {printable(str(exc), 300)}. This is a bug in bulkcc, "
                      f"not a problem in your data; {where} (without the key). An apply's journal keeps what was "
                      "sent: once fixed, run the same command with --resume", markup=False)
            sys.exit(EXIT_ABORTED)

    return wrapper


def _crash_report() -> Path | None:
    """The traceback being handled, key redacted, in a file of the temporary folder; None if none could be
    written (a full disk must not turn the message into a second traceback)."""
    import tempfile
    import time
    import traceback

    try:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix=f"bulkcc-crash-{stamp}-", suffix=".txt",
                                         delete=False) as file:
            file.write(redact(" ".join(map(str, sys.argv))) + "\n\n" + redact(traceback.format_exc()))
        return Path(file.name)
    except OSError:
        return None


def _stack(command, options):
    for option in reversed(options):
        command = option(command)
    return command


def _latency(text: str) -> tuple[int, int]:
    try:
        low, _, high = text.partition(",")
        low_ms, high_ms = int(low), int(high or low)
    except ValueError:
        raise click.BadParameter("expected LO,HI in milliseconds, e.g. 100,400") from None
    if not 0 <= low_ms <= high_ms:
        raise click.BadParameter("expected 0 <= LO <= HI")
    return low_ms, high_ms


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str):
    """A duration as 90m, 48h, 2d (s, m, h, d; a decimal allowed: 1.5h), as a timedelta."""
    import re
    from datetime import timedelta

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])\s*", text or "", flags=re.IGNORECASE)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration: give a number and a unit, e.g. 90m, 48h or 2d",
                                 param_hint=option)
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0 or seconds > 3650 * 86400:
        raise click.BadParameter(f"{text!r}: give a duration above zero and under ten years", param_hint=option)
    return timedelta(seconds=seconds)


def _probability(ctx, param, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("a probability from 0 to 1")
    return value


def simulator_options(prefix: str = ""):
    """The fault-injection options, shared by `simulate` and `apply --simulator`."""
    def decorate(command):
        options = [
            click.option(f"--{prefix}latency-ms", "latency_ms", default="0,0", show_default=True,
                         help="Extra latency of each answer, LO,HI milliseconds (uniform)."),
            click.option(f"--{prefix}fail-rate", "fail_rate", type=float, default=0.0, callback=_probability,
                         help="Share of requests answered with a 5xx."),
            click.option(f"--{prefix}drop-rate", "drop_rate", type=float, default=0.0, callback=_probability,
                         help="Share of requests whose connection is dropped without an answer."),
            click.option(f"--{prefix}slow-rate", "slow_rate", type=float, default=0.0, callback=_probability,
                         help="Share of answers delayed by 5 s (to exercise timeouts)."),
            click.option(f"--{prefix}repeated-add", "repeated_add", type=click.Choice(["refuse", "update"]),
                         default="refuse", show_default=True,
                         help="An add of a user who is an operator of the call center already: refused (400), or "
                              "taken as an update of its role and skill level (the defaults where not given)."),
        ]
        return _stack(command, options)
    return decorate


def simulator_knobs(rate: int, latency_ms: str, fail_rate: float, drop_rate: float,
                    slow_rate: float, repeated_add: str = "refuse") -> dict[str, Any]:
    """The fault-injection options as SimulatorConfig fields, kept as plain data so that
    choosing --simulator does not import the simulator before the connection opens."""
    return {"rate_limit_per_min": rate, "latency_ms": _latency(latency_ms), "fail_rate": fail_rate,
            "drop_rate": drop_rate, "slow_rate": slow_rate, "repeated_add": repeated_add}


def target_options(command):
    """Where to send and how fast: shared by apply, export and plan --diff."""
    return _stack(command, [
        click.option("--base-url", help="API base URL (default https://dialpad.com)."),
        click.option("--sandbox", is_flag=True, help="Use https://sandbox.dialpad.com."),
        click.option("--simulator", is_flag=True, help="Use the built-in simulator: nothing real is changed. "
                     "Its made-up call centers are kept in ./.bulkcc-simulator.jsonl between commands."),
        click.option("--simulator-state", type=click.Path(dir_okay=False, path_type=Path),
                     help="With --simulator: keep its call centers in this file instead (created on first use; "
                          "`bulkcc simulate --state PATH` serves the same file)."),
        click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Read the API key from this file (default: the DIALPAD_API_KEY variable)."),
        click.option("--rate-limit", "rate", type=int, default=1200, show_default=True,
                     help="Requests per minute at most (and PER_MIN/60 in any second)."),
        click.option("--concurrency", type=click.IntRange(1, 500),
                     help="Requests in flight at most (default: enough for the rate with 1 s answers)."),
        click.option("--max-attempts", type=click.IntRange(1, 10), default=5, show_default=True,
                     help="Attempts per request, retries included."),
        click.option("--timeout", "timeout_s", type=float, default=30.0, show_default=True,
                     help="Seconds before one attempt times out."),
        click.option("--sim-rate-limit", type=int, default=1200, show_default=True,
                     help="With --simulator: its rate limit per minute."),
        simulator_options(prefix="sim-"),
    ])


def connection_options(*, base_url, sandbox, simulator, api_key_file, rate, concurrency, max_attempts, timeout_s,
                       sim_rate_limit, latency_ms, fail_rate, drop_rate, slow_rate, repeated_add="refuse",
                       simulator_state=None):
    """ConnectionOptions from the target options; refuses what must not be sent."""
    from bulkcc.errors import UsageError
    from bulkcc.send.connection import DEFAULT_SIMULATOR_STATE, ConnectionOptions
    from bulkcc.send.target import check_rate, resolve_target

    if simulator_state is not None and not simulator:
        raise UsageError("--simulator-state names the simulator's state file: it works only with --simulator")
    target = resolve_target(base_url, sandbox, simulator)
    check_rate(rate, target)
    api_key = load_key(api_key_file, required=not simulator)
    return ConnectionOptions(
        target=target, api_key=api_key, rate_per_min=rate,
        concurrency=concurrency, max_attempts=max_attempts, timeout_s=timeout_s,
        simulator_knobs=simulator_knobs(sim_rate_limit, latency_ms, fail_rate, drop_rate, slow_rate, repeated_add)
        if simulator else None,
        simulator_state=(simulator_state or DEFAULT_SIMULATOR_STATE) if simulator else None,
    )


def load_key(api_key_file: Path | None, *, required: bool) -> str | None:
    """The key (see `load_api_key`), registered for redaction; a key file others can read is warned of."""
    from bulkcc.send.target import load_api_key

    key = load_api_key(api_key_file, required=required, warn=lambda text: err.print(text, markup=False))
    redact.add(key)
    return key
