"""Everyday use from the command line and on paper (issue 13): what `issue` tells staff, empty
input, where `print` writes, warnings on foreign certificates outside their dates, the printed
card's times and advice, and foreign holders shown as EU / SMART apps show them."""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import time
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from adapters import foreign_rules, qr
from support.cli import run_cli
from support.paths import BIN, ROOT, load_vector_json
from residents import RESIDENTS


@pytest.mark.slow
def test_issue_reports_the_colour_the_rules_decided(data_dir):
    id_number, name, _ = RESIDENTS["440000"]
    args = ("issue", "--region", "440000", "--id-number", id_number, "--name", name,
            "--facts", json.dumps({"close_contact": True}))
    plain = run_cli(*args, data_dir=data_dir, check=True)
    assert plain.stdout.strip().startswith("YKM1:") and "\n" not in plain.stdout.strip()   # scripts keep working
    assert plain.stderr.startswith("red: close_contact")
    out = json.loads(run_cli(*args, "--json", data_dir=data_dir, check=True).stdout)
    assert out["status"] == "red" and out["reasons"] == ["close_contact"] and out["kind"] == "dynamic"
    assert out["holder"]["name_masked"] == "陈*英" and id_number not in json.dumps(out, ensure_ascii=False)
    verdict = json.loads(run_cli("verify", out["qr_text"], data_dir=data_dir).stdout)
    assert verdict["status"] == "red" and verdict["code_id"] == out["code_id"]


@pytest.mark.parametrize("stdin", ["", "  \n\t\n"])
def test_verify_of_empty_input_is_a_usage_error(data_dir, stdin):
    result = run_cli("verify", data_dir=data_dir, stdin=stdin)
    assert result.returncode == 2 and "no code given" in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_print_never_writes_into_the_source_tree_by_default(data_dir, tmp_path):
    id_number, name, _ = RESIDENTS["510000"]
    person = ("print", "--region", "510000", "--id-number", id_number, "--name", name)
    env = {**os.environ, "HEALTHCODE_DATA": str(data_dir)}
    run_cli("issue", "--region", "510000", "--id-number", id_number, "--name", name, data_dir=data_dir, check=True)
    before = set(ROOT.iterdir())
    in_repo = subprocess.run([str(BIN / "healthcode"), *person], cwd=ROOT, env=env, capture_output=True, text=True)
    assert in_repo.returncode == 2 and "--out" in in_repo.stderr and set(ROOT.iterdir()) == before
    readme = (ROOT / "README.md").read_bytes()
    tracked = run_cli(*person, "--out", str(ROOT / "README.md"), data_dir=data_dir)
    assert tracked.returncode == 2 and "file of the repository" in tracked.stderr
    assert (ROOT / "README.md").read_bytes() == readme
    elsewhere = subprocess.run([str(BIN / "healthcode"), *person], cwd=tmp_path, env=env, capture_output=True,
                               text=True, check=True)
    written = tmp_path / json.loads(elsewhere.stdout)["out"]
    assert written.parent == tmp_path and written.read_bytes()[:5] == b"%PDF-"


def test_anchors_add_warns_on_a_certificate_outside_its_dates(data_dir, tmp_path):
    from support.dcc import signer
    vector = load_vector_json("dcc", "DE", "1.json")                      # expired in 2022
    expired = tmp_path / "expired.der"
    expired.write_bytes(base64.b64decode(vector["TESTCTX"]["CERTIFICATE"]))
    _, future_der, _ = signer(at=int(time.time()) + 90 * 86400)            # valid from 60 days on
    future = tmp_path / "future.der"
    future.write_bytes(future_der)
    _, good_der, _ = signer(at=int(time.time()))
    good = tmp_path / "good.der"
    good.write_bytes(good_der)
    result = run_cli("anchors", "add", str(expired), str(future), str(good), data_dir=data_dir, check=True)
    out = json.loads(result.stdout)
    assert len(out["added"]) == 3 and len(out["warnings"]) == 2           # added all the same
    assert "expired on" in out["warnings"][0] and "not valid before" in out["warnings"][1]
    assert result.stderr.count("warning: ") == 2


def card_png(pdf: bytes, scale: float = 1.0) -> Image.Image:
    doc = pypdfium2.PdfDocument(pdf)
    image = doc[0].render(scale=scale).to_pil().convert("RGB")
    text = doc[0].get_textpage().get_text_range()
    doc.close()
    return image, text


@pytest.mark.slow
def test_a_printed_card_says_beijing_time_and_what_to_do_and_fills_its_page(data_dir, tmp_path):
    id_number, name, _ = RESIDENTS["510000"]
    out = tmp_path / "card.pdf"
    run_cli("issue", "--region", "510000", "--id-number", id_number, "--name", name, data_dir=data_dir, check=True)
    run_cli("print", "--region", "510000", "--id-number", id_number, "--name", name, "--status", "red",
            "--override-reason", "positive test reported by phone", "--out", str(out), data_dir=data_dir, check=True)
    image, text = card_png(out.read_bytes(), scale=1.2)
    assert "北京时间" in text and "12320" in text and "红码" in text
    assert id_number not in text and "张*" in text
    # The one card is laid out for its A4 page: its border spans most of the page.
    grey = image.convert("L").point(lambda v: 255 if v > 200 else 0)
    left, top, right, bottom = Image.eval(grey, lambda v: 255 - v).getbbox()
    assert (bottom - top) / image.height > 0.85 and (right - left) / image.width > 0.75
    (code,) = qr.decode_image(_png(image))
    verdict = json.loads(run_cli("verify", code, data_dir=data_dir).stdout)
    assert verdict["valid"] and verdict["status"] == "red" and verdict["kind"] == "offline"
    folder = Path(os.environ.get("HEALTHCODE_SCREENSHOTS") or tmp_path)
    card_png(out.read_bytes(), scale=0.9)[0].quantize(colors=32).save(folder / "card.png", optimize=True)


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_foreign_holders_show_the_transliterated_name_and_masked_birth_date(data_dir):
    """A real EU test certificate (dgc-testdata DE/1) at its own clock, through the CLI."""
    vector = load_vector_json("dcc", "DE", "1.json")
    line = json.dumps({"id": 1, "payload": vector["PREFIX"], "at": vector["TESTCTX"]["VALIDATIONCLOCK"],
                       "trust": [vector["TESTCTX"]["CERTIFICATE"]]})
    verdict = json.loads(run_cli("verify-batch", data_dir=data_dir, stdin=line + "\n", check=True).stdout)
    nam = vector["JSON"]["nam"]
    assert verdict["valid"] and verdict["details"]["holder"] == {
        "name_transliterated": f"{nam['fnt']}, {nam['gnt']}".replace("<", " "),
        "birth_date_masked": vector["JSON"]["dob"][:4] + "-**-**"}
    assert vector["JSON"]["dob"] not in json.dumps(verdict)
    assert [foreign_rules.masked_birth_date(d) for d in ("1964-08-12", "1964-08", "1964", "", None, "xx")] == \
        ["1964-**-**", "1964-**", "1964", "", "", ""]
