"""``verify-batch``: JSON Lines in, one verdict per line out, large blocks on every core."""
from __future__ import annotations

import io
import json
import os
import sys

import click

import standard
from adapters.verifier import ImageVerdicts, Verdict
from gateway.anchors import parse_anchor
from gateway.cli.common import service
from config.settings import MAX_REQUEST_BYTES
from standard.errors import BadRequest, CodeTooLarge, HealthCodeError

MAX_LINE_BYTES = MAX_REQUEST_BYTES      # a line is one request: no larger than an HTTP body may be


class LineTooLong(str):
    """Stands, in a block, for a line longer than :data:`MAX_LINE_BYTES`: never held in memory,
    answered ``payload_too_large`` (its ``id`` unread, so null)."""


def batch_job(svc, line: str):
    """One JSON Lines request → ({"id": id}, ``batch.Job``) for a code's text, or ({"id": id}, its
    verdict) for an image (every code in it, verified here) or a bad line."""
    from gateway.batch import Job
    item_id, item = None, None
    try:
        if isinstance(line, LineTooLong):
            raise CodeTooLarge(f"line longer than {MAX_LINE_BYTES:,} bytes")
        from toolkit import jsonin
        item = jsonin.loads(line)          # depth-capped, Unicode only: one bad line, one verdict
        if not isinstance(item, dict):
            raise BadRequest("line must be a JSON object")
        item_id = item.get("id")
        now = standard.parse_rfc3339(item["at"]) if item.get("at") else None
        trust = item.get("trust") or []
        if not isinstance(trust, list):
            raise BadRequest("trust must be a list")
        anchors = tuple(parse_anchor(a) for a in trust)
        if "image_b64" in item:
            from gateway.common import decode_image_b64
            return {"id": item_id}, svc.verification.verify_image_codes(
                decode_image_b64(item["image_b64"]), now=now, anchors=list(anchors), device="cli-batch")
        if "payload" not in item:
            raise BadRequest("give payload or image_b64")
        return {"id": item_id}, Job(text=item["payload"], now=now, anchors=anchors)
    except HealthCodeError as exc:
        verdict = Verdict.failed(exc)
        if isinstance(item, dict) and "image_b64" in item:
            verdict = ImageVerdicts([verdict], 0)
        return {"id": item_id}, verdict


def _dump_line(answer: dict) -> str:
    return json.dumps(answer, ensure_ascii=False) + "\n"


def batch_text(svc, lines: list[str]) -> str:
    """JSON Lines requests → the answer lines, in order (the verification service's batch flow,
    the same as ``POST /v1/verify/batch``'s)."""
    answers = svc.verification.answer_batch("lines", lines, lambda line: batch_job(svc, line), _dump_line,
                                            device="cli-batch")
    return "".join(a if isinstance(a, str) else a.decode() for a in answers)


def batch_line(svc, line: str) -> dict:
    """One JSON Lines request → one verdict dict (never raises); an image gives every code in it."""
    fields, ready = batch_job(svc, line)
    from gateway.batch import Job
    verdict = svc.verification.verify_many([ready], device="cli-batch")[0] if isinstance(ready, Job) else ready
    return {**fields, **verdict.as_dict()}


BATCH_BLOCK = 2000          # lines a block answered in-process (a stream without a file descriptor)
CHUNK_BYTES = 1 << 17      # whole lines sent to a pool process at once (~280 lines of a regional code)
IN_FLIGHT = 3              # chunks waiting a pool process: each has its next one queued
BLOCK_WAIT = 0.01          # seconds input may pause before everything answered so far is written
READ_BYTES = 1 << 16


def _answer_here(svc, raw: bytes) -> bytes:
    """Whole lines answered in this process (the one-line path, in a batch's flow)."""
    from gateway.batch import _lines_of
    return batch_text(svc, [line.decode("utf-8", "replace") for line in _lines_of(raw)]).encode()


def _finish(svc, raw: bytes | None, future) -> bytes:
    """A chunk's answer lines: the pool's, settled here (revocation, metrics, scan events); each
    line it left (an image, anchors, an online or revoked code, a line its fast reading did not
    take) answered here; the whole chunk here if its pool process died.  (``raw`` None: ``future``
    is the answer itself, a line too long to hold.)"""
    import logging
    from gateway.batch import _lines_of
    if raw is None:
        return future
    try:
        answered = future.result()
    except Exception:       # noqa: BLE001 — OOM, killed: no answer is lost, this block goes in-process
        logging.getLogger(__name__).exception("batch pool failed; answering a block in-process")
        svc.verification.pool_failed()
        return _answer_here(svc, raw)
    parts = svc.verification.settle(answered)
    if answered.holes:
        lines = _lines_of(raw)
        texts = [lines[i].decode("utf-8", "replace") for i in answered.holes]
        filled = svc.verification.answer_rest(texts, [None] * len(texts), lambda line: batch_job(svc, line),
                                              _dump_line, device="cli-batch")
        for i, answer in zip(answered.holes, filled):
            parts[i] = answer.encode()
    return b"".join(parts)


