"""Large batches verified on every core, answers in input order.

Verification is CPU-bound Python, so threads share one core; a batch of hundreds of codes (a
care home's list, a checkpoint's offline backlog, ``healthcode verify-batch``) is spread over a
pool of processes instead.  The split keeps the state where it lives:

* a pool process does only the pure part — ``Verifier.verify`` / ``verify_image`` against the
  trust list, which it receives as the signed JWS and checks itself against the national keys
  (once per trust-list ``seq``), so a worker never trusts an unsigned copy;
* the calling process then applies the online revocation check (its in-memory revocation set,
  as for a single verify) and records the scan events in input order.

For ``verify-batch`` the pool does the per-line work too (:func:`_answer_raw_lines`): the
caller sends a chunk of raw JSON Lines bytes, cut at a line end; the pool process splits,
parses and verifies them and writes each answer line as UTF-8 bytes, and hands back an
:class:`Answered` — the parts, the code id of each valid answer, a count by outcome and the scan
events as tuples.  The caller, which shares the two cores, settles it with a handful of steps a
chunk (``VerificationService.settle``): one intersection with the in-memory revocation set,
the metrics, one group of scan events, and one join of the answer bytes.
``/v1/verify/batch`` items go the same way as parsed items (:func:`_answer_items`).  Anything
unusual in a line — an image, extra trust anchors, an online or unrecognised code, a line the
fast reading does not take, a revoked code — is a hole the caller's ordinary one-line path
answers, so every check and error stays where it was.

Small batches (fewer than ``PARALLEL_MIN_ITEMS``) stay in-process: shipping a handful of codes
to the pool costs more than it saves.  The pool is started once per process and sized to the
machine's cores: a serving process starts it (``forkserver``, so a threaded server process is
never forked mid-request) in the background as it starts, ``verify-batch`` (``fork``, before
its scan-writer thread exists) before it reads a line, so no batch waits for it.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import orjson

from adapters.online import may_be_online
from standard import parse_rfc3339
from standard.errors import HealthCodeError, undecodable_codes
from gateway.answer_json import ANSWER_LINE, dump_answer
from toolkit import jsonin

PARALLEL_MIN_ITEMS = 64
MIN_CHUNK = 16          # ~1.5 ms of verifying: smaller chunks cost more to send than they even out
UNDECODABLE = frozenset(undecodable_codes())


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
    # everything imported or inherited so far lives as long as the process: the collector need
    # never walk it again (a full collection over a forked copy of the caller's heap also
    # copied every page it touched)
    gc.freeze()


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


def _lines_of(raw: bytes) -> list[bytes]:
    """A block's lines as ``verify-batch`` answers them: split at ``\\n``, a line that is blank
    once decoded (``str.strip``: Unicode spaces too) left out — the same lines, in the same order,
    in the pool and in the caller."""
    return [line for line in raw.split(b"\n")
            if line.lstrip(b" \t\r")[:1] == b"{" or line.decode("utf-8", "replace").strip()]


class Answered:
    """What a pool process hands back for a chunk: ``parts`` (one per entry: its finished answer —
    UTF-8 bytes of a JSON line for ``verify-batch``, of an item's compact JSON for
    ``/v1/verify/batch`` — or, at each index in ``holes``, None: the caller answers that entry
    itself), ``code_ids`` (the code id of each valid answer, else None: the caller's online
    revocation check), ``tally`` (``(format, outcome)`` → count: the metrics) and ``events``
    (the scan events to store, in entry order, each the tuple of ``store.ScanEvent``'s fields:
    a tuple pickles in a tenth of a dataclass's time).  Plain lists and a dict: a few bytes a line to
    pickle, and nothing a line for the caller to do but join."""

    __slots__ = ("parts", "holes", "code_ids", "tally", "events")

    def __init__(self) -> None:
        self.parts: list = []
        self.holes: list[int] = []
        self.code_ids: list = []
        self.tally: dict = {}
        self.events: list = []

    def __getstate__(self):
        return self.parts, self.holes, self.code_ids, self.tally, self.events

    def __setstate__(self, state) -> None:
        self.parts, self.holes, self.code_ids, self.tally, self.events = state

    def hole(self) -> None:
        self.holes.append(len(self.parts))
        self.parts.append(None)
        self.code_ids.append(None)

    def add(self, part, verdict, at: int, place, device) -> None:
        """One answered entry: its text, and the verdict's count and scan event (as
        ``VerificationService._recorded`` counts and stores one)."""
        self.parts.append(part)
        valid = verdict.valid
        error = None if valid else verdict.errors[0]["code"]
        self.code_ids.append(verdict.code_id if valid else None)
        key = (verdict.format, verdict.status if valid else error)
        self.tally[key] = self.tally.get(key, 0) + 1
        if valid or error not in UNDECODABLE:
            self.events.append((at, valid, verdict.format, verdict.region, verdict.status, verdict.code_id,
                                error, place, device))


def _line_item(line: bytes) -> dict | None:
    """A JSON line's object as ``toolkit.jsonin.loads`` of its text reads it, or None where the
    caller's path must read it: anything orjson refuses or might read otherwise than ``json``
    (invalid UTF-8, a lone surrogate, NaN, a BOM, ...: refused; an integer past 64 bits: a
    float, so an object with a float member goes to the caller too), anything not a flat
    object (a nested member: ``jsonin``'s depth and Unicode walk, on the caller's path), and
    anything ``jsonin`` refuses before parsing."""
    try:
        if len(line) > jsonin.MAX_VALUES:            # shorter lines cannot hold that many values
            jsonin.precheck(line)
        item = orjson.loads(line)
    except Exception:            # noqa: BLE001 — the caller's path says why
        return None
    if type(item) is not dict:
        return None
    for value in item.values():
        if type(value) in _NOT_FLAT:
            return None
    return item


_NOT_FLAT = (dict, list, float)


def _answer_raw_lines(token: str, national_keys: dict, now: int, raw: bytes, place=None, device=None) -> Answered:
    """``verify-batch``: a block of raw JSON Lines (:func:`_lines_of`) → :class:`Answered`, each
    answer line UTF-8 bytes exactly as the caller's one-line path writes it
    (``json.dumps(..., ensure_ascii=False)`` and a newline).  A hole for anything unusual: an
    image, extra trust anchors, an online or unrecognised code, a line this fast reading does not
    take — the caller's path answers it."""
    out = Answered()
    _answer_each(_lines_of(raw), token, national_keys, now, place, device, out)
    return out


