"""Scan events written in groups: one transaction per few milliseconds instead of one per scan.

Every HTTP verify used to insert its scan-event row and commit before answering.  Under load
the commits, not the verification, set the pace.  :class:`ScanWriter` takes events into a
bounded in-memory queue and a background thread writes them with one ``add_scans`` call (one
SQLite transaction, one Elasticsearch bulk request) whenever ``max_events`` are waiting or
``interval`` seconds have passed since the first of them arrived.

What can be lost, as the README says: nothing on a clean shutdown (``close()`` — called at
SIGTERM by ``healthcode serve``, at worker exit under gunicorn, and at interpreter exit —
writes everything queued).  A ``kill -9`` or a power cut loses what was answered but not yet
committed: the queue (fewer than ``max_queue`` events, else the caller writes before it
answers) and the group being written (at most ``max_queue`` plus the requests in flight), so
at most :data:`LOSS_BOUND` events a process — in practice the last few milliseconds.  A full
queue makes the caller write the batch itself (back-pressure, nothing dropped).  A failed
write is logged and retried with the next group — after a partial bulk failure only the events
that were not stored (``ScanBulkError.failed``), so those stored are not written twice — and a
store outage does not lose events either until ``max_queue`` is reached; past that the oldest are
dropped and counted (``dropped``), so memory stays bounded.  A write whose answer was lost (a
timeout) is sent again whole: at least once, so such an event may be stored twice.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import Iterable

from store.contract import ScanEvent, Store

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.005
MAX_EVENTS = 128
MAX_QUEUE = 256
CLOSE_ATTEMPTS = 3
LOSS_BOUND = 2 * MAX_QUEUE           # answered but uncommitted, per process (see above)


class ScanWriter:
    def __init__(self, store: Store, interval: float = INTERVAL_SECONDS, max_events: int = MAX_EVENTS,
                 max_queue: int = MAX_QUEUE) -> None:
        self.store, self.interval, self.max_events, self.max_queue = store, interval, max_events, max_queue
        self._pending: list[ScanEvent] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()          # one add_scans at a time, in queue order
        self._closed = False
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="scan-writer", daemon=True)
        self._thread.start()
        _open_writers.add(self)

    def add_scan(self, event: ScanEvent) -> None:
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                self._pending.append(event)
                if len(self._pending) == 1 or len(self._pending) >= self.max_events:
                    self._cond.notify()
                full = len(self._pending) >= self.max_queue
        if closed:
            self.store.add_scans([event])           # after close: write through
        elif full:
            self.flush()                            # back-pressure: the caller writes the group

    def add_scans(self, events: Iterable[ScanEvent]) -> None:
        """A group of events (a batch's block) queued at once, as ``add_scan`` each: a group
        that fills the queue is written by the caller before it answers, so ``LOSS_BOUND``
        holds for groups too."""
        events = list(events)
        if not events:
            return
        with self._cond:
            closed = self._closed
            if not closed:
                self._pending.extend(events)
                self._cond.notify()
                full = len(self._pending) >= self.max_queue
        if closed:
            self.store.add_scans(events)
        elif full:
            self.flush()

    def flush(self) -> None:
        """Write everything queued so far (readers in this process call it before reading)."""
        with self._write_lock:
            with self._cond:
                batch, self._pending = self._pending, []
            self._write(batch)

    def _write(self, batch: list) -> None:
        if not batch:
            return
        try:
            self.store.add_scans(batch)
            self.written += len(batch)
        except Exception as exc:                     # noqa: BLE001 — keep them for the next round
            failed = getattr(exc, "failed", None)    # a partial bulk failure names what was not stored
            if failed is not None:
                self.written += len(batch) - len(failed)
                batch = [event for event, _ in failed]
            log.error("writing %d scan events failed (%s); will retry", len(batch), exc)
            with self._cond:
                self._pending[:0] = batch
                excess = len(self._pending) - self.max_queue
                if excess > 0:
                    del self._pending[:excess]
                    self.dropped += excess
            time.sleep(self.interval)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                first_wait_ends = time.monotonic() + self.interval
                while len(self._pending) < self.max_events and not self._closed:
                    remaining = first_wait_ends - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            self.flush()

    def close(self) -> None:
        """Stop the thread and write what is queued; later events are written through."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
        for _ in range(CLOSE_ATTEMPTS):             # a failed write put its group back: retry
            self.flush()
            with self._cond:
                if not self._pending:
                    break
        _open_writers.discard(self)


_open_writers: "weakref.WeakSet[ScanWriter]" = weakref.WeakSet()


@atexit.register
def close_all() -> None:
    """Interpreter exit (and gunicorn's worker_exit hook): nothing queued is left behind."""
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception:                            # noqa: BLE001 — try the others
            log.exception("flushing scan events at exit failed")
