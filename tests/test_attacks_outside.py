"""Issue 10 again, from outside: each test is an attack that still worked against `healthcode
serve` (threaded) or `serve --workers 2` after the first round of fixes, run over HTTP or the
CLI exactly as it was found, and refused since.

* a lone surrogate escape (``"\\ud800"``) — valid JSON, not Unicode — gave a 500 on the batch
  ``id`` and on foreign revocations, and crashed `verify-batch`;
* a malformed chunked body gave a 500 under gunicorn;
* forty 7.9 MB bodies at once took the threaded server to 800 MB (nothing bounded their count);
* 7.8 MB of ``[{},{},…]`` parsed into ~300 MB of objects before anything refused it: eight at
  once took the threaded server to 3 GB;
* a key revoked in one worker kept verifying green in the other for up to a minute;
* a trust list signed in the same second as a revocation had the same ``seq`` as the one after
  it, so an offline verifier accepted the replayed older list (and the ETag said 304);
* an image header claiming more than 32 MP was ``image_unreadable``, not ``payload_too_large``;
* a 16 MP WebP of 700 bytes costs ~0.25 s to decode and counted as one item: one anonymous client
  inside its 600 items a minute kept both cores busy;
* a region in the URL, or a fact's name, was echoed back (an ID number, a name);
* refused issuer lookups, revocations and prints left no audit entry — while a stranger's
  refused lookups wrote one entry each, without limit (1 000 in 2 s, 4 MB, never purged);
* the offline verifier crashed (a traceback and exit 1, which means "not valid") on a state,
  national-keys or trust-list file that is not what it should be;
* a regional issuer's token — which mints codes of any colour — could not be revoked or
  replaced at all, and each process kept the tokens it read first;
* credential changes through two workers at once gave 500s (a shared temporary file), and a
  read-modify-write in one process could undo a revocation made in the other.
"""
from __future__ import annotations

import base64
import io
import json
import socket
import sqlite3
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from residents import BJ_ADULT, GD_ELDER, SH_ELDER, ZJ_RESIDENT
from support.cli import add_credential, run_cli
from support.live import LiveServer, call

BJ = BJ_ADULT.id_and_name
ZJ = ZJ_RESIDENT.id_and_name
GD = GD_ELDER.id_and_name
SH = SH_ELDER.id_and_name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One data directory served twice: Flask's threaded server and two gunicorn workers."""
    data = tmp_path_factory.mktemp("outside")
    for region, (id_number, name) in (("110000", BJ), ("330000", ZJ), ("440000", GD), ("310000", SH)):
        run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, data_dir=data, check=True)
    threaded = LiveServer(data)
    workers = LiveServer(data, args=("--workers", "2"))

    def token(role, principal):
        return add_credential(role, principal, data_dir=data)

    cred = {"operator": token("operator", "op-o"), "dm": token("data_manager", "dm-o")}
    cred.update(json.loads(run_cli("tokens", data_dir=data, check=True).stdout))
    threaded.cred = workers.cred = cred
    yield {"threaded": threaded, "workers": workers, "data": data, "cred": cred}
    threaded.stop()
    workers.stop()


def no_tracebacks(*servers):
    for server in servers:
        assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log_path


