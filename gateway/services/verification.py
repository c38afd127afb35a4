"""Verification: one code, an image of codes, or a batch — every verdict counted, and each scan of
a recognised format recorded without personal data.  Large batches run on every core
(gateway/batch.py), one flow for HTTP and the CLI."""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from adapters.online import may_be_online
from adapters.verifier import ImageVerdicts, Verdict, Verifier
from config.settings import Settings
from gateway import batch, metrics
from gateway.limits import MinuteCounter, SharedTable
from gateway.services.trust import TrustService
from standard import ONLINE_FORMAT, idcard
from standard.errors import undecodable_codes
from store import ScanEvent, Store, scanqueue
from store.scanqueue import ScanWriter

log = logging.getLogger(__name__)
UNDECODABLE = undecodable_codes()

# Scan events a SIGKILL of a serving process can lose: those answered but still in its queue or
# in the group being written (store/scanqueue.py; docs/operations.md).  Commands other than
# serve and verify-batch commit each scan before answering.
SCAN_LOSS_BOUND = scanqueue.LOSS_BOUND


class VerificationService:
    def __init__(self, settings: Settings, store: Store, trust: TrustService, revocations,
                 now: Callable[[], int], local_status: Callable[[str, str], str | None],
                 counts: SharedTable | None = None):
        self.settings = settings
        self.store = store
        self.trust = trust
        self.now = now
        self.revocations = revocations
        online = {**settings.format_options.get(ONLINE_FORMAT, {}), "local": local_status}
        self.verifier = Verifier(settings.formats(),
                                 is_revoked=lambda claims: claims["jti"] in self.revocations,
                                 options={**settings.format_options, ONLINE_FORMAT: online})
        # anonymous verifications per client, every process on the data directory together
        self.verify_counter = MinuteCounter(clock=now, shared=counts, name="verify")
        self.scan_writer: ScanWriter | None = None           # group_scan_writes() turns it on
        self._pool: batch.VerifyPool | None = None           # warm_pool() or the first large batch
        self._pool_lock = threading.Lock()
        self._pool_keys: tuple[str, dict] | None = None     # _signed_list()
        self._closed = False

    def charge(self, caller: str, items: int) -> None:
        """Count ``items`` verifications against ``caller``'s anonymous limit (a credential id or
        the connection's address, never a header the client writes); RateLimited past it."""
        limits = self.settings.limits
        self.verify_counter.charge(caller, limits["anonymous_verifications_per_minute"],
                                   limits["anonymous_verifications_per_ipv6_48_per_minute"], "verifications",
                                   self.now(), items)

    # -- one code, one image ----------------------------------------------------------------------
    def verify(self, text, *, place=None, device=None, now=None, anchors=(), record=True) -> Verdict:
        verdict = self.verifier.verify(text, self.trust.with_anchors(anchors), now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def verify_image(self, data: bytes, *, place=None, device=None, now=None, anchors=(),
                     record=True) -> Verdict:
        verdict = self.verifier.verify_image(data, self.trust.with_anchors(anchors),
                                             now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def verify_image_codes(self, data: bytes, *, place=None, device=None, now=None, anchors=(),
                           record=True) -> ImageVerdicts:
        """Every code in the image, each recorded as a scan."""
        result = self.verifier.verify_image_codes(data, self.trust.with_anchors(anchors),
                                                  now if now is not None else self.now())
        for verdict in result.verdicts:
            self._recorded(verdict, place, device, record)
        return result

    def record(self, verdict: Verdict, place=None, device=None) -> Verdict:
        """Count and store a verdict reached outside the verifier (e.g. an image too large)."""
        return self._recorded(verdict, place, device, True)

    # -- batches ----------------------------------------------------------------------------------
    def verify_many(self, jobs, *, place=None, device=None, record=True) -> list[Verdict]:
        """``batch.Job``s → verdicts in the same order; large batches on every core, each verdict
        revocation-checked and recorded here as :meth:`verify` does."""
        jobs = list(jobs)
        # online codes ask their region (or this process) for the status: never in the pool
        pooled = [i for i, job in enumerate(jobs) if job.image is None and not self.is_online(job.text)]
        verified = self._in_pool(len(pooled), lambda pool, token, jwks, now:
                                 pool.verify([jobs[i] for i in pooled], token, jwks, now))
        if verified is None:
            return [self._verify_job(job, place, device, record) for job in jobs]
        results = dict(zip(pooled, verified))
        return [self._recorded(self.verifier.recheck_revocation(results[i]), place, device, record)
                if i in results else self._verify_job(job, place, device, record) for i, job in enumerate(jobs)]

    def answer_in_pool(self, kind: str, entries: list, *, place=None, device=None) -> list | None:
        """Batch entries answered in the pool (gateway/batch.py): ``"lines"`` (verify-batch JSON
        Lines, answers UTF-8 bytes) or ``"items"`` (``/v1/verify/batch`` items, answers UTF-8
        bytes of compact JSON) → ready answers, each revocation-checked, counted and recorded here
        (:meth:`settle`); None for an entry the caller must answer itself (and for the whole
        batch when it is too small for the pool)."""
        if not self._pool_worth_it(len(entries)):
            return None
        pool, parts = self._batch_pool(), []
        try:
            # each chunk settled as it comes back, while the pool works on the next ones
            for answered in pool.answer_chunks(kind, entries, *self._signed_list(), self.now(),
                                               _short(place), _short(device)):
                parts += self.settle(answered)
        except Exception:       # noqa: BLE001 — OOM, killed: the caller answers the rest here
            log.exception("batch pool failed; answering %d items in-process", len(entries) - len(parts))
            self._drop_pool(pool)
        return parts + [None] * (len(entries) - len(parts))

    def submit_raw_lines(self, raw: bytes, *, place=None, device=None):
        """A future of ``raw`` (whole JSON Lines) answered in a pool process
        (``batch._answer_raw_lines``), or None where there is no pool (one core) or it failed to
        start; :meth:`settle` its result."""
        if (os.cpu_count() or 1) < 2:
            return None
        pool = self._batch_pool()
        try:
            return pool.submit_raw_lines(raw, *self._signed_list(), self.now(), _short(place), _short(device))
        except Exception:       # noqa: BLE001 — a broken pool: this block is answered in-process
            log.exception("batch pool failed; answering a block in-process")
            self._drop_pool(pool)
            return None

    def _signed_list(self) -> tuple[str, dict]:
        """(the signed trust list, the national keys that sign it) for the pool: the keys read
        again only when the list changed (reading them costs half a millisecond; a list the
        keys checked once they check again)."""
        token = self.trust.trust_list_jws()
        held = self._pool_keys
        if held is None or held[0] != token:
            held = self._pool_keys = (token, self.trust.national_jwks())
        return held

    @staticmethod
    def pool_processes() -> int:
        """How many pool processes a batch pool has (one per core)."""
        return os.cpu_count() or 1

    def pool_failed(self) -> None:
        """A chunk's pool process died (logged by the caller): the next block starts a new pool."""
        with self._pool_lock:
            pool = self._pool
        if pool is not None:
            self._drop_pool(pool)

    def settle(self, answered: batch.Answered) -> list:
        """A chunk answered in the pool → its parts, None where the caller answers the entry itself
        (each such index in ``answered.holes``): a valid code whose id is now in the online
        revocation set becomes such a hole (the caller's one-line path refuses and records it);
        every other answer is counted and its scan event stored here, in one group.  O(1) Python
        steps a line: a set intersection, a dict of counts, one list of events."""
        parts, tally, rows = answered.parts, answered.tally, answered.events
        revoked = self.revocations.revoked_among(answered.code_ids) if rows else set()
        if revoked:
            for i, code_id in enumerate(answered.code_ids):
                if code_id in revoked:
                    parts[i] = None
                    answered.holes.append(i)
            answered.holes.sort()
            kept = []
            for row in rows:                 # (at, valid, format, region, status, code_id, ...)
                if row[1] and row[5] in revoked:
                    tally[(row[2], row[4])] -= 1
                else:
                    kept.append(row)
            rows = kept
        for (fmt, outcome), times in tally.items():
            if times:
                metrics.count_outcome(fmt, outcome, times)
        if rows:
            (self.scan_writer or self.store).add_scans(list(map(ScanEvent._make, rows)))
        return parts

    def answer_batch(self, kind: str, entries: list, prepare: Callable, dump: Callable[[dict], str | bytes], *,
                     place=None, device=None) -> list:
        """The one batch flow of ``/v1/verify/batch`` (``kind="items"``) and ``verify-batch``
        (``"lines"``): entries → answers in the same order.  A large block is answered in the
        pool processes; each entry they leave (an image, anchors, an online or revoked code, a
        bad entry) is answered by :meth:`answer_rest`."""
        answers = self.answer_in_pool(kind, entries, place=place, device=device) or [None] * len(entries)
        return self.answer_rest(entries, answers, prepare, dump, place=place, device=device)

    def answer_rest(self, entries: list, answers: list, prepare: Callable, dump: Callable[[dict], str | bytes], *,
                    place=None, device=None) -> list:
        """Fill each None in ``answers``: ``prepare(entry) → (fields, Job | verdict)``, verified
        here, its answer ``dump({**fields, **verdict})``."""
        missing = [i for i, answer in enumerate(answers) if answer is None]
        prepared = [prepare(entries[i]) for i in missing]
        verdicts = iter(self.verify_many([job for _, job in prepared if isinstance(job, batch.Job)],
                                         place=place, device=device))
        for i, (fields, ready) in zip(missing, prepared):
            answers[i] = dump({**fields, **(next(verdicts) if isinstance(ready, batch.Job) else ready).as_dict()})
        return answers

    @staticmethod
    def is_online(text) -> bool:
        """An online code: its status is asked of its region, so it is never verified in the pool."""
        return may_be_online(text)

    def _in_pool(self, count: int, call):
        """``call(pool, trust_list_jws, national_jwks, now)`` in the batch pool, or None when
        ``count`` is too few for it, there is one core, or a pool process died (logged; the
        caller then does the work in-process)."""
        if not self._pool_worth_it(count):
            return None
        token = self.trust.trust_list_jws()
        pool = self._batch_pool()
        try:
            return call(pool, token, self.trust.national_jwks(), self.now())
        except Exception:       # noqa: BLE001 — OOM, killed: the caller verifies here instead
            log.exception("batch pool failed; doing %d items in-process", count)
            self._drop_pool(pool)
            return None

    @staticmethod
    def _pool_worth_it(count: int) -> bool:
        return count >= batch.PARALLEL_MIN_ITEMS and (os.cpu_count() or 1) >= 2

    def _drop_pool(self, pool: batch.VerifyPool) -> None:
        pool.close()
        with self._pool_lock:
            if self._pool is pool:
                self._pool = None

    def _batch_pool(self, start_method: str = "forkserver") -> batch.VerifyPool:
        with self._pool_lock:
            return self._pool or self._new_pool(start_method)

    def _new_pool(self, start_method: str) -> batch.VerifyPool:
        formats = [f for f in self.settings.formats() if f != ONLINE_FORMAT]
        options = {k: v for k, v in self.settings.format_options.items() if k != ONLINE_FORMAT}
        self._pool = batch.VerifyPool(formats, options, revocation_dir=self.trust.revocation_dir,
                                      start_method=start_method)
        return self._pool

    def warm_pool(self, *, fork: bool = False) -> None:
        """Start the batch pool now (every process, the trust list read in each), so the first
        large batch does not wait for it; nothing on one core, where batches stay in-process.
        ``fork``: the calling process has no other thread yet (verify-batch at its start): the
        pool processes are forked from it at once.  Otherwise (a serving process) the pool starts
        through a forkserver in a background thread while the server starts answering."""
        if (os.cpu_count() or 1) < 2:
            return

        def start() -> None:
            try:
                with self._pool_lock:           # close() waits for it; a batch meanwhile too
                    if not self._closed:
                        (self._pool or self._new_pool("fork" if fork else "forkserver")).warm(
                            self.trust.trust_list_jws(), self.trust.national_jwks(), self.now())
            except Exception:        # noqa: BLE001 — the first batch starts it (or goes in-process)
                log.exception("batch pool could not be started ahead of the first batch")
        if fork:
            start()
        else:
            threading.Thread(target=start, name="batch-pool-warm", daemon=True).start()

    def _verify_job(self, job, place, device, record) -> Verdict:
        if job.image is not None:
            return self.verify_image(job.image, place=place, device=device, now=job.now, anchors=job.anchors,
                                     record=record)
        return self.verify(job.text, place=place, device=device, now=job.now, anchors=job.anchors, record=record)

    # -- scan recording -----------------------------------------------------------------------------
    def _recorded(self, verdict: Verdict, place, device, record: bool) -> Verdict:
        """Count every verdict; store a scan event only for a code whose format was recognised.
        Undecodable input (empty, unknown, unreadable, too large) is counted, not stored row by
        row: junk from one client must not fill the disk for 30 days."""
        metrics.count_verdict(verdict)
        if record and _worth_storing(verdict.valid, verdict.errors[0]["code"] if verdict.errors else None):
            (self.scan_writer or self.store).add_scan(scan_event(verdict, self.now(), place, device))
        return verdict

    def group_scan_writes(self, **options) -> None:
        """Scan events through a queue written in groups (store/scanqueue.py): what a serving
        process and ``verify-batch`` do (and then ``close()`` on the way out); other commands
        and in-process callers write each scan at once."""
        if self.scan_writer is None:
            self.scan_writer = ScanWriter(self.store, **options)

    def flush_scans(self) -> None:
        """Everything verified so far is in the store (call before reading scan events)."""
        if self.scan_writer is not None:
            self.scan_writer.flush()

    def close_batch_pool(self) -> None:
        """Stop the batch pool and its processes, after a warm-up still starting them (it holds
        the lock); no warm-up starts it again."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def close(self) -> None:
        self.close_batch_pool()
        if self.scan_writer is not None:
            self.scan_writer.close()


def scan_event(verdict: Verdict, at: int, place=None, device=None) -> ScanEvent:
    error = verdict.errors[0]["code"] if verdict.errors else None
    return ScanEvent(at=at, valid=verdict.valid, format=verdict.format, region=verdict.region,
                     status=verdict.status, code_id=verdict.code_id, error=error,
                     place=_short(place), device=_short(device))


def _worth_storing(valid: bool, error: str | None) -> bool:
    """A scan is stored when its format was recognised; undecodable input is only counted."""
    return valid or error not in UNDECODABLE


def _short(value) -> str | None:
    """A place or device as stored with a scan: 64 characters, any ID number in it masked."""
    return None if value is None else idcard.mask_in_text(str(value)[:64])
