"""``verify-batch``: JSON Lines in, one verdict per line out, large blocks on every core."""
from __future__ import annotations

import json
import sys

import click

import standard
from adapters.verifier import ImageVerdicts, Verdict
from gateway.anchors import parse_anchor
from gateway.cli.common import service
from standard.errors import BadRequest, HealthCodeError


def batch_job(svc, line: str):
    """One JSON Lines request → (id, ``batch.Job``) for a code's text, or (id, its verdict) for an
    image (every code in it, verified here) or a bad line."""
    from gateway.batch import Job
    item_id, item = None, None
    try:
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
            return item_id, svc.verify_image_codes(decode_image_b64(item["image_b64"]), now=now,
                                                   anchors=list(anchors), device="cli-batch")
        if "payload" not in item:
            raise BadRequest("give payload or image_b64")
        return item_id, Job(text=item["payload"], now=now, anchors=anchors)
    except HealthCodeError as exc:
        verdict = Verdict.failed(exc)
        if isinstance(item, dict) and "image_b64" in item:
            verdict = ImageVerdicts([verdict], 0)
        return item_id, verdict


def batch_lines(svc, lines: list[str]) -> list[dict]:
    """JSON Lines requests → verdict dicts in the same order (large blocks on every core)."""
    from gateway.batch import Job
    parsed = [batch_job(svc, line) for line in lines]
    verdicts = iter(svc.verify_many([job for _, job in parsed if isinstance(job, Job)], device="cli-batch"))
    return [{"id": item_id, **(next(verdicts) if isinstance(job, Job) else job).as_dict()}
            for item_id, job in parsed]


def batch_text(svc, lines: list[str]) -> str:
    """JSON Lines requests → the answer lines, in order: a large block answered in the pool
    processes (``Service.answer_in_pool``), what they leave (images, anchors, online codes, bad or
    revoked lines) by :func:`batch_lines` here."""
    answers = svc.answer_in_pool("lines", lines, device="cli-batch") or [None] * len(lines)
    missing = [i for i, answer in enumerate(answers) if answer is None]
    for i, out in zip(missing, batch_lines(svc, [lines[i] for i in missing]) if missing else ()):
        answers[i] = json.dumps(out, ensure_ascii=False) + "\n"
    return "".join(answers)


def batch_line(svc, line: str) -> dict:
    """One JSON Lines request → one verdict dict (never raises); an image gives every code in it."""
    return batch_lines(svc, [line])[0]


BATCH_BLOCK = 2000


def _line_blocks(stream, size: int = BATCH_BLOCK):
    """Non-empty lines in blocks of up to ``size``: whatever has already arrived, so a big file
    goes through in large blocks while a scanner typing one line at a time gets each answer at
    once (a block ends when no further input is waiting)."""
    import io
    import os
    import select
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError, ValueError):      # a StringIO (tests, embedding)
        lines = [line for line in stream if line.strip()]
        for i in range(0, len(lines), size):
            yield lines[i:i + size]
        return
    pending, block = b"", []
    while True:
        ready = select.select([fd], [], [], 0)[0] if block else [fd]
        if not ready or len(block) >= size:
            yield block
            block = []
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        block.extend(text for text in (raw.decode("utf-8", "replace") for raw in lines) if text.strip())
    if pending.strip():
        block.append(pending.decode("utf-8", "replace"))
    if block:
        yield block


@click.command("verify-batch")
def verify_batch():
    """JSON Lines on stdin → one verdict per line on stdout (large inputs use every core)."""
    svc = service()
    svc.group_scan_writes()                 # svc.close() below writes what is still queued
    try:
        for block in _line_blocks(sys.stdin):
            for i in range(0, len(block), BATCH_BLOCK):          # one write a block, not a line
                sys.stdout.write(batch_text(svc, block[i:i + BATCH_BLOCK]))
            sys.stdout.flush()
    finally:
        svc.close()
