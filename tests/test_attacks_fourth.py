"""The fourth round: attacks that got into a running gateway after issue 19's fixes, each run as
it was found, and refused or bounded since.

* an image Pillow opens but cannot decode or convert — a CIELAB TIFF, a PNG whose image data runs
  into a broken chunk — was a 500 with a stack trace (Pillow raises ``ValueError`` from
  ``convert`` and ``SyntaxError`` from ``load``), and any of Pillow's forty-odd formats (DDS,
  SPIDER, IM, …) reached its parser;
* a TIFF whose strip is a progressive JPEG escaped the scan count that bounds a JPEG's decoding
  (a 97 KB TIFF of 16 MP: 2 s of decoding, ten times what a JPEG may cost);
* a helper's (or operator's) ``kiosk_id`` was free text kept as it came in the never-purged audit
  log: a holder's name or ID number written there stayed in clear for good;
* a 60 KB PNG of 16 MP holding 6 400 tiny QR codes held zxing-cpp for 3.7 s before the cap of 24
  codes an image could refuse it, and weighed 10 items like any image: one client kept two cores
  searching — an image now weighs 10 items per megapixel it decodes;
* a holder's ID number typed into free text that is kept — an issuer's revocation reason, a
  checkpoint's place or device — was stored as typed, in a log that is never purged;
* behind a proxy, an IPv6 client sending from many addresses of its own /64 (one host holds 2^64
  of them) got a fresh anonymous limit per address: 30 audited refusals a minute per address
  without end, and as many anonymous verifications as it liked.
"""
from __future__ import annotations

import base64
import io
import json
import struct
import time
import zlib

import pytest
from PIL import Image

from residents import BJ_ADULT, GD_ELDER
from support.cli import add_credential, run_cli
from support.live import LiveServer, call, config_with_limits

GD = GD_ELDER.id_and_name


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A threaded gateway, as `healthcode serve` runs it, a resident of Guangdong, a token per role."""
    data = tmp_path_factory.mktemp("fourth")
    issued = run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=data, check=True)
    server = LiveServer(data)
    server.code = issued.stdout.strip()
    server.cred = {role: add_credential(role, f"{role}-4", data_dir=data)
                   for role in ("helper", "operator", "auditor", "kiosk")}
    yield server
    server.stop()


def _no_traceback(server: LiveServer) -> None:
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "unhandled error" not in log, log[-2000:]


# --- images Pillow opens but cannot decode ------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def broken_png() -> bytes:
    """A 64×64 grey PNG whose image data continues in a chunk of no valid type."""
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff" * 64 for _ in range(64)))
    half = len(pixels) // 2
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", pixels[:half]) + _png_chunk(b"\x9eOX\xf1", pixels[half:])
            + _png_chunk(b"IEND", b""))


def saved(mode: str, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 64)).save(buffer, format=fmt)
    return buffer.getvalue()


HOSTILE_IMAGES = {
    "cielab_tiff": lambda: saved("LAB", "TIFF"),        # Pillow: "conversion from LAB to RGB not supported"
    "broken_png_chunk": broken_png,                      # Pillow: SyntaxError "broken PNG file"
    "dds": lambda: saved("RGBA", "DDS"),                 # a format no camera writes
    "spider": lambda: saved("F", "SPIDER"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_IMAGES))
def test_an_image_pillow_cannot_decode_is_unreadable_never_a_500(gateway, name):
    import requests
    image_b64 = base64.b64encode(HOSTILE_IMAGES[name]()).decode()
    one = requests.post(gateway.url + "/v1/verify", json={"image_b64": image_b64}, timeout=30)
    assert one.status_code == 200, one.text
    assert one.json()["errors"][0]["code"] == "image_unreadable" and one.json()["found"] == 0
    batch = requests.post(gateway.url + "/v1/verify/batch", timeout=30,
                          json={"items": [{"id": 1, "image_b64": image_b64}, {"id": 2, "payload": "x"}]})
    assert batch.status_code == 200, batch.text
    assert [r["errors"][0]["code"] for r in batch.json()["results"]] == ["image_unreadable", "format_unknown"]
    _no_traceback(gateway)


def progressive_jpeg(side: int, repeats: int) -> bytes:
    """A white progressive JPEG whose last scan is repeated (a decoder runs every scan again)."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 255).save(buffer, "JPEG", progressive=True, quality=40)
    data = buffer.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * repeats + data[end:]


def tiff_of_one_strip(strip: bytes, side: int, compression: int) -> bytes:
    """A grey side×side little-endian TIFF whose one strip is ``strip``, compressed as said."""
    tags = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, compression), (262, 3, 1),
            (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, side), (279, 4, len(strip))]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHIHH", tag, kind, 1, value, 0) if kind == 3 else struct.pack("<HHII", tag, kind, 1, value)
        for tag, kind, value in tags) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8) + ifd + strip