def raw_http(server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


# --- no 500s --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,role,body", [
    ("/v1/verify/batch", None, '{"items": [{"id": "\\ud800", "payload": "x"}]}'),
    ("/v1/admin/revocations", "dm", '{"format": "eu_dcc", "certificate_ids": ["\\ud800"]}'),
    ("/v1/verify", None, '{"payload": "YKM1:\\udfff"}'),
    ("/v1/issuers/440000/codes", "440000", '{"id_number": "440305193606300643", "name": "\\ud800"}'),
])
@pytest.mark.parametrize("kind", ["threaded", "workers"])
def test_a_lone_surrogate_escape_is_a_clear_400(world, kind, path, role, body):
    server = world[kind]
    r = call(server, "POST", path, role, data=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
    assert "surrogate" in r.json()["error"]["message"]
    no_tracebacks(server)


def rss_mb(pid: int) -> int:
    return int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024


def test_millions_of_tiny_json_values_are_refused_before_parsing(world):
    server = world["threaded"]
    body = b"[" + b"{}," * 2_600_000 + b"{}]"                  # 7.8 MB, under the 8 MB cap

    def send(path):
        return requests.post(server.url + path, data=body, timeout=120, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {server.cred['operator']}"})

    def four():
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(send, ["/v1/verify", "/v1/verify/batch", "/v1/kiosk/lookup", "/v1/transcode"]))

    grew, answers = peak_rss_during(server.proc.pid, four)
    for r in answers:
        assert r.status_code == 400 and "more than 20,000 values" in r.json()["error"]["message"], r.text
    assert grew < 200, grew                                       # was +1.5 GB for four at once
    full = {"items": [{"id": i, "payload": f"YKM1:junk-{i}"} for i in range(500)], "place": "站, 口"}
    bulk = json.loads(run_cli("credentials", "add", "--role", "helper", "--id", "bulk-1", data_dir=world["data"],
                              check=True).stdout)["token"]                # its own verification budget
    assert requests.post(server.url + "/v1/verify/batch", json=full, timeout=60,
                         headers={"Authorization": f"Bearer {bulk}"}).status_code == 200


def peak_rss_during(pid: int, work) -> tuple[int, object]:
    """(MB the process grew at most while ``work()`` ran, what work returned)."""
    before, peak, done = rss_mb(pid), [0], []

    def watch():
        while not done:
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = work()
    finally:
        done.append(True)
        watcher.join()
    return peak[0] - before, result


def test_many_large_bodies_at_once_are_held_a_few_at_a_time(world):
    server = world["threaded"]
    body = b'{"payload": "' + b"a" * 7_900_000 + b'"}'           # 7.9 MB, under the 8 MB cap

    def send(_):
        return requests.post(server.url + "/v1/verify", data=body, timeout=120, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {server.cred['operator']}"})

    def flood():
        with ThreadPoolExecutor(24) as pool:
            return list(pool.map(send, range(24)))

    grew, answers = peak_rss_during(server.proc.pid, flood)
    assert [r.status_code for r in answers] == [200] * 24           # all answered: a too-long payload verdict
    assert all(r.json()["errors"][0]["code"] == "payload_too_large" for r in answers)
    assert grew < 200, grew                                       # was ~20 MB each, all at once


def test_verify_batch_answers_every_line_even_one_with_a_lone_surrogate(world):
    lines = '{"id": "\\ud800", "payload": "x"}\n{"id": 2, "payload": "\\ud800"}\n{"id": 3, "payload": "x"}\n'
    out = run_cli("verify-batch", stdin=lines, data_dir=world["data"])
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    assert [v["errors"][0]["code"] for v in verdicts] == ["bad_request", "bad_request", "format_unknown"]
    assert verdicts[2]["id"] == 3


@pytest.mark.parametrize("kind", ["threaded", "workers"])
def test_a_broken_chunked_body_is_a_json_400_and_an_endless_one_a_413(world, kind):
    server = world[kind]
    head = (b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    broken = raw_http(server, head + b"zz\r\nabc\r\n0\r\n\r\n")
    status, _, body = broken.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "bad_request", broken
    chunk = b"186a0\r\n" + b"a" * 100_000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head + b'c\r\n{"payload":"\r\n')
        try:
            for _ in range(100):                        # 10 MB, over the 8 MB a request may carry
                sock.sendall(chunk)
        except OSError:
            pass                                        # the server stopped reading: good
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    no_tracebacks(server)


# --- keys and the trust list across workers ---------------------------------------------------------
def test_a_key_revoked_through_one_worker_is_refused_by_every_worker(world):
    server = world["workers"]
    code = call(server, "POST", "/v1/issuers/330000/codes", "330000",
                json={"id_number": ZJ[0], "name": ZJ[1], "kind": "offline"}).json()["qr_text"]
    assert all(call(server, "POST", "/v1/verify", "operator", json={"payload": code}).json()["valid"]
               for _ in range(12))                     # both workers hold a list with the key active
    kid = json.loads(run_cli("keys", "list", data_dir=world["data"], check=True).stdout)["330000"][-1]["kid"]
    revoked = call(server, "POST", f"/v1/admin/keys/330000/{kid}/revoke", "dm", json={"reason": "stolen"})
    assert revoked.status_code == 200
    verdicts = [call(server, "POST", "/v1/verify", "operator", json={"payload": code}).json() for _ in range(12)]
    assert [v["errors"][0]["code"] if v["errors"] else "valid" for v in verdicts] == ["key_revoked"] * 12
    for _ in range(6):
        keys = next(i for i in call(server, "GET", "/v1/trust-list").json()["trust_list"]["issuers"]
                    if i["region"] == "330000")["keys"]
        assert next(k for k in keys if k["kid"] == kid)["status"] == "revoked"


def test_a_list_signed_in_the_same_second_as_a_revocation_cannot_be_replayed(world, tmp_path):
    server, data = world["threaded"], world["data"]
    keys = tmp_path / "national.json"
    keys.write_text(json.dumps(call(server, "GET", "/v1/trust-list/national-keys").json()))
    state = tmp_path / "seen.json"
    for region, (id_number, name) in (("110000", BJ), ("310000", SH), ("440000", GD)):
        kid = call(server, "POST", f"/v1/admin/keys/{region}/rotate", "dm").json()["kid"]    # a fresh key
        code = run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, "--kind",
                       "offline", data_dir=data, check=True).stdout.strip()
        before = call(server, "GET", "/v1/trust-list")            # signed now ...
        assert call(server, "POST", f"/v1/admin/keys/{region}/{kid}/revoke", "dm", json={}).status_code == 200
        after = call(server, "GET", "/v1/trust-list",          # ... and again, within the same second
                     headers={"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200                               # a changed list is never a 304
        assert after.json()["seq"] > before.json()["seq"]
        old, new = tmp_path / "old.jws", tmp_path / "new.jws"
        old.write_text(before.json()["jws"])
        new.write_text(after.json()["jws"])
        args = ["--national-keys", str(keys), "--state", str(state)]
        fresh = run_cli("verify", code, "--trust-list", str(new), *args, data_dir=data)
        assert fresh.returncode == 1 and json.loads(fresh.stdout)["errors"][0]["code"] == "key_revoked"
        replay = run_cli("verify", code, "--trust-list", str(old), *args, data_dir=data)
        assert replay.returncode == 2 and "older than one this verifier already accepted" in replay.stderr


@pytest.mark.parametrize("state_text", ["garbage", '{"seq": "abc"}', "[]", '{"seq": true}', '{"seq": null}'])
def test_the_offline_verifier_refuses_a_broken_state_instead_of_crashing_or_forgetting(world, tmp_path, state_text):
    data = world["data"]
    listed, keys, state = tmp_path / "list.jws", tmp_path / "keys.json", tmp_path / "state.json"
    run_cli("trust-list", "--out", str(listed), "--national-keys", str(keys), data_dir=data, check=True)
    code = run_cli("issue", "--region", "110000", "--id-number", BJ[0], "--name", BJ[1], data_dir=data,
                   check=True).stdout.strip()
    state.write_text(state_text)
    out = run_cli("verify", code, "--trust-list", str(listed), "--national-keys", str(keys), "--state", str(state),
                  data_dir=data)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--state" in out.stderr, out.stderr
    assert state.read_text() == state_text                  # not reset to "nothing seen yet"
    keys.write_text("not json")
    out = run_cli("verify", code, "--trust-list", str(listed), "--national-keys", str(keys), "--state",
                  str(tmp_path / "fresh.json"), data_dir=data)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--national-keys" in out.stderr, out.stderr


# --- image bombs whose header lies ----------------------------------------------------------------
def lying_image(fmt: str, width: int, height: int) -> bytes:
    """A real 64×64 image whose header claims width × height, as a bomb's header does."""
    buffer = io.BytesIO()
    Image.new("P" if fmt == "GIF" else "L", (64, 64), 255).save(buffer, format=fmt)
    data = bytearray(buffer.getvalue())
    if fmt == "PNG":
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    elif fmt == "GIF":                                   # the logical screen, not the frame
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    elif fmt == "WEBP":
        start = data.index(b"\x9d\x01\x2a")
        data[start + 3:start + 7] = struct.pack("<HH", width, height)
    elif fmt == "TIFF":
        ifd = struct.unpack_from("<I", data, 4)[0]
        for i in range(struct.unpack_from("<H", data, ifd)[0]):
            at = ifd + 2 + 12 * i
            tag = struct.unpack_from("<H", data, at)[0]
            if tag in (256, 257):
                struct.pack_into("<HHII", data, at, tag, 4, 1, width if tag == 256 else height)
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "JPEG", "WEBP", "TIFF"])
@pytest.mark.parametrize("side", [5000, 8900, 16383])
def test_an_image_header_claiming_too_many_pixels_is_payload_too_large(world, fmt, side):
    image = lying_image(fmt, side, side)
    assert len(image) < 5000
    r = call(world["threaded"], "POST", "/v1/verify", "operator",
             json={"image_b64": base64.b64encode(image).decode()})
    assert r.status_code == 200
    error = r.json()["errors"][0]
    assert error["code"] == "payload_too_large" and "pixels" in error["message"], error


@pytest.mark.slow
def test_images_weigh_ten_items_against_the_verification_limit(http, clock, data_dir):
    token = json.loads(run_cli("credentials", "add", "--role", "helper", "--id", "camera-1",
                               data_dir=data_dir, check=True).stdout)["token"]
    headers = {"Authorization": f"Bearer {token}"}           # a fresh client of its own
    image = {"image_b64": base64.b64encode(lying_image("PNG", 100, 100)).decode()}
    clock.to_minute_start()                                   # the limit counts in one-minute windows
    first = http.post("/v1/verify/batch", json={"items": [image] * 59}, headers=headers)
    assert first.status_code == 200 and len(first.get_json()["results"]) == 59          # 590 of 600
    assert http.post("/v1/verify", json=image, headers=headers).status_code == 200
    refused = http.post("/v1/verify", json=image, headers=headers)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Retry-After"] == "59"             # the rest of the minute
    texts = http.post("/v1/verify/batch", json={"items": [{"payload": "x"}]}, headers=headers)
    assert texts.status_code == 429                           # the same bucket, whatever is sent
    clock.advance(59)
    assert http.post("/v1/verify", json=image, headers=headers).status_code == 200      # a new minute


# --- personal data never echoed --------------------------------------------------------------------
def test_an_id_number_in_a_region_or_a_fact_name_is_not_echoed(world):
    server = world["threaded"]
    person = {"id_number": GD[0], "name": GD[1]}
    answers = [
        call(server, "POST", f"/v1/issuers/{GD[0]}/codes", "440000", json=person),
        call(server, "POST", "/v1/issuers/440000/codes", "440000", json={**person, "facts": {GD[0]: GD[1]}}),
        call(server, "POST", "/v1/issuers/440000/codes", "440000", json={**person, "facts": {GD[1]: True}}),
    ]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == \
        [(404, "region_unknown"), (400, "bad_request"), (400, "bad_request")]
    cli = [run_cli("issue", "--region", GD[0], "--id-number", GD[0], "--name", GD[1], data_dir=world["data"]),
           run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], "--facts",
                   json.dumps({GD[0]: 1}), data_dir=world["data"])]
    assert [c.returncode for c in cli] == [2, 2]
    for text in [a.text for a in answers] + [c.stderr for c in cli]:
        assert GD[0] not in text and GD[1] not in text and "秀" not in text, text
    assert "unknown fact 'bogus'" in call(server, "POST", "/v1/issuers/440000/codes", "440000",
                                          json={**person, "facts": {"bogus": 1}}).text   # a name is named