def _answer_lines(token: str, national_keys: dict, now: int, lines: list[str], place=None, device=None) -> Answered:
    """:func:`_answer_raw_lines` for lines already split and decoded (a hole for a line that is
    not UTF-8 once encoded)."""
    out = Answered()
    encoded = []
    for line in lines:
        try:
            encoded.append(line.encode())
        except UnicodeEncodeError:
            encoded.append(b"\xff")            # not JSON: a hole, the caller's path says why
    _answer_each(encoded, token, national_keys, now, place, device, out)
    return out


def _answer_each(lines: list[bytes], token: str, national_keys: dict, now: int, place, device, out: Answered) -> None:
    verifier, trust = _worker["verifier"], _trust(token, national_keys, now)
    encode, add = ANSWER_LINE, out.add
    for line in lines:
        item = _line_item(line)
        text = item.get("payload") if item is not None else None
        if (not isinstance(text, str) or "image_b64" in item or item.get("trust")
                or may_be_online(text)):      # online: asked of its region, in the parent
            out.hole()
            continue
        try:
            at = parse_rfc3339(item["at"]) if item.get("at") else now
        except Exception:            # noqa: BLE001 — a bad time: the caller's path says why
            out.hole()
            continue
        verdict = verifier.verify(text, trust, at)
        if verdict.format is None:           # not a format this pool knows: the caller decides
            out.hole()
            continue
        answer = verdict.as_dict()
        add(("".join(encode({"id": item.get("id"), **answer}, 0)) + "\n").encode(), verdict, now, place, device)