def _answer_stream(svc, fd: int, write, flush, size: int = CHUNK_BYTES, wait: float = BLOCK_WAIT) -> None:
    """JSON Lines from ``fd`` → answer lines to ``write``, in input order.  The input is read as
    bytes and cut at line ends into chunks of about ``size``; each goes whole to a pool process
    (``gateway.batch._answer_raw_lines``), which parses, verifies and writes its answer lines, so
    this process only moves bytes and settles each chunk.  Up to ``IN_FLIGHT`` chunks a pool
    process are out at once, so memory stays a few chunks however long the input; a line longer
    than :data:`MAX_LINE_BYTES` is answered ``payload_too_large`` in its place (its ``id`` unread,
    so null) and the rest of it skipped unread — each byte read is copied once.  When input
    pauses for ``wait`` everything so far is answered and flushed, so a scanner sending one line
    at a time gets each answer at once (a small block with nothing in flight is answered here:
    shipping it costs more than it saves)."""
    import select
    from collections import deque
    from gateway.batch import PARALLEL_MIN_ITEMS
    inflight: deque = deque()
    limit = IN_FLIGHT * max(2, svc.verification.pool_processes())

    def drain(keep: int) -> None:
        while len(inflight) > keep:
            raw, future = inflight.popleft()
            write(_finish(svc, raw, future))

    def send(raw: bytes) -> None:
        future = None
        if inflight or raw.count(b"\n") >= PARALLEL_MIN_ITEMS:
            future = svc.verification.submit_raw_lines(raw, device="cli-batch")
        if future is None:
            drain(0)
            write(_answer_here(svc, raw))
            return
        inflight.append((raw, future))
        drain(limit)

    def too_long() -> None:
        inflight.append((None, batch_text(svc, [LineTooLong()]).encode()))

    buf, ends, skipping = bytearray(), 0, False       # buf[:ends]: whole lines not yet sent
    while True:
        if (inflight or ends) and not select.select([fd], [], [], wait)[0]:
            if ends:
                send(bytes(buf[:ends]))
                del buf[:ends]
                ends = 0
            drain(0)
            flush()
            continue
        data = os.read(fd, READ_BYTES)
        if not data:
            break
        first = data.find(b"\n")
        if skipping:                       # the rest of a line too long to hold
            if first < 0:
                continue
            data, skipping = data[first + 1:], False
            first = data.find(b"\n")
        # a read is shorter than MAX_LINE_BYTES, so only the line it continues can be too long
        if len(buf) - ends + (len(data) if first < 0 else first) > MAX_LINE_BYTES:
            if ends:
                send(bytes(buf[:ends]))
            buf.clear()
            ends = 0
            too_long()
            if first < 0:
                skipping = True
                continue
            data = data[first + 1:]
        start = len(buf)
        buf += data
        last = buf.rfind(b"\n", start)
        if last >= 0:
            ends = last + 1
        if ends >= size:
            send(bytes(buf[:ends]))
            del buf[:ends]
            ends = 0
    if buf and not skipping:
        send(bytes(buf))
    drain(0)
    flush()


def _text_blocks(stream, size: int = BATCH_BLOCK):
    """Non-empty lines of a stream without a file descriptor (a StringIO), in blocks."""
    lines = [line if len(line.encode("utf-8", "replace")) <= MAX_LINE_BYTES else LineTooLong()
             for line in stream if line.strip()]
    for i in range(0, len(lines), size):
        yield lines[i:i + size]


@click.command("verify-batch")
def verify_batch():
    """JSON Lines on stdin → one verdict per line on stdout (large inputs use every core)."""
    svc = service()
    svc.verification.warm_pool(fork=True)    # before any other thread: the pool is forked from here
    svc.verification.group_scan_writes()     # svc.close() below writes what is still queued
    try:
        try:
            fd = sys.stdin.fileno()
            out = sys.stdout.buffer
        except (io.UnsupportedOperation, AttributeError, ValueError):      # a StringIO (embedding)
            for block in _text_blocks(sys.stdin):
                sys.stdout.write(batch_text(svc, block))
            sys.stdout.flush()
            return
        sys.stdout.flush()
        _answer_stream(svc, fd, out.write, out.flush)
    finally:
        svc.close()