# --- audit ------------------------------------------------------------------------------------------
def audit_since(data, seq: int) -> list[dict]:
    with sqlite3.connect(data / "healthcode.sqlite3") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT entry FROM audit_log WHERE seq > ?", (seq,))]


def audit_top(data) -> int:
    with sqlite3.connect(data / "healthcode.sqlite3") as db:
        return db.execute("SELECT max(seq) FROM audit_log").fetchone()[0]


@pytest.mark.parametrize("path,role,body,action,result", [
    ("/v1/issuers/440000/lookup", "510000", {"id_number": GD[0]}, "reissue", "forbidden"),
    ("/v1/issuers/440000/lookup", None, {"id_number": GD[0]}, "reissue", "unauthorized"),
    ("/v1/issuers/440000/lookup", "440000", {"id_number": "440305193606300644"}, "reissue", "id_number_invalid"),
    ("/v1/issuers/440000/lookup", "440000", {"id_number": GD[0], "name": "错"}, "reissue", "identity_not_matched"),
    ("/v1/issuers/440000/revocations", "510000", {"id_number": GD[0]}, "revoke", "forbidden"),
    ("/v1/print", "dm", {"people": [{"region": "440000", "id_number": GD[0], "name": GD[1]}]}, "print", "forbidden"),
    ("/v1/print", "operator", {"people": [{"region": "440000", "id_number": "440305193606300644", "name": "x"}]},
     "print", "id_number_invalid"),
])
def test_refused_issuer_lookups_revocations_and_prints_are_audited_once(world, path, role, body, action, result):
    top = audit_top(world["data"])
    r = call(world["threaded"], "POST", path, role, json=body)
    assert r.status_code in (400, 401, 403, 404) and r.json()["error"]["code"] == result
    entries = [(e["action"], e["result"]) for e in audit_since(world["data"], top)]
    assert entries == [(action, result)]


