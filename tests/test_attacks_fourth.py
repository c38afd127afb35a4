"""The fourth round: attacks that got into a running gateway after issue 19's fixes, each run as
it was found, and refused or bounded since.

* an image Pillow opens but cannot decode or convert — a CIELAB TIFF, a PNG whose image data runs
  into a broken chunk — was a 500 with a stack trace (Pillow raises ``ValueError`` from
  ``convert`` and ``SyntaxError`` from ``load``), and any of Pillow's forty-odd formats (DDS,
  SPIDER, IM, …) reached its parser.
"""
from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from support.cli import run_cli
from support.live import LiveServer


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A threaded gateway, as `healthcode serve` runs it."""
    data = tmp_path_factory.mktemp("fourth")
    server = LiveServer(data)
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
