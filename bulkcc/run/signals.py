"""Ctrl-C and SIGTERM during a run: they set the run's stop event, so no new request starts and
those in flight finish (the engine, `execute`, installs them for the length of the sending)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove
