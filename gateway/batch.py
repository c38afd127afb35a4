"""Large batches verified on every core, answers in input order.

Verification is CPU-bound Python, so threads share one core; a batch of hundreds of codes (a
care home's list, a checkpoint's offline backlog, ``healthcode verify-batch``) is spread over a
pool of processes instead.  The split keeps the state where it lives:

* a pool process does only the pure part — ``Verifier.verify`` / ``verify_image`` against the
  trust list, which it receives as the signed JWS and checks itself against the national keys
  (once per trust-list ``seq``), so a worker never trusts an unsigned copy;
* the calling process then applies the online revocation check (its in-memory revocation set,
  as for a single verify) and records the scan events in input order.

For ``verify-batch`` the pool does the per-line work too (:func:`_answer_lines`): each process
parses its JSON lines and writes each answer line itself, and hands back only that text and the
few fields a scan event and the revocation check need.  The parent, which shares the two cores,
then does one pass over the block (:func:`settle`): the in-memory revocation set, the metrics,
one group of scan events, and the lines in input order.  Anything unusual in a line — an image,
extra trust anchors, an online or unrecognised code, a bad line, a revoked code — goes back to
the caller's ordinary one-line path, so every check and error stays where it was.

Small batches (fewer than ``PARALLEL_MIN_ITEMS``) stay in-process: shipping a handful of codes
to the pool costs more than it saves.  The pool is started once per process and sized to the
machine's cores: a serving process starts it (``forkserver``, so a threaded server process is
never forked mid-request) in the background as it starts, ``verify-batch`` (``fork``, before
its scan-writer thread exists) before it reads a line, so no batch waits for it.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from adapters.online import may_be_online
from standard.errors import HealthCodeError

PARALLEL_MIN_ITEMS = 64
CHUNKS_PER_PROCESS = 4
PRELOAD = ["adapters.verifier", "adapters.eu_dcc", "adapters.shc", "standard.trustlist"]


@dataclass(frozen=True)
class Job:
    """One code to verify: its text or image, the time to judge it at, extra trust anchors."""
    text: str | None = None
    image: bytes | None = None
    now: int | None = None
    anchors: tuple = ()


# --- in the pool process ------------------------------------------------------------------------
_worker: dict = {}


def _init(formats, options, revocation_dir=None, owner: tuple | None = None) -> None:
    from adapters.verifier import Verifier
    _worker["verifier"] = Verifier(formats, options=options)   # no store: revocation is the caller's
    _worker["trust"] = (None, None)
    _worker["revocation_dir"] = revocation_dir
    _worker["revocations"] = None
    if owner is not None:
        threading.Thread(target=_leave_with, args=(owner,), name="pool-owner-watch", daemon=True).start()


OWNER_CHECK_SECONDS = 1.0


def process_identity(pid: int) -> tuple[int, str | None]:
    """``(pid, start time)``: the start time (from /proc, where there is one) tells a process from a
    later one that reused its pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return pid, fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return pid, None


def _alive(owner: tuple[int, str | None]) -> bool:
    pid, started = owner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return started is None or process_identity(pid)[1] == started


def _leave_with(owner: tuple[int, str | None]) -> None:
    """A pool process ends within about a second of the process that started the pool (a gateway
    worker SIGKILLed, a killed ``verify-batch``): nothing else would end it, since it holds both
    ends of its own task queue — and while it lives, so does the forkserver it came from."""
    while _alive(owner):
        time.sleep(OWNER_CHECK_SECONDS)
    os._exit(0)


def _trust(token: str, national_keys: dict, now: int):
    """The signed list, checked here; the revocation file it names is read from the gateway's
    content-addressed copy and accepted only if its SHA-256 matches (read once per file).  A
    file that cannot be read leaves the list without one: foreign codes are then refused
    (``revocations_missing``), never verified unchecked."""
    from standard import revocation_file, trustlist
    seq_token, trust = _worker["trust"]
    if seq_token != token:
        trust = trustlist.parse(token, national_keys, now)
        ref, held = revocation_file.named(trust.payload), _worker.get("revocations")
        if ref is not None and (held is None or held.sha256 != ref["sha256"]) and _worker.get("revocation_dir"):
            try:
                path = os.path.join(_worker["revocation_dir"], os.path.basename(ref["sha256"]) + ".json")
                with open(path, "rb") as fh:
                    held = _worker["revocations"] = revocation_file.check(trust.payload, fh.read())
            except (OSError, HealthCodeError):
                held = None
        revocation_file.attach(trust, held if ref is not None and held is not None
                               and held.sha256 == ref["sha256"] else None)
        _worker["trust"] = (token, trust)
    return trust


def _verify_chunk(token: str, national_keys: dict, now: int, jobs: list[Job]) -> list:
    verifier, base = _worker["verifier"], _trust(token, national_keys, now)
    out = []
    for job in jobs:
        trust = base.with_anchors(job.anchors) if job.anchors else base
        at = job.now if job.now is not None else now
        verdict = (verifier.verify_image(job.image, trust, at) if job.image is not None
                   else verifier.verify(job.text, trust, at))
        # the claims travel back only as the code id the caller's revocation check needs: the
        # claims dict was half of what was pickled back, and batch answers never show it
        out.append(replace(verdict, claims=None) if verdict.claims is not None else verdict)
    return out


def _answer_lines(token: str, national_keys: dict, now: int, lines: list[str]) -> list:
    """JSON Lines → for each line ``(answer line, scan fields)``, or None where the caller must
    answer it itself; scan fields are ``(valid, format, region, status, code_id, error)``."""
    from toolkit import jsonin
    from standard import parse_rfc3339
    verifier, trust = _worker["verifier"], _trust(token, national_keys, now)
    out = []
    for line in lines:
        try:
            item = jsonin.loads(line)
            text = item.get("payload") if isinstance(item, dict) else None
            if (not isinstance(text, str) or "image_b64" in item or item.get("trust")
                    or may_be_online(text)):      # online: asked of its region, in the parent
                out.append(None)
                continue
            at = parse_rfc3339(item["at"]) if item.get("at") else now
        except Exception:            # noqa: BLE001 — a bad line: the caller's path says why
            out.append(None)
            continue
        verdict = verifier.verify(text, trust, at)
        if verdict.format is None:           # not a format this pool knows: the caller decides
            out.append(None)
            continue
        error = verdict.errors[0]["code"] if verdict.errors else None
        out.append((json.dumps({"id": item.get("id"), **verdict.as_dict()}, ensure_ascii=False) + "\n",
                    (verdict.valid, verdict.format, verdict.region, verdict.status, verdict.code_id, error)))
    return out


def _answer_items(token: str, national_keys: dict, now: int, items: list) -> list:
    """``POST /v1/verify/batch`` items → for each ``(answer JSON, scan fields)`` as the app's JSON
    provider writes it (compact, not ASCII-escaped, keys in order), or None where the caller
    must answer it itself (an image, an item not valid against ``VerifyRequest``, an online or
    unrecognised code)."""
    import standard
    validator = _worker.get("item_validator")
    if validator is None:
        validator = _worker["item_validator"] = standard.openapi_validator("VerifyRequest")
    verifier, trust = _worker["verifier"], _trust(token, national_keys, now)
    out = []
    for item in items:
        text = item.get("payload") if isinstance(item, dict) else None
        if (not isinstance(text, str) or "image_b64" in item or may_be_online(text)
                or not (standard.openapi_accepts("VerifyRequest", item) or validator.is_valid(item))):
            out.append(None)
            continue
        verdict = verifier.verify(text, trust, now)
        if verdict.format is None:
            out.append(None)
            continue
        answer = verdict.as_dict()
        if "id" in item:
            answer = {"id": item["id"], **answer}
        error = verdict.errors[0]["code"] if verdict.errors else None
        out.append((dump_answer(answer),
                    (verdict.valid, verdict.format, verdict.region, verdict.status, verdict.code_id, error)))
    return out


def dump_answer(answer: dict) -> str:
    """A batch item's answer as the app's JSON provider writes a response (compact, UTF-8)."""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


def settle(answers: list, is_revoked, record) -> list:
    """The parent's one pass over a block answered by :func:`_answer_lines`: a valid code whose
    id is in the online revocation set (as ``Verifier.recheck_revocation`` checks it) becomes
    None, for the caller's one-line path to refuse and record; every other answer is counted and
    its scan fields go to ``record`` as one group.  Returns the answer lines (or None)."""
    lines, scans = [], []
    for answer in answers:
        if answer is None or (answer[1][0] and is_revoked is not None and is_revoked({"jti": answer[1][4]})):
            lines.append(None)
            continue
        lines.append(answer[0])
        scans.append(answer[1])
    record(scans)
    return lines


# --- in the calling process ---------------------------------------------------------------------
class VerifyPool:
    """``start_method``: ``forkserver`` (the default: a threaded server process is never forked
    mid-request) or ``fork`` (a process that has no other thread yet, e.g. ``verify-batch`` at
    its start: the processes start as copies of it, its imports done, in milliseconds)."""

    def __init__(self, formats, options, processes: int | None = None, revocation_dir=None,
                 start_method: str = "forkserver"):
        self.formats, self.options = tuple(formats), dict(options or {})
        self.revocation_dir = str(revocation_dir) if revocation_dir else None
        self.processes = processes or os.cpu_count() or 1
        self.start_method = start_method
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context(self.start_method)
                if self.start_method == "forkserver":
                    context.set_forkserver_preload(PRELOAD)
                self._executor = ProcessPoolExecutor(self.processes, mp_context=context, initializer=_init,
                                                     initargs=(self.formats, self.options, self.revocation_dir,
                                                               process_identity(os.getpid())))
            return self._executor

    def warm(self, token: str, national_keys: dict, now: int) -> list:
        """Start every process and have each read the trust list now, not on the first batch:
        one empty chunk a process (returns their futures; nothing waits for them)."""
        executor = self.executor()
        return [executor.submit(_verify_chunk, token, national_keys, now, []) for _ in range(self.processes)]

    def verify(self, jobs: list[Job], token: str, national_keys: dict, now: int) -> list:
        """Verdicts for ``jobs`` in their order (no revocation check, nothing recorded)."""
        return [verdict for future in self._submit(_verify_chunk, jobs, token, national_keys, now)
                for verdict in future.result()]

    def answer_chunks(self, kind: str, entries: list, token: str, national_keys: dict, now: int):
        """:func:`_answer_lines` (``kind`` "lines") or :func:`_answer_items` ("items") over the
        pool: each chunk's answers, chunk after chunk in input order, as each comes back."""
        for future in self._submit(_answer_lines if kind == "lines" else _answer_items, entries, token,
                                   national_keys, now):
            yield future.result()

    def _submit(self, fn, items: list, token: str, national_keys: dict, now: int) -> list:
        size = max(1, -(-len(items) // (self.processes * CHUNKS_PER_PROCESS)))
        executor = self.executor()
        return [executor.submit(fn, token, national_keys, now, items[i:i + size]) for i in range(0, len(items), size)]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                try:
                    self._executor.shutdown(wait=True, cancel_futures=True)
                except Exception:        # noqa: BLE001 — a broken pool is gone either way
                    pass
                self._executor = None
