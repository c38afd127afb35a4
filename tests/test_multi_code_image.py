"""Several codes in one image (issue 11 part 4): a photo of a 4-up sheet printed by
``healthcode print --batch`` gives one verdict per card, over HTTP (``/v1/verify``, the batch) and
in the CLI (``verify --image``, ``verify-batch``); the four QR chunks of a SMART Health Card in one
image make one card.  Real PDFs rendered by PDFium, real QR images decoded by zxing-cpp."""
from __future__ import annotations

import base64
import csv
import io
import json
import random

import pytest
import requests
from PIL import Image

from support.cli import run_cli
from support.live import LiveServer
from support.paths import vectors_dir
from adapters import qr, shc
from residents import RESIDENTS

SHC_DIR = vectors_dir() / "shc"
SHEET_REGIONS = ("440000", "310000", "510000", "110000")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_page_png(pdf_path, dpi: int = 150) -> bytes:
    """The first page as a scanner (or a phone photo straight on) would give it."""
    import pypdfium2
    pdf = pypdfium2.PdfDocument(str(pdf_path))
    try:
        return png_bytes(pdf[0].render(scale=dpi / 72).to_pil())
    finally:
        pdf.close()


def sheet_of(texts, columns: int = 2, cell: int = 560) -> bytes:
    """QR codes pasted onto one white sheet, row by row."""
    rows = (len(texts) + columns - 1) // columns
    sheet = Image.new("L", (columns * cell, rows * cell), 255)
    for n, text in enumerate(texts):
        code = Image.open(io.BytesIO(qr.render_png(text, box_size=4))).convert("L")
        code.thumbnail((cell - 20, cell - 20))
        sheet.paste(code, ((n % columns) * cell + 10, (n // columns) * cell + 10))
    return png_bytes(sheet)


def shc_chunks() -> list[str]:
    return [(SHC_DIR / f"example-00-f-qr-code-numeric-value-{i}.txt").read_text().strip() for i in range(4)]


def shc_anchors() -> list[dict]:
    return json.loads((SHC_DIR / "issuer-jwks.json").read_text())["keys"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("multi-code")
    batch = data / "sheet.csv"
    with batch.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "id_number", "name"])
        for region in SHEET_REGIONS:
            id_number, name, _ = RESIDENTS[region]
            writer.writerow([region, id_number, name])
            run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, data_dir=data, check=True)
    run_cli("print", "--batch", str(batch), "--out", str(data / "sheet.pdf"), data_dir=data, check=True)
    server = LiveServer(data)
    yield {"data": data, "url": server.url, "sheet": pdf_page_png(data / "sheet.pdf")}
    server.stop()


def expected_formats(world) -> list[str]:
    """The sheet's cards in reading order: the CSV's order, two per row."""
    out = json.loads(run_cli("regions", data_dir=world["data"], check=True).stdout)
    by_code = {r["code"]: r["format"] for r in out}
    return [by_code[r] for r in SHEET_REGIONS]


def test_four_up_sheet_over_http(world):
    image_b64 = base64.b64encode(world["sheet"]).decode()
    r = requests.post(world["url"] + "/v1/verify", json={"image_b64": image_b64, "place": "care home"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] == 4 and len(body["codes"]) == 4
    assert all(v["valid"] and v["kind"] == "offline" for v in body["codes"]), body["codes"]
    assert [v["format"] for v in body["codes"]] == expected_formats(world)
    assert [v["region"] for v in body["codes"]] == list(SHEET_REGIONS)
    first = {k: v for k, v in body.items() if k not in ("codes", "found")}
    assert first == body["codes"][0]                      # the first code's fields stay top-level
    assert len({v["code_id"] for v in body["codes"]}) == 4

    batch = requests.post(world["url"] + "/v1/verify/batch", timeout=60,
                          json={"items": [{"id": "sheet", "image_b64": image_b64}, {"id": "text",
                                           "payload": qr.decode_image(world["sheet"])[1]}]}).json()["results"]
    assert batch[0]["id"] == "sheet" and batch[0]["found"] == 4 and len(batch[0]["codes"]) == 4
    assert "found" not in batch[1] and "codes" not in batch[1]       # text items keep their shape


def test_four_up_sheet_in_the_cli(world, tmp_path):
    (tmp_path / "sheet.png").write_bytes(world["sheet"])
    result = run_cli("verify", "--image", str(tmp_path / "sheet.png"), data_dir=world["data"])
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["found"] == 4 and [v["region"] for v in verdict["codes"]] == list(SHEET_REGIONS)
    tl, keys = tmp_path / "tl.jws", tmp_path / "keys.json"            # offline, a cached trust list
    run_cli("trust-list", "--out", str(tl), "--national-keys", str(keys), data_dir=world["data"], check=True)
    offline = run_cli("verify", "--image", str(tmp_path / "sheet.png"), "--trust-list", str(tl),
                      "--national-keys", str(keys), data_dir=tmp_path / "offline")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert [v["region"] for v in json.loads(offline.stdout)["codes"]] == list(SHEET_REGIONS)
    blank = tmp_path / "blank.png"
    blank.write_bytes(png_bytes(Image.new("L", (300, 300), 255)))
    nothing = run_cli("verify", "--image", str(blank), data_dir=world["data"])
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["found"] == 0
    line = json.dumps({"id": 7, "image_b64": base64.b64encode(world["sheet"]).decode()})
    out = run_cli("verify-batch", data_dir=world["data"], stdin=line + "\n", check=True)
    (batch,) = [json.loads(l) for l in out.stdout.splitlines()]
    assert batch["id"] == 7 and batch["found"] == 4 and all(v["valid"] for v in batch["codes"])


def test_chunked_smart_health_card_in_one_image_is_one_card(world, tmp_path):
    chunks = shc_chunks()
    random.Random(11).shuffle(chunks)                      # the chunks lie in any order on the page
    trust = shc_anchors()
    lines = [{"id": "card", "image_b64": base64.b64encode(sheet_of(chunks)).decode(), "trust": trust},
             {"id": "card+sheet-code", "trust": trust,
              "image_b64": base64.b64encode(sheet_of(chunks[:2] + [qr.decode_image(world["sheet"])[0]] + chunks[2:],
                                                     columns=3)).decode()},
             {"id": "three-chunks", "image_b64": base64.b64encode(sheet_of(chunks[:3])).decode(), "trust": trust}]
    out = run_cli("verify-batch", data_dir=world["data"], check=True,
                  stdin="".join(json.dumps(l) + "\n" for l in lines))
    card, mixed, partial = [json.loads(l) for l in out.stdout.splitlines()]
    assert card["found"] == 1 and card["valid"] and card["format"] == "shc", card
    assert card["codes"][0]["details"]["issuer"] == "https://spec.smarthealth.cards/examples/issuer"
    assert mixed["found"] == 2 and {v["format"] for v in mixed["codes"]} == {"shc", "yuekang"}
    assert all(v["valid"] for v in mixed["codes"]), mixed["codes"]
    assert partial["found"] == 1 and partial["valid"] is False
    assert "missing" in partial["errors"][0]["message"]


def test_unreadable_and_crowded_images(world):
    blank = base64.b64encode(png_bytes(Image.new("L", (400, 300), 255))).decode()
    body = requests.post(world["url"] + "/v1/verify", json={"image_b64": blank}, timeout=30).json()
    assert body["valid"] is False and body["found"] == 0 and body["codes"] == []
    assert body["errors"][0]["code"] == "image_unreadable"
    crowded = sheet_of([f"X{n}" for n in range(qr.MAX_CODES + 1)], columns=5, cell=150)
    assert len(qr.decode_image(sheet_of([f"X{n}" for n in range(6)], columns=3, cell=150))) == 6
    body = requests.post(world["url"] + "/v1/verify", timeout=30,
                         json={"image_b64": base64.b64encode(crowded).decode()}).json()
    assert body["found"] == 0 and body["errors"][0]["code"] == "payload_too_large", body


def test_chunk_grouping_and_reading_order():
    a = shc.qr_texts("a" * 40 + "." + "b" * 40 + "." + "c" * 40, chunks=2)
    b = shc.qr_texts("x" * 40 + "." + "y" * 40 + "." + "z" * 40, chunks=2)
    assert shc.group_chunks([a[0], "YKM1:abc", b[0], a[1], b[1]]) == \
        ["\n".join(a), "YKM1:abc", "\n".join(b)]             # the k-th chunk i/n → the k-th card
    assert shc.group_chunks(a[::-1] + ["YKM1:abc"]) == ["\n".join(a[::-1]), "YKM1:abc"]
    assert shc.group_chunks(["shc:/123", "shc:/456"]) == ["shc:/123", "shc:/456"]      # two whole cards
    texts = [f"R{n}" for n in range(6)]
    assert qr.decode_image(sheet_of(texts, columns=3, cell=200)) == texts
