"""The fourth round: attacks that got into a running gateway after issue 19's fixes, each run as
it was found, and refused or bounded since.

* an image Pillow opens but cannot decode or convert — a CIELAB TIFF, a PNG whose image data runs
  into a broken chunk — was a 500 with a stack trace (Pillow raises ``ValueError`` from
  ``convert`` and ``SyntaxError`` from ``load``), and any of Pillow's forty-odd formats (DDS,
  SPIDER, IM, …) reached its parser;
* a helper's (or operator's) ``kiosk_id`` was free text kept as it came in the never-purged audit
  log: a holder's name or ID number written there stayed in clear for good.
"""
from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import pytest
from PIL import Image

from residents import GD_ELDER
from support.cli import add_credential, run_cli
from support.live import LiveServer, call

GD = GD_ELDER.id_and_name


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A threaded gateway, as `healthcode serve` runs it, a resident of Guangdong, a token per role."""
    data = tmp_path_factory.mktemp("fourth")
    run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=data, check=True)
    server = LiveServer(data)
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


def test_a_device_id_is_kept_as_the_lookups_kiosk(gateway):
    body = {"id_number": GD[0], "name": GD[1], "kiosk_id": "desk-3.gz_1"}
    assert call(gateway, "POST", "/v1/assist/lookup", "helper", json=body).status_code == 200
    entries = call(gateway, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    assert [e["actor"].get("kiosk") for e in entries if e["action"] == "assisted_lookup"][-1] == "desk-3.gz_1"
