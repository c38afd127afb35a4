"""``verify-batch``: JSON Lines in, one verdict per line out, large blocks on every core."""
from __future__ import annotations

import json
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
    return "".join(svc.verification.answer_batch("lines", lines, lambda line: batch_job(svc, line), _dump_line,
                                                 device="cli-batch"))


def batch_line(svc, line: str) -> dict:
    """One JSON Lines request → one verdict dict (never raises); an image gives every code in it."""
    fields, ready = batch_job(svc, line)
    from gateway.batch import Job
    verdict = svc.verification.verify_many([ready], device="cli-batch")[0] if isinstance(ready, Job) else ready
    return {**fields, **verdict.as_dict()}


BATCH_BLOCK = 2000
BLOCK_WAIT = 0.01          # seconds a started block waits for more input before it is answered


def _line_blocks(stream, size: int = BATCH_BLOCK, wait: float = BLOCK_WAIT):
    """Non-empty lines in blocks of up to ``size``: whatever has arrived, so a big file goes
    through in large blocks while a scanner typing one line at a time gets each answer at once
    (a block ends when no further input arrives within ``wait``: a pipe is read 64 KB — about
    130 lines — at a time, and without the wait a writer a moment late cut a 40 000-line input
    into hundreds of small blocks, each leaving the pool idle while it was settled)."""
    import io
    import os
    import select
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError, ValueError):      # a StringIO (tests, embedding)
        lines = [line if len(line.encode("utf-8", "replace")) <= MAX_LINE_BYTES else LineTooLong()
                 for line in stream if line.strip()]
        for i in range(0, len(lines), size):
            yield lines[i:i + size]
        return
    # the line being read grows in place (one copy of each byte, not one per read), and past
    # MAX_LINE_BYTES the rest of it is skipped unread: a gigabyte without a newline costs a pass
    # over it, not quadratic copying and a gigabyte of memory
    pending, skipping, block = bytearray(), False, []
    while True:
        ready = select.select([fd], [], [], wait)[0] if block else [fd]
        if not ready or len(block) >= size:
            yield block
            block = []
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            break
        start = 0
        while True:
            end = data.find(b"\n", start)
            if not skipping:
                pending += data[start:] if end < 0 else data[start:end]
                if len(pending) > MAX_LINE_BYTES:
                    pending.clear()
                    skipping = True
                    block.append(LineTooLong())
            if end < 0:
                break
            if not skipping and pending.strip():
                block.append(pending.decode("utf-8", "replace"))
            pending.clear()
            skipping, start = False, end + 1
    if pending.strip() and not skipping:
        block.append(pending.decode("utf-8", "replace"))
    if block:
        yield block


@click.command("verify-batch")
def verify_batch():
    """JSON Lines on stdin → one verdict per line on stdout (large inputs use every core)."""
    svc = service()
    svc.verification.warm_pool(fork=True)    # before any other thread: the pool is forked from here
    svc.verification.group_scan_writes()     # svc.close() below writes what is still queued
    try:
        for block in _line_blocks(sys.stdin):
            for i in range(0, len(block), BATCH_BLOCK):          # one write a block, not a line
                sys.stdout.write(batch_text(svc, block[i:i + BATCH_BLOCK]))
            sys.stdout.flush()
    finally:
        svc.close()