def test_a_tiff_of_progressive_jpeg_strips_is_not_decoded(gateway):
    import requests
    jpeg = progressive_jpeg(4000, 85)
    assert jpeg.count(b"\xff\xda") > 85 and len(jpeg) < 200_000
    plain = requests.post(gateway.url + "/v1/verify", timeout=30, json={"image_b64": base64.b64encode(jpeg).decode()})
    assert plain.json()["errors"][0]["code"] == "payload_too_large"          # as a JPEG: counted, refused
    wrapped = tiff_of_one_strip(jpeg, 4000, 7)
    answer = requests.post(gateway.url + "/v1/verify", timeout=30,
                           json={"image_b64": base64.b64encode(wrapped).decode()}).json()
    assert answer["errors"][0] == {"code": "image_unreadable",
                                   "message": "a JPEG-compressed TIFF is not read; send the JPEG itself"}, answer
    _no_traceback(gateway)


def test_a_deflate_tiff_of_a_code_still_verifies(gateway):
    import requests
    from adapters import qr
    grey = Image.open(io.BytesIO(qr.render_png(gateway.code))).convert("L")
    tiff = tiff_of_one_strip(zlib.compress(grey.tobytes()), grey.width, 8) if grey.width == grey.height else b""
    answer = requests.post(gateway.url + "/v1/verify", timeout=30,
                           json={"image_b64": base64.b64encode(tiff).decode()}).json()
    assert answer["valid"] and answer["status"] == "green", answer