def _answer_items(token: str, national_keys: dict, now: int, items: list, place=None, device=None) -> Answered:
    """``POST /v1/verify/batch`` items → :class:`Answered`, each answer the compact JSON the app's
    provider writes (not ASCII-escaped, keys in order); a hole for an image, an item not valid
    against ``VerifyRequest``, an online or unrecognised code."""
    import standard
    validator = _worker.get("item_validator")
    if validator is None:
        validator = _worker["item_validator"] = standard.openapi_validator("VerifyRequest")
        _worker["plain_items_valid"] = plain_items_valid()
    plain_valid = _worker["plain_items_valid"]
    verifier, trust = _worker["verifier"], _trust(token, national_keys, now)
    out = Answered()
    for item in items:
        text = item.get("payload") if type(item) is dict else None
        if type(text) is not str or may_be_online(text):
            out.hole()
            continue
        # {"payload": text} and {"id": any, "payload": text} need no schema check (see plain_items_valid)
        if not (plain_valid and (len(item) == 1 or (len(item) == 2 and "id" in item))) \
                and ("image_b64" in item or not (standard.openapi_accepts("VerifyRequest", item)
                                                 or validator.is_valid(item))):
            out.hole()
            continue
        verdict = verifier.verify(text, trust, now)
        if verdict.format is None:
            out.hole()
            continue
        answer = dump_answer(verdict.as_dict())
        if "id" in item:         # {"id": id, **answer}, written as the provider writes it
            answer = b'{"id":' + dump_answer(item["id"]) + b"," + answer[1:]
        out.add(answer, verdict, now, place, device)
    return out


def plain_items_valid() -> bool:
    """True when ``VerifyRequest`` (standard/openapi.json) takes every ``{"payload": text}`` and
    ``{"id": anything, "payload": text}`` — its ``payload`` only a string, ``id`` none of its
    members, nothing else required, no other keyword on the object — so a batch item of that
    shape needs no schema check.  Read from the schema: if the standard ever constrains either,
    every item is checked again."""
    import standard
    schema = standard.load_schema("openapi.json")["components"]["schemas"]["VerifyRequest"]
    members = schema.get("properties", {})
    payload = members.get("payload", {})
    return (schema.get("type") == "object" and set(schema) <= {"type", "properties", "required", "description"}
            and set(schema.get("required", [])) <= {"payload"} and "id" not in members
            and payload.get("type") == "string" and set(payload) <= {"type", "description"})


# --- in the calling process ---------------------------------------------------------------------
def chunk_bounds(count: int, processes: int) -> list[tuple[int, int]]:
    """``count`` entries cut into ``(start, end)`` chunks for ``processes`` processes, in order,
    largest first: a round of one chunk a process of ``count / (2 * processes)`` entries, each
    round's chunks half the last's, down to :data:`MIN_CHUNK` — few chunks to send and settle,
    and small last ones, so the processes finish within about a small chunk of each other
    (equal chunks left one idle for up to a whole chunk)."""
    bounds, start, size, made = [], 0, max(MIN_CHUNK, -(-count // (2 * processes))), 0
    while start < count:
        end = min(count, start + size)
        bounds.append((start, end))
        start, made = end, made + 1
        if made % processes == 0:
            size = max(MIN_CHUNK, size // 2)
    return bounds


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

    def answer_chunks(self, kind: str, entries: list, token: str, national_keys: dict, now: int,
                      place=None, device=None):
        """:func:`_answer_lines` (``kind`` "lines") or :func:`_answer_items` ("items") over the
        pool: each chunk's :class:`Answered`, chunk after chunk in input order, as each comes back."""
        fn = _answer_lines if kind == "lines" else _answer_items
        for future in self._submit(fn, entries, token, national_keys, now, place, device):
            yield future.result()

    def submit_raw_lines(self, raw: bytes, token: str, national_keys: dict, now: int, place=None, device=None):
        """A future of :func:`_answer_raw_lines` over ``raw`` (whole lines) in a pool process."""
        return self.executor().submit(_answer_raw_lines, token, national_keys, now, raw, place, device)

    def _submit(self, fn, items: list, token: str, national_keys: dict, now: int, *extra) -> list:
        executor = self.executor()
        return [executor.submit(fn, token, national_keys, now, items[start:end], *extra)
                for start, end in chunk_bounds(len(items), self.processes)]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                try:
                    self._executor.shutdown(wait=True, cancel_futures=True)
                except Exception:        # noqa: BLE001 — a broken pool is gone either way
                    pass
                self._executor = None
