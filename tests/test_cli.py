"""The ``healthcode`` console script, run as a user would."""
from __future__ import annotations

import base64
import json

import pytest

from adapters import qr
from support.cli import run_cli


@pytest.fixture
def cli_data(tmp_path):
    return tmp_path / "cli-data"


def test_regions(cli_data):
    out = json.loads(run_cli("regions", data_dir=cli_data, check=True).stdout)
    assert {"code": "440000", "name": "广东", "name_en": "Guangdong", "format": "yuekang"} in out


@pytest.mark.slow
def test_issue_png_then_verify_image(cli_data, tmp_path):
    png = tmp_path / "code.png"
    text = run_cli("issue", "--region", "510000", "--id-number", "510107199501013071", "--name", "张伟",
                   "--status", "red", "--png", str(png), data_dir=cli_data, check=True).stdout.strip()
    assert text.startswith("TFJKT:")
    assert qr.decode_image(png.read_bytes()) == [text]
    result = run_cli("verify", "--image", str(png), data_dir=cli_data)
    assert result.returncode == 0
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "red" and verdict["holder"]["name_masked"] == "张*"
    stdin_result = run_cli("verify", data_dir=cli_data, stdin=text)
    assert stdin_result.returncode == 0


@pytest.mark.slow
def test_verify_exit_codes(cli_data):
    assert run_cli("verify", "YKM1:nonsense", data_dir=cli_data).returncode == 1
    assert run_cli("verify", "--at", "not-a-time", "x", data_dir=cli_data).returncode == 2
    assert run_cli("verify", "--bogus", data_dir=cli_data).returncode == 2
    bad = run_cli("issue", "--region", "440000", "--id-number", "123", "--name", "x", data_dir=cli_data)
    assert bad.returncode == 2 and "id_number_invalid" in bad.stderr


@pytest.mark.slow
def test_offline_verify_with_exported_trust_list(cli_data, tmp_path):
    text = run_cli("issue", "--region", "440000", "--id-number", "440106197209116424", "--name", "陈秀英",
                   "--kind", "offline", data_dir=cli_data, check=True).stdout.strip()
    tl, keys = tmp_path / "trust.jws", tmp_path / "national.json"
    run_cli("trust-list", "--out", str(tl), "--national-keys", str(keys), data_dir=cli_data, check=True)
    empty = tmp_path / "no-data-here"           # the offline verifier has no keys, no store
    result = run_cli("verify", text, "--trust-list", str(tl), "--national-keys", str(keys), data_dir=empty)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["kind"] == "offline"
    assert not (empty / "keys").exists()


@pytest.mark.slow
def test_verify_batch_json_lines(cli_data, tmp_path):
    text = run_cli("issue", "--region", "310000", "--id-number", "310115193302201761", "--name", "王桂兰",
                   "--status", "green", data_dir=cli_data, check=True).stdout.strip()
    png_b64 = base64.b64encode(qr.render_png(text)).decode()
    lines = [
        {"id": "a", "payload": text},
        {"id": "b", "image_b64": png_b64},
        {"id": "c", "payload": text, "at": "2000-01-01T00:00:00Z"},
        {"id": "d", "payload": text, "at": "2999-01-01T00:00:00Z"},
        "this line is not json",
        {"id": "f", "payload": text, "trust": [12]},
    ]
    stdin = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    result = run_cli("verify-batch", data_dir=cli_data, stdin=stdin, check=True)
    out = [json.loads(l) for l in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c", "d", None, "f"]
    assert [o["valid"] for o in out] == [True, True, False, False, False, False]
    assert out[2]["errors"][0]["code"] == "not_yet_valid"
    assert out[3]["errors"][0]["code"] == "expired"
    assert out[4]["errors"][0]["code"] == "bad_request"