def test_the_cli_reads_such_an_image_as_unreadable(tmp_path):
    path = tmp_path / "lab.tiff"
    path.write_bytes(saved("LAB", "TIFF"))
    out = run_cli("verify", "--image", str(path), data_dir=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "image_unreadable" in out.stdout, out.stdout


# --- free text in the audit log -------------------------------------------------------------------------
@pytest.mark.parametrize("kiosk_id", [GD[1], GD[0], f"desk {GD[1]}", "desk-3\n", "desk-3;rm", "x" * 65])
def test_a_kiosk_id_that_is_not_a_device_id_is_refused_and_never_kept(gateway, kiosk_id):
    body = {"id_number": GD[0], "name": GD[1], "kiosk_id": kiosk_id}
    answers = [call(gateway, "POST", "/v1/assist/lookup", "helper", json=body),
               call(gateway, "POST", "/v1/kiosk/lookup", "operator", json=body),
               call(gateway, "POST", "/v1/dependents/codes", "helper", json={"holder": body, "kiosk_id": kiosk_id}),
               call(gateway, "POST", "/v1/kiosk/lookup", "kiosk", json=body)]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(400, "bad_request")] * 4, \
        [a.text for a in answers]
    assert all(GD[0] not in a.text and GD[1] not in a.text for a in answers)
    entries = call(gateway, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    refused = [e for e in entries if e["actor"]["id"] in ("helper-4", "operator-4", "kiosk-4")]
    assert refused and all(e["result"] == "bad_request" for e in refused[-4:])       # still audited
    kept = json.dumps(entries, ensure_ascii=False)
    assert GD[0] not in kept and GD[1] not in kept and kiosk_id not in kept


def test_no_credential_is_named_or_bound_by_an_id_number(gateway, tmp_path):
    for extra in (("--id", GD[0]), ("--id", "kiosk-9", "--kiosk-id", GD[0])):
        out = run_cli("credentials", "add", "--role", "kiosk", *extra, data_dir=tmp_path)
        assert out.returncode == 2 and "not an ID number" in out.stderr and GD[0] not in out.stderr, out.stderr
    dm = add_credential("data_manager", "dm-4", data_dir=gateway.data)
    answer = call(gateway, "POST", "/v1/admin/credentials", headers={"Authorization": f"Bearer {dm}"},
                  json={"role": "kiosk", "id": "kiosk-9", "kiosk_id": GD[0]})
    assert answer.status_code == 400 and GD[0] not in answer.text, answer.text


def test_a_device_id_is_kept_as_the_lookups_kiosk(gateway):
    body = {"id_number": GD[0], "name": GD[1], "kiosk_id": "desk-3.gz_1"}
    assert call(gateway, "POST", "/v1/assist/lookup", "helper", json=body).status_code == 200
    entries = call(gateway, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    assert [e["actor"].get("kiosk") for e in entries if e["action"] == "assisted_lookup"][-1] == "desk-3.gz_1"


# --- an IPv6 client is its /64 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory):
    """A gateway that believes X-Real-IP from 127.0.0.1, as behind the nginx of deploy/, with an
    anonymous limit of 10 verifications a minute."""
    data = tmp_path_factory.mktemp("fourth-proxy")
    env = {"HEALTHCODE_CONFIG": str(config_with_limits(data, anonymous_verifications_per_minute=10)),
           "HEALTHCODE_TRUSTED_PROXIES": "127.0.0.1"}
    server = LiveServer(data, env)
    server.cred = {"auditor": add_credential("auditor", "aud-4", data_dir=data, env=env)}
    yield server
    server.stop()


def _early_in_a_minute() -> None:
    """Limits count in one-minute windows: start where the next few seconds stay in one."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def _as(server, client: str, path: str, body: dict):
    return call(server, "POST", path, headers={"X-Real-IP": client}, json=body)


def test_an_ipv6_client_has_one_verification_limit_for_its_whole_64(behind_proxy):
    _early_in_a_minute()
    answers = [_as(behind_proxy, f"2001:db8:4:4::{i:x}", "/v1/verify", {"payload": "x"}).status_code
               for i in range(1, 11)]
    assert answers == [200] * 10
    assert _as(behind_proxy, "2001:db8:4:4:ffff::1", "/v1/verify", {"payload": "x"}).status_code == 429
    assert _as(behind_proxy, "2001:db8:4:4::99", "/v1/verify/batch", {"items": [{"payload": "x"}]}).status_code == 429
    assert _as(behind_proxy, "2001:db8:4:5::1", "/v1/verify", {"payload": "x"}).status_code == 200      # next /64
    for i in range(9):
        assert _as(behind_proxy, "198.51.100.7", "/v1/verify", {"payload": "x"}).status_code == 200
    assert _as(behind_proxy, "::ffff:198.51.100.7", "/v1/verify", {"payload": "x"}).status_code == 200  # the 10th
    assert _as(behind_proxy, "198.51.100.7", "/v1/verify", {"payload": "x"}).status_code == 429


def test_an_ipv6_client_cannot_flood_the_audit_log_from_the_addresses_of_its_64(behind_proxy):
    _early_in_a_minute()
    answers = [_as(behind_proxy, f"2001:db8:6:6::{i:x}", "/v1/kiosk/lookup", {"id_number": GD[0]}).status_code
               for i in range(1, 41)]
    assert answers == [401] * 30 + [429] * 10
    entries = call(behind_proxy, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    assert sum(e["actor"]["id"].startswith("2001:db8:6:6:") for e in entries) == 30


# --- an image weighs what searching it costs ----------------------------------------------------------
def white_png(side: int) -> str:
    buffer = io.BytesIO()
    Image.new("L", (side, side), 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_image_weighs_ten_items_per_megapixel_it_decodes(behind_proxy):
    _early_in_a_minute()                                     # 10 items a minute on this gateway
    one_megapixel, over_one = white_png(1000), white_png(1100)
    assert _as(behind_proxy, "198.51.100.21", "/v1/verify", {"image_b64": one_megapixel}).status_code == 200
    refused = _as(behind_proxy, "198.51.100.20", "/v1/verify", {"image_b64": over_one})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited", refused.text
    batch = _as(behind_proxy, "198.51.100.22", "/v1/verify/batch", {"items": [{"image_b64": over_one}]})
    assert batch.status_code == 200
    assert batch.json()["results"][0]["errors"][0]["code"] == "rate_limited", batch.text
    bomb = lying_png(5000)                                   # refused before decoding: one image's weight
    answer = _as(behind_proxy, "198.51.100.23", "/v1/verify", {"image_b64": bomb})
    assert answer.status_code == 200 and answer.json()["errors"][0]["code"] == "payload_too_large", answer.text


def lying_png(side: int) -> str:
    """A 64×64 PNG whose header claims side×side pixels."""
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return base64.b64encode(bytes(data)).decode()


# --- an ID number typed into free text ----------------------------------------------------------------
SPACED = f"{GD[0][:6]} {GD[0][6:14]} {GD[0][14:]}"           # as a clerk may type it
MASKED = GD[0][:4] + "*" * 10 + GD[0][-4:]


def test_an_id_number_in_a_revocation_reason_is_kept_masked(gateway):
    tokens = json.loads(run_cli("tokens", data_dir=gateway.data, check=True).stdout)
    for reason in (f"lost card, holder {GD[0]}", f"holder {SPACED} moved"):
        answer = call(gateway, "POST", "/v1/issuers/110000/revocations",
                      headers={"Authorization": f"Bearer {tokens['110000']}"},
                      json={"id_number": BJ_ADULT.id_number, "reason": reason})
        assert answer.status_code == 200, answer.text
    entries = call(gateway, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    reasons = [e["detail"]["reason"] for e in entries if e["action"] == "revoke"][-2:]
    assert reasons == [f"lost card, holder {MASKED}", f"holder {MASKED} moved"]
    kept = json.dumps(entries, ensure_ascii=False)
    assert GD[0] not in kept and SPACED not in kept


def test_a_place_or_device_holding_an_id_number_is_stored_masked(service, settings):
    from issuers import make_person
    code = service.issuing.issue("440000", make_person(*GD)).qr_text
    verdict = service.verification.verify(code, place=f"南站 {GD[0]}", device=f"gate-{SPACED}")
    assert verdict.valid
    service.store.close()
    kept = b"".join(p.read_bytes() for p in sorted(settings.data_dir.rglob("*"))
                    if p.is_file() and "secrets" not in p.parts and "keys" not in p.parts)
    assert MASKED.encode() in kept                           # the scan is there, its place masked
    assert GD[0].encode() not in kept and SPACED.encode() not in kept
