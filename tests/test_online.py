"""Online codes (docs/standard.md §4.4) against real processes on loopback: an issuer process
(`healthcode serve`) whose status interface answers, a gateway process that resolves online
codes there over HTTP (kiosk, print, transcode), the CLI's verifier, and — for the failures a
checkpoint must survive — a small loopback relay in front of a second issuer process that is
slow, fails, or answers forged, unsigned, other-region or garbage answers.  Every failure is a
verdict error with its own code, never a colour; a QR naming an address the trust list does
not register is refused before anything is fetched."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from adapters import online, qr
from adapters.verifier import Verifier
from support.cli import run_cli
from support.live import LiveServer, free_port
from issuers.keys import KeyStore
from standard import jose, trustlist
from residents import GD_ELDER, GD_YOUNG
from support.codes import pdf_qr_texts

PERSON = {"id_number": GD_YOUNG.id_number, "name": GD_YOUNG.name}
FORMATS = ["national", "yuekang", "online"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def trust_of(server) -> trustlist.TrustList:
    """What a checkpoint holds: the server's signed trust list, checked against its national keys."""
    keys = requests.get(server.url + "/v1/trust-list/national-keys", timeout=5).json()
    return trustlist.parse(requests.get(server.url + "/v1/trust-list", timeout=5).json()["jws"], keys)