# --- files several processes change -------------------------------------------------------------------
def test_credential_changes_through_two_workers_at_once_lose_nothing(world):
    server = world["workers"]
    victim = call(server, "POST", "/v1/admin/credentials", "dm", json={"role": "helper", "id": "victim"})
    assert victim.status_code == 201

    def add(i):
        return call(server, "POST", "/v1/admin/credentials", "dm", json={"role": "helper", "id": f"crowd-{i}"})

    with ThreadPoolExecutor(12) as pool:
        adds = [pool.submit(add, i) for i in range(24)]
        revoke = pool.submit(call, server, "DELETE", "/v1/admin/credentials/victim", "dm")
        adds += [pool.submit(add, i) for i in range(24, 48)]
        statuses = [f.result().status_code for f in adds]
    assert statuses == [201] * 48 and revoke.result().status_code == 200
    held = {c["id"] for c in call(server, "GET", "/v1/admin/credentials", "dm").json()["credentials"]}
    assert {f"crowd-{i}" for i in range(48)} <= held and "victim" not in held
    probe = requests.post(server.url + "/v1/assist/lookup", json={"id_number": GD[0], "name": GD[1]}, timeout=30,
                          headers={"Authorization": f"Bearer {victim.json()['token']}"})
    assert probe.status_code == 401                                   # the revocation held
    no_tracebacks(server)


