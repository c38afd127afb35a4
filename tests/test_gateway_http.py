"""End to end over real HTTP: ``healthcode serve`` in a subprocess, driven with requests.
Every response body is checked against the OpenAPI file."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from adapters import qr
import standard
from standard import trustlist
from support.waiting import wait_until
from support.cli import run_cli
from residents import RESIDENTS

ISSUE = {region: (id_number, name) for region, (id_number, name, _) in RESIDENTS.items()}
ID_TYPES = {region: id_type for region, (_, _, id_type) in RESIDENTS.items()}


def conforms(component: str, body) -> None:
    errors = list(standard.openapi_validator(component).iter_errors(body))
    assert not errors, [e.message for e in errors]


@pytest.fixture(scope="module")
def tokens(live_server, live_data):
    return json.loads(run_cli("tokens", data_dir=live_data, check=True).stdout)


def issue_http(live_server, tokens, region, **body):
    id_number, name = ISSUE[region]
    r = requests.post(f"{live_server.url}/v1/issuers/{region}/codes",
                      json={"id_number": id_number, "name": name,
                            "id_type": ID_TYPES.get(region, "resident"), **body},
                      headers={"Authorization": f"Bearer {tokens[region]}"}, timeout=10)
    assert r.status_code == 201, r.text
    conforms("IssueResponse", r.json())
    return r.json()


@pytest.mark.parametrize("region", sorted(ISSUE))
def test_issue_and_verify_over_http(live_server, tokens, region):
    issued = issue_http(live_server, tokens, region, status="yellow", png=True)
    r = requests.post(f"{live_server.url}/v1/verify", json={"payload": issued["qr_text"]}, timeout=10)
    assert r.status_code == 200
    verdict = r.json()
    conforms("Verdict", verdict)
    assert (verdict["valid"], verdict["status"], verdict["region"]) == (True, "yellow", region)
    assert verdict["holder"] == issued["holder"]
    # and the PNG the issuer returned scans to the same verdict
    r = requests.post(f"{live_server.url}/v1/verify", json={"image_b64": issued["png_b64"]}, timeout=10)
    assert r.json()["code_id"] == issued["code_id"]


def test_batch_keeps_order_ids_and_isolates_bad_items(live_server, tokens):
    good = issue_http(live_server, tokens, "440000")["qr_text"]
    items = [{"id": 1, "payload": good}, {"id": 2, "payload": good[:-3] + "AAA"},
             {"id": 3}, {"id": 4, "payload": "x" * 13000}, {"id": 5, "image_b64": "!!"},
             {"id": 6, "payload": good}]
    r = requests.post(f"{live_server.url}/v1/verify/batch", json={"items": items}, timeout=30)
    assert r.status_code == 200
    conforms("BatchResponse", r.json())
    results = r.json()["results"]
    assert [x["id"] for x in results] == [1, 2, 3, 4, 5, 6]
    assert [x["valid"] for x in results] == [True, False, False, False, False, True]
    assert results[1]["errors"][0]["code"] == "signature_invalid"
    assert results[2]["errors"][0]["code"] == "bad_request"


def test_batch_size_limit(live_server):
    r = requests.post(f"{live_server.url}/v1/verify/batch", json={"items": [{"payload": "x"}] * 501}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": "not json", "headers": {"Content-Type": "application/json"}}, 400, "bad_request"),
    ({"json": ["a", "list"]}, 400, "bad_request"),
    ({"json": {"payload": 42}}, 400, "bad_request"),
    ({"json": {"payload": "x", "place": "p" * 100}}, 400, "bad_request"),
    ({"json": {"image_b64": "%%%"}}, 400, "bad_request"),
    ({"data": b"x" * 9_000_000, "headers": {"Content-Type": "application/json"}}, 413, "payload_too_large"),
])
def test_bad_requests_get_stable_json_errors(live_server, kwargs, status, code):
    r = requests.post(f"{live_server.url}/v1/verify", timeout=30, **kwargs)
    assert r.status_code == status
    conforms("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == code


def test_unknown_route_and_method_are_json(live_server):
    r = requests.get(f"{live_server.url}/v1/nothing", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.get(f"{live_server.url}/v1/verify", timeout=5)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_junk_payloads_never_cause_500(live_server):
    junk = ["", "YKM1:", "YKM1:..", "CNHC1:" + "e30." * 3, "SSM:eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
            "TFJKT:" + "\u4e2d" * 5000, "BJJKB:a.b", "\ud800", "HC1:NCF", "shc:/5676"]
    for payload in junk:
        r = requests.post(f"{live_server.url}/v1/verify", json={"payload": payload}, timeout=10)
        assert r.status_code in (200, 400), (payload, r.status_code)
        assert r.json().get("valid") in (False, None)


def test_issuance_requires_the_regions_own_token(live_server, tokens):
    url = f"{live_server.url}/v1/issuers/440000/codes"
    body = {"id_number": ISSUE["440000"][0], "name": "陈秀英"}
    assert requests.post(url, json=body, timeout=5).json()["error"]["code"] == "unauthorized"
    r = requests.post(url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401
    r = requests.post(url, json=body, headers={"Authorization": f"Bearer {tokens['310000']}"}, timeout=5)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = requests.post(f"{live_server.url}/v1/issuers/999999/codes", json=body,
                      headers={"Authorization": f"Bearer {tokens['440000']}"}, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "region_unknown"


@pytest.mark.parametrize("body,code", [
    ({"id_number": "440106197209116425", "name": "陈秀英"}, "id_number_invalid"),
    ({"id_number": "440106197209116424", "name": ""}, "bad_request"),
    ({"id_number": "440106197209116424", "name": "陈秀英", "status": "purple"}, "bad_request"),
    ({"id_number": "440106197209116424", "name": "陈秀英", "facts": {"close_contact": "yes"}}, "bad_request"),
])
def test_issuance_input_errors(live_server, tokens, body, code):
    r = requests.post(f"{live_server.url}/v1/issuers/440000/codes", json=body,
                      headers={"Authorization": f"Bearer {tokens['440000']}"}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert "440106197209116425" not in r.text


def test_trust_list_over_http_is_signed_and_cacheable(live_server, tokens):
    r = requests.get(f"{live_server.url}/v1/trust-list", timeout=5)
    assert r.status_code == 200
    conforms("TrustListResponse", r.json())
    keys = requests.get(f"{live_server.url}/v1/trust-list/national-keys", timeout=5).json()
    conforms("Jwks", keys)
    trust = trustlist.parse(r.json()["jws"], keys)
    assert set(trust.regions) == set(ISSUE)
    again = requests.get(f"{live_server.url}/v1/trust-list", headers={"If-None-Match": r.headers["ETag"]}, timeout=5)
    assert again.status_code == 304


def test_regions_and_health(live_server):
    regions = requests.get(f"{live_server.url}/v1/regions", timeout=5).json()
    assert {r["code"] for r in regions} == set(ISSUE)
    health = requests.get(f"{live_server.url}/healthz", timeout=5).json()
    conforms("Health", health)


def test_checkpoint_page_is_served(live_server):
    r = requests.get(f"{live_server.url}/checkpoint", timeout=5)
    assert r.status_code == 200 and "健康码核验" in r.text and "/static/checkpoint.js" in r.text
    script = requests.get(f"{live_server.url}/static/checkpoint.js", timeout=5)      # its own script file
    assert script.status_code == 200 and "/v1/verify" in script.text


def test_scans_are_recorded_in_the_sqlite_file(live_server, live_data, tokens):
    import sqlite3
    issued = issue_http(live_server, tokens, "510000")
    requests.post(f"{live_server.url}/v1/verify",
                  json={"payload": issued["qr_text"], "place": "成都东站", "device": "gate-7"}, timeout=10)
    # scan events are written in groups, a few ms after the answer (store/scanqueue.py): wait
    # for the row up to a generous bound instead of reading the file the same instant

    def scan_row():
        with sqlite3.connect(live_data / "healthcode.sqlite3") as conn:
            return conn.execute("SELECT valid, region, status, place, device FROM scan_events WHERE code_id = ?",
                                (issued["code_id"],)).fetchone()

    row = wait_until(scan_row, timeout=5, interval=0.005)
    assert row == (1, "510000", "green", "成都东站", "gate-7")


def test_metrics_count_verifications_without_personal_data(live_server, tokens):
    issued = issue_http(live_server, tokens, "440000", status="red")
    requests.post(f"{live_server.url}/v1/verify", json={"payload": issued["qr_text"]}, timeout=10)
    requests.post(f"{live_server.url}/v1/verify", json={"payload": "nonsense"}, timeout=10)
    assert requests.get(f"{live_server.url}/metrics", timeout=5).status_code == 401
    operator = json.loads(run_cli("credentials", "add", "--role", "operator", "--id", "prometheus",
                                  data_dir=live_server.data, check=True).stdout)["token"]
    text = requests.get(f"{live_server.url}/metrics", headers={"Authorization": f"Bearer {operator}"},
                        timeout=5).text
    assert 'healthcode_verifications_total{format="yuekang",outcome="red"}' in text
    assert 'healthcode_verifications_total{format="unknown",outcome="format_unknown"}' in text
    assert ISSUE["440000"][0] not in text and "陈" not in text