def issue(server, tokens, body, region="440000"):
    r = requests.post(f"{server.url}/v1/issuers/{region}/codes", json=body, headers=auth(tokens[region]),
                      timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def verifier(**options):
    """A checkpoint's verifier with its own answer cache (tests do not share one)."""
    return Verifier(FORMATS, options={"online": {"retries": 2, **options}})


def error_of(verdict) -> str:
    assert verdict.valid is False and verdict.status is None and verdict.holder is None, verdict
    return verdict.errors[0]["code"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An issuer process whose status interface is itself, and a gateway process (same region
    keys and store, as a province's two services) that asks the issuer over HTTP."""
    data = tmp_path_factory.mktemp("online-data")
    port = free_port()
    issuer_url = f"http://127.0.0.1:{port}"
    issuer = LiveServer(data, {"HEALTHCODE_ONLINE_URL": issuer_url}, port=port)
    gateway = LiveServer(data, {"HEALTHCODE_ONLINE_URL": issuer_url, "HEALTHCODE_ISSUER_URL": issuer_url})
    tokens = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)
    cred = {role: json.loads(run_cli("credentials", "add", "--role", role, "--id", f"{role}-1",
                                     *(["--kiosk-id", "kiosk-1"] if role == "kiosk" else []),
                                     data_dir=data, check=True).stdout)["token"]
            for role in ("kiosk", "operator")}
    yield {"data": data, "issuer": issuer, "gateway": gateway, "tokens": tokens, "cred": cred}
    gateway.stop()
    issuer.stop()


# --- the code and its resolution ------------------------------------------------------------------
def test_online_code_holds_only_the_status_url_and_resolves_over_http(world):
    issuer = world["issuer"]
    code = issue(issuer, world["tokens"], {**PERSON, "facts": {"close_contact": True}, "format": "online"})
    text = code["qr_text"]
    prefix = f"{issuer.url}/v1/status/440000/"
    assert code["format"] == "online" and text == prefix + code["code_id"]
    assert len(code["code_id"]) >= 16                       # 96 random bits
    for personal in (PERSON["id_number"], PERSON["id_number"][-4:], "李", code["holder"]["id_masked"]):
        assert personal not in text

    trust = trust_of(issuer)
    assert trust.online_url("440000") == issuer.url and trust.online_url("310000") is None
    verdict = verifier().verify(text, trust)                  # asks the issuer process over HTTP
    assert verdict.valid, verdict.errors
    signed = issue(issuer, world["tokens"], {**PERSON, "facts": {"close_contact": True}})
    same = verifier().verify(signed["qr_text"], trust)
    assert (verdict.format, verdict.region, verdict.code_id) == ("online", "440000", code["code_id"])
    for field in ("status", "reasons", "holder", "kind", "region"):
        assert getattr(verdict, field) == getattr(same, field), field     # the same verdict as any code
    assert verdict.status == "red" and verdict.details["online"]["status_url"] == issuer.url

    scanned = qr.decode_image(qr.render_png(text))            # a real QR image read back
    assert scanned == [text] and verifier().verify(scanned[0], trust).valid


def test_gateway_and_cli_resolve_at_the_issuer(world, tmp_path):
    issuer, gateway = world["issuer"], world["gateway"]
    code = issue(issuer, world["tokens"], {**PERSON, "status": "yellow", "format": "online"})
    over_http = requests.post(gateway.url + "/v1/verify", json={"payload": code["qr_text"]}, timeout=10).json()
    assert over_http["valid"] and over_http["format"] == "online" and over_http["status"] == "yellow"
    assert over_http["holder"] == code["holder"]

    (tmp_path / "trust.json").write_text(requests.get(gateway.url + "/v1/trust-list", timeout=5).text)
    (tmp_path / "keys.json").write_text(requests.get(gateway.url + "/v1/trust-list/national-keys", timeout=5).text)
    run = run_cli("verify", code["qr_text"], "--trust-list", str(tmp_path / "trust.json"), "--national-keys",
                  str(tmp_path / "keys.json"), "--state", str(tmp_path / "state.json"), data_dir=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["status"] == "yellow"


def test_unknown_code_id_and_revoked_code_are_refused(world):
    issuer, tokens = world["issuer"], world["tokens"]
    trust = trust_of(issuer)
    unknown = f"{issuer.url}/v1/status/440000/NeverIssuedCode0"
    assert error_of(verifier().verify(unknown, trust)) == "code_unknown"

    person = {"id_number": GD_ELDER.id_number, "name": GD_ELDER.name}
    code = issue(issuer, tokens, {**person, "status": "green", "format": "online"})
    assert verifier().verify(code["qr_text"], trust).valid
    r = requests.post(f"{issuer.url}/v1/issuers/440000/revocations", json=person,
                      headers=auth(tokens["440000"]), timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] >= 1
    gone = requests.get(code["qr_text"], timeout=5)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "code_revoked"
    assert error_of(verifier().verify(code["qr_text"], trust)) == "code_revoked"
    # offline verifiers learn it from the next trust list as for any code
    assert code["code_id"] in trust_of(issuer).revoked_jti
    gateway = requests.post(world["gateway"].url + "/v1/verify", json={"payload": code["qr_text"]}, timeout=10)
    assert gateway.json()["errors"][0]["code"] == "code_revoked" and gateway.json()["status"] is None


def test_status_interface_answers_only_what_it_issued(world):
    url = world["issuer"].url
    for path in ("/v1/status/440000/short", "/v1/status/440000/NeverIssuedCode0", "/v1/status/999999/NeverIssuedCode0"):
        r = requests.get(url + path, timeout=5)
        assert r.status_code == 404 and r.json()["error"]["code"] in ("not_found", "region_unknown"), path
    code = issue(world["issuer"], world["tokens"], {**PERSON, "status": "green", "format": "online"})
    elsewhere = code["qr_text"].replace("/440000/", "/110000/")
    assert requests.get(elsewhere, timeout=5).status_code == 404      # a code id is its region's only
    r = requests.post(f"{url}/v1/issuers/310000/codes", json={**PERSON, "format": "online"},
                      headers=auth(world["tokens"]["310000"]), timeout=5)
    assert r.status_code == 400 and "online" in r.json()["error"]["message"]


# --- kiosks, transcoding, printing ------------------------------------------------------------------
def test_kiosk_hands_out_an_online_code(world):
    person = {"id_number": GD_ELDER.id_number, "name": GD_ELDER.name}
    issue(world["issuer"], world["tokens"], {**person, "status": "yellow"})       # the region knows them
    r = requests.post(world["gateway"].url + "/v1/kiosk/lookup?png=1", headers=auth(world["cred"]["kiosk"]),
                      json={"id_number": person["id_number"], "kiosk_id": "kiosk-1", "format": "online"},
                      timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] and body["format"] == "online" and body["status"] == "yellow"
    assert body["qr_text"].startswith(world["issuer"].url + "/v1/status/440000/")
    import base64
    (shown,) = qr.decode_image(base64.b64decode(body["png_b64"]))
    assert verifier().verify(shown, trust_of(world["issuer"])).status == "yellow"


def test_transcoding_resolves_an_online_code_first_and_can_make_one(world):
    gateway, operator = world["gateway"], auth(world["cred"]["operator"])
    code = issue(world["issuer"], world["tokens"], {**PERSON, "facts": {"close_contact": True}, "format": "online"})
    r = requests.post(gateway.url + "/v1/transcode", headers=operator,
                      json={"payload": code["qr_text"], "target_region": "820000"}, timeout=10)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["source"]["format"] == "online" and out["source"]["code_id"] == code["code_id"]
    assert out["provenance"]["format"] == "online" and out["status"] == "red"
    back = requests.post(gateway.url + "/v1/transcode", headers=operator, timeout=10,
                         json={"payload": out["qr_text"], "target_region": "440000", "format": "online"})
    assert back.status_code == 201, back.text
    again = verifier().verify(back.json()["qr_text"], trust_of(world["issuer"]))
    assert again.valid and again.format == "online" and again.claims["prov"]["origin_jti"] == code["code_id"]
    fake = code["qr_text"][:-4] + "0000"
    refused = requests.post(gateway.url + "/v1/transcode", headers=operator, timeout=10,
                            json={"payload": fake, "target_region": "820000"})
    assert refused.status_code == 422 and "code_unknown" in refused.json()["error"]["message"]


def test_printed_online_card_verifies_at_the_issuer(world, tmp_path):
    issue(world["issuer"], world["tokens"], PERSON)                  # its issuer has a record of the person
    r = requests.post(world["gateway"].url + "/v1/print", headers=auth(world["tokens"]["440000"]), timeout=20,
                      json={"people": [{**PERSON, "region": "440000", "status": "green"}], "format": "online",
                            "override_reason": "released by the health commission"})
    assert r.status_code == 200 and r.content[:5] == b"%PDF-", r.text[:300]
    (tmp_path / "card.pdf").write_bytes(r.content)
    ((text,),) = pdf_qr_texts(tmp_path / "card.pdf", tmp_path)
    assert text.startswith(world["issuer"].url + "/v1/status/440000/")
    verdict = verifier().verify(text, trust_of(world["issuer"]))
    assert verdict.valid and verdict.kind == "offline" and verdict.status == "green"
    refused = requests.post(world["gateway"].url + "/v1/print", headers=auth(world["cred"]["operator"]), timeout=20,
                            json={"people": [{**PERSON, "region": "310000"}], "format": "online"})
    assert refused.status_code == 400


def test_a_sheet_of_printed_online_cards_gives_one_verdict_per_card(world, tmp_path):
    """A photo of a care home's sheet: every online card on it is asked of its region."""
    import io
    import pypdfium2
    people = [{**PERSON, "region": "440000", "status": "green"},
              {"id_number": "440305193606300643", "name": "陈秀英", "region": "440000", "status": "yellow"}]
    for person in people:
        issue(world["issuer"], world["tokens"], {k: person[k] for k in ("id_number", "name")})
    r = requests.post(world["gateway"].url + "/v1/print", headers=auth(world["tokens"]["440000"]), timeout=20,
                      json={"people": people, "layout": "sheet", "format": "online",
                            "override_reason": "care home list checked by the issuer"})
    assert r.status_code == 200, r.text[:300]
    pdf = pypdfium2.PdfDocument(r.content)
    buffer = io.BytesIO()
    pdf[0].render(scale=150 / 72).to_pil().save(buffer, format="PNG")
    pdf.close()
    result = verifier().verify_image_codes(buffer.getvalue(), trust_of(world["issuer"]))
    assert result.found == 2 and result.valid
    assert sorted(v.status for v in result.verdicts) == ["green", "yellow"]
    assert {v.format for v in result.verdicts} == {"online"}


# --- SSRF: only the registered address is ever asked -----------------------------------------------
class Relay:
    """A loopback HTTP server standing where a region registered its status interface: it
    forwards to the real issuer (``upstream``) or does what a test tells it."""

    def __init__(self, upstream: str | None = None):
        self.upstream, self.hits, self.respond, self.delay = upstream, [], None, 0.0
        self.finished = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                relay.hits.append(self.path)
                time.sleep(relay.delay)
                status, ctype, body = relay.respond(self.path) if relay.respond else relay.forward(self.path)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    if status in (301, 302):
                        self.send_header("Location", f"{relay.upstream}{self.path}")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass                    # the verifier gave up waiting, as it should
                relay.finished.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()   # quick shutdown

    def forward(self, path):
        r = requests.get(self.upstream + path, timeout=5)
        return r.status_code, r.headers.get("Content-Type", ""), r.content

    def answer_with(self, status=200, body=b"", ctype="application/json"):
        self.respond = lambda path: (status, ctype, body if isinstance(body, bytes) else json.dumps(body).encode())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def relayed(tmp_path_factory):
    """A second issuer process that registered the relay's address as its status interface."""
    data = tmp_path_factory.mktemp("online-relayed")
    relay = Relay()
    issuer = LiveServer(data, {"HEALTHCODE_ONLINE_URL": relay.url})
    relay.upstream = issuer.url
    tokens = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)
    yield {"relay": relay, "issuer": issuer, "tokens": tokens, "data": data, "trust": trust_of(issuer)}
    issuer.stop()
    relay.stop()


@pytest.fixture
def relay(relayed):
    r = relayed["relay"]
    r.hits.clear()
    r.respond, r.delay = None, 0.0
    r.finished.clear()
    return r


def relayed_code(relayed, **body):
    return issue(relayed["issuer"], relayed["tokens"], {**PERSON, "status": "green", "format": "online", **body})


def test_an_unregistered_origin_is_refused_without_a_request(relayed, relay):
    code = relayed_code(relayed)
    trust = relayed["trust"]
    assert verifier().verify(code["qr_text"], trust).valid and len(relay.hits) == 1
    relay.hits.clear()
    elsewhere = Relay(relayed["issuer"].url)          # would answer genuinely, if it were asked
    try:
        code_id, port = code["code_id"], relay.url.rsplit(":", 1)[1]
        attempts = {
            f"{elsewhere.url}/v1/status/440000/{code_id}": "origin_unregistered",
            f"{relayed['issuer'].url}/v1/status/440000/{code_id}": "origin_unregistered",
            f"http://169.254.169.254/v1/status/440000/{code_id}": "origin_unregistered",
            f"http://localhost:{port}/v1/status/440000/{code_id}": "origin_unregistered",
            f"https://127.0.0.1:{port}/v1/status/440000/{code_id}": "origin_unregistered",
            f"{relay.url}/other/v1/status/440000/{code_id}": "origin_unregistered",
            f"{relay.url}/v1/status/310000/{code_id}": "origin_unregistered",    # 310000 has none
            f"http://127.0.0.1:{port}@{elsewhere.url[7:]}/v1/status/440000/{code_id}": "malformed",
            f"{relay.url}/v1/status/440000/{code_id}?next=http://169.254.169.254/": "malformed",
            f"{relay.url}/v1/status/440000/../../admin": "malformed",
            f"http://127.0.0.1:99999/v1/status/440000/{code_id}": "malformed",
        }
        for text, expected in attempts.items():
            assert error_of(verifier().verify(text, trust)) == expected, text
        assert relay.hits == [] and elsewhere.hits == []
    finally:
        elsewhere.stop()


# --- the issuer down, slow, failing ----------------------------------------------------------------
def test_issuer_down_is_a_verdict_error_not_a_colour(tmp_path):
    port = free_port()
    issuer = LiveServer(tmp_path, {"HEALTHCODE_ONLINE_URL": f"http://127.0.0.1:{port}"}, port=port)
    try:
        tokens = json.loads(run_cli("tokens", data_dir=tmp_path, check=True).stdout)
        code = issue(issuer, tokens, {**PERSON, "status": "green", "format": "online"})
        trust = trust_of(issuer)
        assert verifier().verify(code["qr_text"], trust).valid
    finally:
        issuer.stop()
    verdict = verifier().verify(code["qr_text"], trust)          # connection refused
    assert error_of(verdict) == "issuer_unavailable" and "440000" in verdict.errors[0]["message"]


def test_slow_issuer_times_out_without_retrying_the_read(relayed, relay):
    code = relayed_code(relayed)
    relay.delay = 3.0
    verdict = verifier(read_timeout=0.3, retries=2).verify(code["qr_text"], relayed["trust"])
    assert error_of(verdict) == "issuer_unavailable"
    assert not relay.finished.is_set()          # the verdict came while the issuer was still thinking
    assert len(relay.hits) == 1                  # a slow answer is not asked again


def test_failing_issuer_is_retried_a_bounded_number_of_times(relayed, relay):
    code = relayed_code(relayed)
    relay.answer_with(503, {"error": {"code": "internal", "message": "down"}})
    assert error_of(verifier(retries=2).verify(code["qr_text"], relayed["trust"])) == "issuer_unavailable"
    assert len(relay.hits) == 3


# --- answers that are not the region's word ---------------------------------------------------------
def _answer(relayed, code) -> str:
    return requests.get(f"{relayed['issuer'].url}/v1/status/440000/{code['code_id']}", timeout=5).json()["jws"]


def _resign(claims: dict, signer, typ="hc-status+jwt", kid=None) -> str:
    body = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    return jose.encode(body, {"alg": signer.alg, "kid": kid or signer.kid, "typ": typ}, signer.private_key)


def test_forged_unsigned_and_other_region_answers_are_unverifiable(relayed, relay):
    code, other = relayed_code(relayed), relayed_code(relayed)
    genuine = _answer(relayed, code)
    header, payload, signature = genuine.split(".")
    claims = json.loads(jose.b64url_decode(payload))
    keys = KeyStore(relayed["data"])
    shanghai = keys.signer("310000")
    stranger = jose.generate_private_key("ES256")

    class Stranger:
        alg, kid, private_key = "ES256", "notOnTheTrustList", stranger

    turned_green = {**claims, "status": "green", "reasons": []}
    forgeries = {
        "unsigned (alg none)": jose.b64url_encode(json.dumps(
            {"alg": "none", "kid": json.loads(jose.b64url_decode(header))["kid"], "typ": "hc-status+jwt"}).encode())
            + "." + payload + ".",
        "altered payload": header + "." + jose.b64url_encode(json.dumps(turned_green).encode()) + "." + signature,
        "key not on the trust list": _resign(claims, Stranger),
        "another region's key and region": _resign({**claims, "region": "310000"}, shanghai),
        "another region's key, this region": _resign(claims, shanghai),
        "a signed code, not a status answer": _resign(claims, keys.signer("440000"), typ="JWT"),
        "another code's genuine answer": _answer(relayed, other),
    }
    for label, jws in forgeries.items():
        relay.answer_with(200, {"jws": jws})
        verdict = verifier(cache_seconds=0).verify(code["qr_text"], relayed["trust"])
        assert error_of(verdict) == "status_unverifiable", label
    relay.respond = None
    assert verifier().verify(code["qr_text"], relayed["trust"]).valid       # the genuine one still passes


@pytest.mark.parametrize("status, body, ctype", [
    (200, b"<html>hello</html>", "text/html"),
    (200, {"status": "green"}, "application/json"),
    (200, {"jws": "not.a.jws"}, "application/json"),
    (200, {"jws": ["x"]}, "application/json"),
    (200, b"[" * 20000, "application/json"),
    (200, {"jws": "x" * 20000}, "application/json"),
    (200, {"jws": "x" * 5000}, "application/json"),
    (302, b"", "text/plain"),                    # a redirect, even to the real issuer, is not followed
    (404, b"gone", "text/plain"),
    (400, {"error": {"code": "bad_request", "message": "?"}}, "application/json"),
])
def test_garbage_answers_are_unverifiable(relayed, relay, status, body, ctype):
    code = relayed_code(relayed)
    relay.answer_with(status, body, ctype)
    assert error_of(verifier().verify(code["qr_text"], relayed["trust"])) == "status_unverifiable"


def test_a_replayed_answer_of_a_revoked_code_is_refused(relayed, relay):
    """The issuer no longer vouches for a withdrawn code; a relay replaying the old signed answer
    meets the trust list's revocation as any code does."""
    code = relayed_code(relayed)
    genuine = _answer(relayed, code)
    r = requests.post(f"{relayed['issuer'].url}/v1/issuers/440000/revocations", json=PERSON,
                      headers=auth(relayed["tokens"]["440000"]), timeout=10)
    assert r.status_code == 200
    assert error_of(verifier().verify(code["qr_text"], relayed["trust"])) == "code_revoked"     # 410
    relay.answer_with(200, {"jws": genuine})
    assert error_of(verifier().verify(code["qr_text"], trust_of(relayed["issuer"]))) == "code_revoked"


# --- the short cache ---------------------------------------------------------------------------------
def test_answers_are_cached_for_seconds_in_a_bounded_cache(relayed, relay):
    now = [1000.0]
    check = verifier(cache_seconds=10, cache_entries=2, clock=lambda: now[0])
    codes = [relayed_code(relayed) for _ in range(3)]
    trust = relayed["trust"]
    assert check.verify(codes[0]["qr_text"], trust).valid and check.verify(codes[0]["qr_text"], trust).valid
    assert len(relay.hits) == 1
    now[0] += 11
    assert check.verify(codes[0]["qr_text"], trust).valid and len(relay.hits) == 2
    for code in codes:
        assert check.verify(code["qr_text"], trust).valid
    client = next(a for a in check.adapters if a.name == "online").client
    assert client.cache_size() == 2
    relay.answer_with(503, b"", "text/plain")
    fresh = relayed_code(relayed)
    asked = len(relay.hits)
    assert error_of(check.verify(fresh["qr_text"], trust)) == "issuer_unavailable"
    assert len(relay.hits) == asked + 3                     # one try and two retries
    relay.respond = None
    # a region that just failed is not asked again for a few seconds (fail fast, do not hammer)
    assert error_of(check.verify(fresh["qr_text"], trust)) == "issuer_unavailable"
    assert len(relay.hits) == asked + 3
    now[0] += 6                                             # then it is, and errors were not cached
    assert check.verify(fresh["qr_text"], trust).valid and len(relay.hits) == asked + 4


def test_online_url_must_be_a_plain_http_origin(tmp_path, monkeypatch):
    from standard.errors import ConfigInvalid
    from config.settings import load_settings
    monkeypatch.setenv("HEALTHCODE_ONLINE_URL", "http://user:pw@example.org/?x=1")
    with pytest.raises(ConfigInvalid):
        load_settings(data_dir=tmp_path)
    monkeypatch.setenv("HEALTHCODE_ONLINE_URL", "https://hc.example.org/gd/")
    region = load_settings(data_dir=tmp_path).region("440000")
    assert region.online_url == "https://hc.example.org/gd"
    assert online.ADAPTER.status_url(region.online_url, "440000", "abcdefgh") == \
        "https://hc.example.org/gd/v1/status/440000/abcdefgh"