@pytest.mark.slow
def test_a_stranger_cannot_flood_the_audit_log_with_refused_lookups(http, clock, data_dir):
    data = data_dir
    run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=data, check=True)
    clock.to_minute_start()                                   # strangers are counted per minute
    top = audit_top(data)
    answers = [http.post("/v1/assist/lookup", json={"id_number": "x", "name": "y"},
                         headers={"Authorization": f"Bearer not-a-token-{i}"}) for i in range(80)]
    statuses = [a.status_code for a in answers]
    written = audit_since(data, top)
    assert 25 <= statuses.count(401) <= 30 and statuses.count(429) == 80 - statuses.count(401), statuses
    assert statuses.count(401) == 30                          # one clock, one window: exactly the limit
    assert [(e["action"], e["result"], e["actor"]["role"]) for e in written] == \
        [("assisted_lookup", "unauthorized", "unauthenticated")] * statuses.count(401)
    assert int(answers[-1].headers["Retry-After"]) >= 1
    helper = json.loads(run_cli("credentials", "add", "--role", "helper", "--id", "desk-9", data_dir=data,
                                check=True).stdout)["token"]
    own = http.post("/v1/assist/lookup", json={"id_number": GD[0], "name": GD[1]},
                    headers={"Authorization": f"Bearer {helper}"})
    assert own.status_code == 200                               # a credential is not a stranger
    clock.advance(60)                                           # the next minute: audited again
    again = http.post("/v1/assist/lookup", json={"id_number": "x", "name": "y"},
                      headers={"Authorization": "Bearer not-a-token-again"})
    assert again.status_code == 401


def test_a_leaked_issuer_token_is_revoked_in_every_worker(world):
    server, data = world["workers"], world["data"]
    person = {"id_number": "510107199501013071", "name": "张伟"}
    leaked = world["cred"]["510000"]
    assert all(call(server, "POST", "/v1/issuers/510000/codes", "510000", json=person).status_code == 201
               for _ in range(6))                                # both workers know the token
    listed = call(server, "GET", "/v1/admin/credentials", "dm").json()["credentials"]
    assert {"role": "issuer", "id": "issuer-510000", "region": "510000"} in listed
    assert leaked not in json.dumps(listed)
    assert call(server, "DELETE", "/v1/admin/credentials/issuer-510000", "operator").status_code == 403
    gone = call(server, "DELETE", "/v1/admin/credentials/issuer-510000", "dm")
    assert gone.status_code == 200 and gone.json()["revoked"] == {"id": "issuer-510000", "role": "issuer"}
    assert [call(server, "POST", "/v1/issuers/510000/codes", "510000", json=person).status_code
            for _ in range(8)] == [401] * 8
    fresh = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["510000"]
    assert fresh != leaked
    world["cred"]["510000"] = fresh
    assert call(server, "POST", "/v1/issuers/510000/codes", "510000", json=person).status_code == 201
    cli = run_cli("credentials", "revoke", "issuer-510000", data_dir=data)
    assert cli.returncode == 0 and json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["510000"] != fresh
    world["cred"]["510000"] = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["510000"]
    top = audit_top(data) - 10
    assert any(e["action"] == "credential_revoke" and e["detail"].get("role") == "issuer"
               for e in audit_since(data, top))
    squat = call(server, "POST", "/v1/admin/credentials", "dm", json={"role": "helper", "id": "issuer-440000"})
    assert squat.status_code == 400                                  # nobody else may take that name
