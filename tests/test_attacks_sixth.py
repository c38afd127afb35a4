"""The sixth round: attacks on what the earlier rounds left per process, on free text and names
typed through a Chinese input method, and on the edges of time — each run as it was found,
refused since.

* an anonymous client got the verification limit once per gunicorn worker: with ``make run``'s
  two workers, 1 200 verifications a minute instead of 600, each new connection landing on
  whichever worker accepted it (and ``deploy/``'s several instances on one host multiplied it
  again); a stranger's refused lookups were audited 30 a minute per worker.  Every process on a
  data directory now counts in one shared table of fixed size (``toolkit/minutecounts.py``);
* a holder's ID number typed into kept free text (a revocation reason, a checkpoint's place) as a
  Chinese input method types it — ideographic spaces, full-width hyphens, doubled separators,
  all of which the ID parser accepts as the same number — was kept in clear: the masking looked
  for ASCII spaces and hyphens only, one at a time;
* a two-character name whose first character carries an ideographic variation selector (how a
  household register writes a rare character) or a combining mark was masked ``李*明``: the mask
  counted code points, and the selector took the place of the hidden character;
* a code whose signed ``iat`` is past the year 9999 crashed the date in its refusal message: a
  ``malformed`` verdict and a decoder-crash log line for every scan; it is ``not_yet_valid``;
* with the PKCS#11 token lost, ``key_custody_unavailable`` told any caller — a verification is
  anyone's — the token's label and the module's path; the detail now goes to the log only;
* ``DELETE /v1/admin/anchors/{id}`` repeated an ID number typed as the anchor's id in its 404;
* an IPv6 /64 had a verification limit and a stranger's audit cap of its own, and a /48 (given
  away by tunnel brokers) is 65 536 of them: one holder verified 65 536 × 600 items a minute and
  wrote an audit entry per refused request without end.  The /64s of a /48 now share a limit.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from residents import GD_RESIDENT
from support.cli import add_credential
from support.live import LiveServer, call, config_with_limits

LIMIT = 40


def _in_one_minute(run):
    """``run()`` repeated until it starts and ends in one minute (limits count in minute windows):
    (its result, that minute's number — audit entries of an earlier attempt are of another)."""
    for _ in range(3):
        if time.time() % 60 > 40:
            time.sleep(61 - time.time() % 60)
        window = int(time.time()) // 60
        result = run()
        if int(time.time()) // 60 == window:
            return result, window
    raise AssertionError("three attempts each crossed a minute boundary")


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """``healthcode serve --workers 2`` (what ``make run`` serves) with an anonymous limit of 40."""
    data = tmp_path_factory.mktemp("sixth-workers")
    env = {"HEALTHCODE_CONFIG": str(config_with_limits(data, anonymous_verifications_per_minute=LIMIT))}
    server = LiveServer(data, env, args=("--workers", "2"))
    server.cred = {"auditor": add_credential("auditor", "aud-6", data_dir=data, env=env),
                   "operator": add_credential("operator", "ops-6", data_dir=data, env=env)}
    yield server
    server.stop()


def _each_on_a_new_connection(server, path: str, body: dict, count: int) -> list[int]:
    """``count`` requests at once, each on a connection of its own: gunicorn hands each to
    whichever worker accepts it first, so both workers answer some."""
    def one(_):
        return requests.post(server.url + path, json=body, headers={"Connection": "close"}, timeout=30).status_code
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _verified_by_the_worker_answering(server) -> int:
    text = requests.get(server.url + "/metrics", headers={"Authorization": f"Bearer {server.cred['operator']}",
                                                          "Connection": "close"}, timeout=30).text
    return round(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("healthcode_verifications_total{")))


def test_an_anonymous_client_has_one_verification_limit_across_every_worker(two_workers):
    statuses, _ = _in_one_minute(lambda: _each_on_a_new_connection(two_workers, "/v1/verify", {"payload": "x"},
                                                                   3 * LIMIT))
    assert statuses.count(200) == LIMIT and statuses.count(429) == 2 * LIMIT, statuses
    # both workers verified some of them (each keeps its counts in a file of its own pid), and
    # every scrape of /metrics shows the server's one total, whichever worker answers it
    metrics = two_workers.data / "run" / f"metrics-127.0.0.1-{two_workers.port}"
    counted = {f.name for f in metrics.iterdir() if f.name.startswith("counter_")}
    assert len(counted) >= 2, f"one worker answered every verification: {counted}"
    assert {_verified_by_the_worker_answering(two_workers) for _ in range(8)} == {LIMIT}
    # a batch weighs its items, in the same shared count
    r = requests.post(two_workers.url + "/v1/verify/batch", json={"items": [{"payload": "x"}]}, timeout=30)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"


