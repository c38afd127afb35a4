"""verify-batch's byte path (gateway/cli/verify_batch.py ``_answer_stream``, gateway/batch.py
``_answer_raw_lines``): stdin read as bytes, cut into chunks at line ends, each chunk parsed,
verified and written by a pool process, settled by the caller.  Its output must be the one-line
path's, byte for byte, for every kind of line — and the scans stored and verdicts counted the
same."""
from __future__ import annotations

import gc
import json
import os
import subprocess

from config.settings import load_settings
from gateway import metrics
from gateway.batch import _lines_of
from gateway.cli.verify_batch import _answer_stream, batch_line
from gateway.services import Services
from issuers import make_person
from residents import GD_ELDER, SC_RESIDENT, SH_ELDER
from support.paths import BIN

PEOPLE = {"440000": GD_ELDER.id_and_name, "510000": SC_RESIDENT.id_and_name, "310000": SH_ELDER.id_and_name}
IDS = [0, -1, 7, 2**63 - 1, 12345678901234567890123, 1.0, -0.0, 1e16, 2.5e-300, 0.1, True, False, None, "",
       "n7", "站-3 \"q\" \\ \t\n\u2028 ✓ 𝄞", [], [1, "a", None], {}, {"k": [{"z": 1}]}]


def _lines(codes: list[str], withdrawn: str) -> list[bytes]:
    """Every kind of line, each more than once, in a block large enough for the pool."""
    odd: list[bytes] = [
        b"not json", b"[1]", b"7", b'"text"', b"{", b"{}", b'{"id": 1}',
        json.dumps({"id": "w", "payload": withdrawn}).encode(),
        json.dumps({"id": "j", "payload": "junk"}).encode(),
        json.dumps({"id": "n", "payload": 7}).encode(),
        json.dumps({"id": "img", "image_b64": "%%%"}).encode(),
        json.dumps({"id": "tr", "payload": codes[0], "trust": [{"kid": "x"}]}).encode(),
        json.dumps({"id": "tr0", "payload": codes[0], "trust": []}).encode(),
        json.dumps({"id": "url", "payload": "https://example.org/hc/x"}).encode(),
        json.dumps({"id": "t", "payload": codes[1][:-4] + "AAAA"}).encode(),
        json.dumps({"id": "at", "payload": codes[0], "at": "2001-01-01T00:00:00Z"}).encode(),
        json.dumps({"id": "bad-at", "payload": codes[0], "at": "yesterday"}).encode(),
        json.dumps({"id": "big", "payload": codes[0] + "A" * 20_000}).encode(),
        b'{"id": "seps", "payload": "' + b"," * 20_001 + b'"}',
        b'{"id": "deep", "payload": "x", "extra": ' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"id": "\\ud800", "payload": "x"}',                   # a lone surrogate
        b'{"id": NaN, "payload": "' + codes[2].encode() + b'"}',
        b'{"id": 1e400, "payload": "' + codes[2].encode() + b'"}',
        b'{"id": 1234567890123456789012, "payload": "' + codes[2].encode() + b'"}',
        b'\xef\xbb\xbf{"id": "bom", "payload": "x"}',
        b'{"id": "bad-utf8 \xff\xfe", "payload": "' + codes[0].encode() + b'"}',
        b'{"id": "dup", "id": "dup2", "payload": "' + codes[0].encode() + b'"}',
        b'  {"id": "spaced", "payload": "' + codes[1].encode() + b'"}  \r',
        b'{"id": "\xe7\xab\x99", "payload": "' + codes[1].encode() + b'", "place": "\xe5\xb9\xbf\xe5\xb7\x9e"}',
        b"", b"   ", b"\r", b"\t \x0b\x0c", "\u3000\u2003".encode(), b"\x1c\x1f", "\u00a0\x85".encode(),
    ]
    lines = [json.dumps({"id": IDS[i % len(IDS)], "payload": codes[i % len(codes)]},
                        ensure_ascii=bool(i % 2)).encode() for i in range(150)]
    for k, line in enumerate(odd):
        lines.insert(3 + 4 * k, line)
    return lines


def _serial(svc, raw: bytes) -> bytes:
    """The one-line path over the lines today's reader keeps (a line blank once decoded is left out)."""
    texts = [line.decode("utf-8", "replace") for line in raw.split(b"\n")]
    return "".join(json.dumps(batch_line(svc, text), ensure_ascii=False) + "\n"
                   for text in texts if text.strip()).encode()


