"""Group commit: journal lines written and fsynced in batches, off the event loop.

A row counts as done only once its journal line is on disk. An fsync takes a
fraction of a millisecond on a quiet local disk (milliseconds on a busy or
network one), and it used to run on the event loop once per row, holding up
every send meanwhile. Now the loop only queues a line; one writer thread takes
everything queued since its last fsync as the next batch, writes and fsyncs
it. Rows that finish together share one fsync, a lone row is written at once
(nothing waits to gather a batch), and the loop never waits on the disk. A
line's callback runs on the loop only once its batch is synced: that is the
moment its row counts as done.

A thread of its own rather than `asyncio.to_thread` per batch: it costs the
loop one wake-up per batch instead of an executor round trip and two task
steps (about half the loop time per row, see bench/bench_journal.py), and a
stalled disk never occupies the default executor that aiohttp resolves names in.

The first OSError (a full disk, a vanished mount) ends the writer: nothing
queued then or later is called synced, `failure` says why, and `on_failure`
is told, on the loop (apply stops starting requests). Closing waits until
everything queued is on disk or the writer has failed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

OnSynced = Callable[[], None]


def write_synced(handle: BinaryIO, data: bytes) -> None:
    """Write all of `data` and fsync it: when this returns, the bytes survive a kill -9 or a power cut."""
    view = memoryview(data)
    while view:
        written = handle.write(view)  # an unbuffered file may take part of it
        if not written:  # None or 0: it would spin here forever
            raise OSError(errno.EIO, "the journal file took none of the bytes written")
        view = view[written:]
    handle.flush()
    os.fsync(handle.fileno())


class GroupCommit:
    """Queues lines from the event loop; one writer thread writes and fsyncs them in batches."""

    def __init__(self, handle: BinaryIO, on_failure: Callable[[OSError], None] | None = None) -> None:
        self._handle = handle
        self._queue: queue.SimpleQueue[tuple[bytes, OnSynced | None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closing = False
        self.on_failure = on_failure
        self.failure: OSError | None = None
        self.batches = 0  # fsyncs done (for the benchmark: lines / batches is the batch size)
        self.lines = 0

    def put(self, line: bytes, on_synced: OnSynced | None = None) -> bool:
        """Queue a line; False if it never will be written (the writer failed or is closed)."""
        if self.failure is not None or self._closing:
            return False
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._stopped = self._loop.create_future()
            self._thread = threading.Thread(target=self._write_batches, name="bulkcc-journal", daemon=True)
            self._thread.start()
        self._queue.put((line, on_synced))
        return True

    def _write_batches(self) -> None:
        """The writer thread: everything queued since the last fsync is the next batch."""
        assert self._loop is not None
        closing = False
        while not closing:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = None in batch
            lines = [item for item in batch if item is not None]
            if lines:
                try:
                    write_synced(self._handle, b"".join(line for line, _ in lines))
                except (OSError, ValueError) as exc:  # ValueError: the file was closed under it
                    self._tell(self._failed, exc if isinstance(exc, OSError) else OSError(str(exc)))
                    break
                self._tell(self._synced, [done for _, done in lines])
        self._tell(self._end)

    def _tell(self, callback: Callable[..., None], *args: object) -> None:
        """Run `callback` on the loop; a loop already closed (its run was abandoned) has no one to tell."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass

    def _synced(self, callbacks: list[OnSynced | None]) -> None:
        self.batches += 1
        self.lines += len(callbacks)
        for on_synced in callbacks:
            if on_synced is not None:
                on_synced()

    def _failed(self, exc: OSError) -> None:
        self.failure = exc
        if self.on_failure is not None:
            self.on_failure(exc)

    def _end(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def aclose(self) -> None:
        """Write what is queued and stop; queued lines are on disk when this returns (unless `failure`)."""
        if self._closing:
            return
        self._closing = True
        if self._thread is None or self._stopped is None:
            return
        self._queue.put(None)
        # Shielded: a cancelled caller must not leave the writer without its end; it ends on its own.
        await asyncio.shield(self._stopped)