def test_a_strangers_refused_lookups_are_audited_30_a_minute_across_every_worker(two_workers):
    statuses, minute = _in_one_minute(lambda: _each_on_a_new_connection(
        two_workers, "/v1/kiosk/lookup", {"id_number": GD_RESIDENT.id_number}, 90))
    assert statuses.count(401) == 30 and statuses.count(429) == 60, statuses
    entries = call(two_workers, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    assert sum(e["action"] == "kiosk_lookup" and e["actor"]["role"] == "unauthenticated" and e["at"] // 60 == minute
               for e in entries) == 30


def _count_in_a_process(path, key: str, times: int) -> None:
    from toolkit.minutecounts import SharedMinuteCounts
    table = SharedMinuteCounts(path)
    for _ in range(times):
        table.add(key, 7)
    table.close()


def test_processes_on_one_table_count_together_and_lose_nothing(tmp_path):
    import multiprocessing
    from toolkit.minutecounts import SharedMinuteCounts
    path = tmp_path / "minute-counts"
    table = SharedMinuteCounts(path)
    workers = [multiprocessing.get_context("fork").Process(target=_count_in_a_process, args=(path, "addr:a", 500))
               for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert table.add("addr:a", 7) == 1501            # every count of every process, none lost
    assert table.add("addr:a", 8) == 1                # a new minute starts from nothing
    table.close()


def test_a_flood_of_new_callers_neither_grows_the_table_nor_resets_a_heavy_caller(tmp_path):
    from toolkit.minutecounts import SharedMinuteCounts
    path = tmp_path / "minute-counts"
    table = SharedMinuteCounts(path, slots=1024, probes=8)
    size = path.stat().st_size
    assert table.add("addr:198.51.100.7", 1, 500) == 500
    for i in range(50_000):                           # fifty times the slots, one request each
        table.add(f"net:2001:db8:{i:x}::/64", 1)
    assert table.add("addr:198.51.100.7", 1) == 501
    assert path.stat().st_size == size
    table.close()
    # a file of another layout is left alone (another process may have it mapped)
    from toolkit.minutecounts import TableUnusable
    with pytest.raises(TableUnusable):
        SharedMinuteCounts(path, slots=2048)
    assert path.stat().st_size == size


# --- an ID number typed through a Chinese input method into kept free text ---------------------------
# What idcard.normalize accepts as one number, typed as a clerk's IME types it: ideographic spaces,
# full-width hyphens, full-width digits, separators doubled.
IME_TYPED = {
    "ideographic spaces": "440604\u30001972\u30000911\u30006429",
    "full-width hyphens": "440604\uff0d19720911\uff0d6429",
    "full-width digits and spaces": "\uff14\uff14\uff10\uff16\uff10\uff14\u3000\uff11\uff19\uff17\uff12"
                                    "\uff10\uff19\uff11\uff11\u3000\uff16\uff14\uff12\uff19",
    "doubled separators": "440604 - 19720911 - 6429",
}


def test_every_spelling_the_id_parser_accepts_is_masked_in_kept_text():
    from standard import idcard
    for name, typed in IME_TYPED.items():
        assert idcard.normalize(typed) == GD_RESIDENT.id_number, name
        assert idcard.mask_in_text(f"holder {typed} moved") == f"holder 4406**********6429 moved", name


def test_an_ime_typed_number_in_a_reason_or_a_place_is_kept_masked(service, settings, http):
    from issuers import make_person
    token = service.administration.issuer_tokens()["440000"]
    for typed in IME_TYPED.values():
        r = http.post("/v1/issuers/440000/revocations", headers={"Authorization": f"Bearer {token}"},
                      json={"id_number": GD_RESIDENT.id_number, "reason": f"holder {typed} moved"})
        assert r.status_code == 200, r.get_data(as_text=True)
    code = service.issuing.issue("440000", make_person(*GD_RESIDENT.id_and_name)).qr_text
    for typed in IME_TYPED.values():
        assert service.verification.verify(code, place=f"南站{typed}", device="gate-1").valid
    reasons = [e["detail"]["reason"] for e in service.audit.entries() if e["action"] == "revoke"]
    assert reasons == ["holder 4406**********6429 moved"] * len(IME_TYPED)
    service.close()
    kept = b"".join(p.read_bytes() for p in sorted(settings.data_dir.rglob("*"))
                    if p.is_file() and "secrets" not in p.parts and "keys" not in p.parts)
    for typed in IME_TYPED.values():
        assert typed.encode() not in kept
    assert "南站4406**********6429".encode() in kept


# --- a name's last character shown through a mark that belongs to the one before it ------------------
# A rare character in a household register is written with an ideographic variation selector
# (U+E0100…); a combining mark rides on its letter.  Each is part of the character before it.
TWO_CHARACTER_NAMES = {
    "an ideographic variation selector": "李\U000E0100明",
    "a standardized variation selector": "李\ufe00明",
    "a combining acute": "李\u0301明",
    "a Devanagari vowel sign": "द\u0940प",
}


@pytest.mark.parametrize("name", TWO_CHARACTER_NAMES.values(), ids=TWO_CHARACTER_NAMES.keys())
def test_a_two_character_name_with_a_mark_keeps_its_second_character_masked(service, name):
    from issuers import make_person
    from standard import mask_name
    masked = mask_name(name)
    assert masked == name[:-1] + "*" and name[-1] not in masked
    issued = service.issuing.issue("440000", make_person(GD_RESIDENT.id_number, name), status="green")
    assert issued.claims["name_masked"] == masked
    verdict = service.verification.verify(issued.qr_text).as_dict()
    assert verdict["valid"] and verdict["holder"]["name_masked"] == masked


def test_names_of_more_characters_keep_each_mark_with_its_character():
    from standard import mask_name
    assert mask_name("欧\U000E0100阳小明") == "欧\U000E0100**明"
    assert mask_name("张三丰\U000E0101") == "张*丰\U000E0101"
    assert mask_name("张三丰") == "张*丰" and mask_name("张三") == "张*" and mask_name("欧阳小明") == "欧**明"


# --- a signed time past the year 9999 ----------------------------------------------------------------
def test_a_code_dated_past_the_year_9999_is_not_yet_valid_never_a_decoder_crash(service, no_decoder_crash):
    """A region's own key signing ``iat`` = 2**40 (year 36812): the message naming when the code
    becomes valid crashed in the date formatting, answered ``malformed`` and logged as a decoder
    crash; it is ``not_yet_valid``."""
    import secrets
    import adapters
    from issuers import make_person
    for region in ("440000", "310000", "330000"):
        genuine = service.issuing.issue(region, make_person(*GD_RESIDENT.id_and_name), status="green")
        fmt = adapters.get(service.settings.region(region).format)
        for iat in (2**40, 253402300800, 10**15):
            claims = {**genuine.claims, "jti": secrets.token_urlsafe(12), "iat": iat, "exp": iat + 60}
            verdict = service.verification.verify(fmt.encode(claims, service.keystore.signer(region))).as_dict()
            assert [e["code"] for e in verdict["errors"]] == ["not_yet_valid"], (region, iat, verdict)
            assert "9999" in verdict["errors"][0]["message"]


# --- a lost signing token described to whoever asks ---------------------------------------------------
TOKEN_LABEL = "gd-rack7-hsm-prod"


def test_a_lost_token_is_named_to_operators_in_the_log_never_to_callers(tmp_path, monkeypatch, clock, caplog):
    """With the PKCS#11 token gone, an issuance (an issuer's credential) and a verification after a
    key revocation (anyone) answer ``key_custody_unavailable`` (503); the answer said "no PKCS#11
    token 'gd-rack7-hsm-prod' in the module /usr/lib/softhsm/libsofthsm2.so" — the token's label
    and the module's path told to any stranger.  Callers get the code and a plain message; the
    gateway's log keeps the detail for its operators."""
    import logging
    import subprocess
    import pkcs11
    from config.settings import load_settings
    from gateway import create_app
    from gateway.services import Services
    from support.codes import issue
    from support.softhsm import MODULE, PIN_ENV, soft_token
    token = soft_token(tmp_path / "softhsm", label=TOKEN_LABEL)
    token.load_in_this_process(monkeypatch)
    settings = load_settings(token.config(tmp_path, owners=["national", "440000"]), data_dir=tmp_path / "data")
    svc = Services(settings, clock=clock)
    try:
        code = issue(svc, "440000", kind="offline").qr_text
        http = create_app(svc).test_client()
        assert http.post("/v1/verify", json={"payload": code}).get_json()["valid"] is True
        subprocess.run(["softhsm2-util", "--delete-token", "--token", TOKEN_LABEL], check=True, capture_output=True,
                       env={"SOFTHSM2_CONF": str(token.conf), "PATH": "/usr/bin:/bin"})
        pkcs11.lib(MODULE).reinitialize()
        clock.advance(120)
        issuer = {"Authorization": f"Bearer {svc.credentials.issuer_tokens()['440000']}"}
        svc.trust.revoke_key("440000", svc.keystore.records("440000")[-1].kid, {"role": "data_manager", "id": "t"},
                             "token lost")
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            answers = [http.post("/v1/issuers/440000/codes", headers=issuer,
                                 json={"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name}),
                       http.post("/v1/verify", json={"payload": code}),
                       http.post("/v1/verify/batch", json={"items": [{"payload": code}]}),
                       http.get("/v1/trust-list")]
        for answer in answers:
            assert answer.status_code == 503, answer.get_data(as_text=True)
            error = answer.get_json()["error"]
            assert error["code"] == "key_custody_unavailable"
            for secret in (TOKEN_LABEL, MODULE, "softhsm", PIN_ENV, str(tmp_path)):
                assert secret not in answer.get_data(as_text=True), (secret, error)
        assert TOKEN_LABEL in caplog.text                 # the operators still learn which token
    finally:
        svc.close()


def test_removing_an_anchor_named_by_an_id_number_does_not_echo_it(service, http):
    token = service.administration.add_credential("data_manager", "dm-6", {"role": "data_manager", "id": "test"})
    r = http.delete(f"/v1/admin/anchors/{GD_RESIDENT.id_number}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert GD_RESIDENT.id_number not in r.get_data(as_text=True)
    assert "4406**********6429" in r.get_json()["error"]["message"]


# --- an IPv6 network of many /64s ---------------------------------------------------------------------
NETWORK_LIMIT = 30


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory):
    """A gateway believing X-Real-IP from 127.0.0.1 (as behind deploy/'s nginx): 10 verifications
    a minute per client, 30 per IPv6 /48."""
    data = tmp_path_factory.mktemp("sixth-proxy")
    env = {"HEALTHCODE_CONFIG": str(config_with_limits(data, anonymous_verifications_per_minute=10,
                                                       anonymous_verifications_per_ipv6_48_per_minute=NETWORK_LIMIT)),
           "HEALTHCODE_TRUSTED_PROXIES": "127.0.0.1"}
    server = LiveServer(data, env)
    server.cred = {"auditor": add_credential("auditor", "aud-6p", data_dir=data, env=env)}
    yield server
    server.stop()


def _from(server, client: str, path: str, body: dict) -> int:
    return call(server, "POST", path, headers={"X-Real-IP": client}, json=body).status_code


def test_the_64s_of_one_ipv6_48_share_a_verification_limit(behind_proxy):
    """A /48 is 65 536 /64s, and one is free for the asking (tunnel brokers hand them out): each /64
    had its own limit, so one holder of a /48 had 65 536 of them.  A /48 now has one limit too."""
    statuses, _ = _in_one_minute(lambda: [_from(behind_proxy, f"2001:db8:aa:{i:x}::1", "/v1/verify", {"payload": "x"})
                                          for i in range(1, NETWORK_LIMIT + 11)])
    assert statuses == [200] * NETWORK_LIMIT + [429] * 10, statuses
    assert _from(behind_proxy, "2001:db8:bbbb:1::1", "/v1/verify", {"payload": "x"}) == 200      # another /48
    assert _from(behind_proxy, "198.51.100.60", "/v1/verify", {"payload": "x"}) == 200          # IPv4: its address


def test_the_64s_of_one_ipv6_48_cannot_flood_the_audit_log(behind_proxy):
    statuses, minute = _in_one_minute(lambda: [_from(behind_proxy, f"2001:db8:cc:{i:x}::1", "/v1/kiosk/lookup",
                                                     {"id_number": GD_RESIDENT.id_number}) for i in range(1, 101)])
    assert statuses == [401] * 60 + [429] * 40, statuses
    entries = call(behind_proxy, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]
    assert sum(e["actor"]["id"].startswith("2001:db8:cc:") and e["at"] // 60 == minute for e in entries) == 60


def test_where_the_shared_table_cannot_be_made_each_process_still_counts(service, http, clock, caplog):
    """``minute-counts`` taken by something else (here a directory): the limits hold in the
    process's own memory, and the log says so once."""
    import logging
    (service.settings.data_dir / "minute-counts").mkdir()
    limit = service.settings.limits["anonymous_verifications_per_minute"]
    clock.to_minute_start()
    with caplog.at_level(logging.WARNING):
        first = http.post("/v1/verify/batch", json={"items": [{"payload": "x"}] * (limit // 2)})
        second = http.post("/v1/verify/batch", json={"items": [{"payload": "x"}] * (limit // 2)})
        third = http.post("/v1/verify", json={"payload": "x"})
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert caplog.text.count("per-minute limits counted per process") == 1


def test_a_count_after_the_table_is_closed_is_counted_in_memory_never_an_error(tmp_path):
    from gateway.limits import MinuteCounter, SharedTable
    shared = SharedTable(tmp_path)
    counter = MinuteCounter(clock=lambda: 600.0, shared=shared, name="verify")
    assert counter.add("addr:a") == (1, 60)
    table = shared.get()
    assert table is not None
    table.close()                                     # e.g. the services closing while a request runs
    assert counter.add("addr:a") == (1, 60)           # this process counts on, in its memory
    assert counter.add("addr:a") == (2, 60)