def _delta(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _counted() -> dict:
    return {tuple(sorted(sample.labels.items())): sample.value for family in metrics.REGISTRY.collect()
            if family.name == "healthcode_verifications" for sample in family.samples if sample.name.endswith("_total")}


def test_the_byte_path_answers_every_kind_of_line_as_the_one_line_path(tmp_path, caplog):
    svc = Services(load_settings(data_dir=tmp_path))
    codes = [svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()]
    revoked_person = make_person("110101197612039635", "刘建国")
    withdrawn = svc.issuing.issue("110000", revoked_person).qr_text
    svc.issuing.revoke_subject(svc.issuing.subject(revoked_person), {"role": "issuer", "id": "bj"})
    raw = b"\n".join(_lines(codes, withdrawn)) + b"\n" + json.dumps({"id": "last", "payload": codes[0]}).encode()
    (tmp_path / "in.jsonl").write_bytes(raw)
    out: list[bytes] = []
    svc.verification.group_scan_writes()
    before, counted_before = svc.store.count_scans(), _counted()
    try:
        fd = os.open(tmp_path / "in.jsonl", os.O_RDONLY)
        try:
            _answer_stream(svc, fd, out.append, lambda: None, size=16_384)     # several chunks
        finally:
            os.close(fd)
        assert svc.verification._pool is not None                          # it really went to the pool
        svc.verification.flush_scans()
        middle, counted_middle = svc.store.count_scans(), _counted()
        serial = _serial(svc, raw)
        svc.verification.flush_scans()
        after, counted_after = svc.store.count_scans(), _counted()
    finally:
        svc.close()
    assert not [r for r in caplog.records if "batch pool failed" in r.getMessage()]     # no chunk fell back
    streamed = b"".join(out)
    assert streamed.decode().split("\n") == serial.decode().split("\n")     # a readable diff first
    assert streamed == serial
    assert _delta(counted_before, counted_middle) == _delta(counted_middle, counted_after)
    assert middle - before == after - middle > 150
    answers = [json.loads(line) for line in streamed.decode().split("\n")[:-1]]
    assert len(answers) == len(_lines_of(raw))
    by_id = {str(a.get("id")): a for a in answers}
    assert by_id["w"]["errors"][0]["code"] == "code_revoked"
    assert by_id["t"]["errors"][0]["code"] == "signature_invalid"
    assert by_id["last"]["valid"]


def test_the_pool_answers_plain_lines_and_leaves_only_the_unusual_ones(tmp_path):
    """The pool function itself: every plain line answered there (a hole only for the odd ones),
    the answers counted and their scan events handed back."""
    from gateway import batch
    from standard import ONLINE_FORMAT
    svc = Services(load_settings(data_dir=tmp_path))
    try:
        codes = [svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()]
        lines = _lines(codes, codes[0])
        batch._init([f for f in svc.settings.formats() if f != ONLINE_FORMAT],
                    {k: v for k, v in svc.settings.format_options.items() if k != ONLINE_FORMAT},
                    svc.trust.revocation_dir)
        answered = batch._answer_raw_lines(svc.trust.trust_list_jws(), svc.trust.national_jwks(), svc.now(),
                                           b"\n".join(lines), None, "d")
    finally:
        gc.unfreeze()                      # the pool's initializer froze this process's heap
        svc.close()
    kept = _lines_of(b"\n".join(lines))
    plain = [i for i, line in enumerate(kept) if _plain(line, codes)]
    assert len(plain) > 60 and set(plain).isdisjoint(answered.holes)
    assert 0 < len(answered.holes) < len(kept) - len(plain)          # some odd lines answered there too
    assert all(answered.parts[i] is None for i in answered.holes)
    assert sum(answered.tally.values()) == len(kept) - len(answered.holes) >= len(answered.events) >= len(plain)
    assert [e[8] for e in answered.events] == ["d"] * len(answered.events)


def _plain(line: bytes, codes: list[str]) -> bool:
    """A line of the plain shape: one of the codes, an id that is not a float, a container or
    an integer past 64 bits."""
    try:
        item = json.loads(line)
    except ValueError:
        return False
    return (isinstance(item, dict) and set(item) == {"id", "payload"} and item["payload"] in codes
            and not isinstance(item["id"], (float, list, dict))
            and not (isinstance(item["id"], int) and abs(item["id"]) >= 2**63))


def test_verify_batch_command_gives_the_one_line_answers_byte_for_byte(tmp_path):
    """The real command, through a pipe: the same bytes as the one-line path, in order."""
    svc = Services(load_settings(data_dir=tmp_path))
    codes = [svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()]
    withdrawn = svc.issuing.issue("110000", make_person("110101197612039635", "刘建国")).qr_text
    raw = b"\n".join(_lines(codes, withdrawn) * 3) + b"\n"
    try:
        serial = _serial(svc, raw)
    finally:
        svc.close()
    proc = subprocess.run([str(BIN / "healthcode"), "verify-batch"], input=raw, capture_output=True, check=True,
                          env={**os.environ, "HEALTHCODE_DATA": str(tmp_path)}, timeout=300)
    assert proc.stdout.decode().split("\n") == serial.decode().split("\n")
    assert proc.stdout == serial


def test_a_pool_process_killed_mid_stream_costs_no_answer_and_no_scan(tmp_path, caplog):
    """The pool processes SIGKILLed after the first chunk's answers are written: every chunk
    still out is answered in this process (the failure logged), the next ones by a new pool —
    the output and the stored scans those of the one-line path, nothing missing, nothing twice."""
    import signal
    svc = Services(load_settings(data_dir=tmp_path))
    code = svc.issuing.issue("440000", make_person(*PEOPLE["440000"])).qr_text
    raw = b"".join(json.dumps({"id": i, "payload": code if i % 7 else "junk"}).encode() + b"\n" for i in range(1500))
    (tmp_path / "in.jsonl").write_bytes(raw)
    out: list[bytes] = []
    killed: list[int] = []

    def write(data: bytes) -> None:
        out.append(data)
        if not killed:
            killed.extend(svc.verification._pool.executor()._processes)
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    svc.verification.group_scan_writes()
    before = svc.store.count_scans()
    try:
        fd = os.open(tmp_path / "in.jsonl", os.O_RDONLY)
        try:
            _answer_stream(svc, fd, write, lambda: None, size=8_192)
        finally:
            os.close(fd)
        svc.verification.flush_scans()
        middle = svc.store.count_scans()
        serial = _serial(svc, raw)
        svc.verification.flush_scans()
        after = svc.store.count_scans()
    finally:
        svc.close()
    assert killed and [r for r in caplog.records if "batch pool failed" in r.getMessage()]
    assert b"".join(out) == serial
    assert middle - before == after - middle == sum(1 for i in range(1500) if i % 7)
