"""City issuers under their province's delegation (docs/standard.md §7.1), in-process: the chain
every verifier checks, forged and withdrawn delegations, the data manager's HTTP interface and
its audit entries.  The same chain over a real server, the CLI offline and the checkpoint page in
Chromium: tests/test_delegation_live.py."""
from __future__ import annotations

import pytest

import adapters
from issuers import Person
from residents import BJ_RESIDENT, GD_RESIDENT, GZ_RESIDENT, SZ_ELDER
from standard import delegation, jose, trustlist
from support.clock import Clock
from support.delegations import CITY, FORGERIES, OTHER_CITY, PROVINCE, city_entry
from support.delegations import forged as support_forged, relisted as support_relisted

DM = {"role": "data_manager", "id": "dm-test"}


@pytest.fixture
def svc(service):
    return service


@pytest.fixture
def client(http):
    return http


def person(resident) -> Person:
    return Person(resident.id_type, resident.id_number, resident.name)


def issue(svc, region=CITY, resident=GZ_RESIDENT, kind="offline"):
    return svc.issuing.issue(region, person(resident), status="green", kind=kind)


def errors(verdict) -> list[str]:
    return [e["code"] for e in verdict.as_dict()["errors"]]


def relisted(svc, change) -> trustlist.TrustList:
    """The current trust list with ``change`` applied, signed again by the real national key."""
    token = support_relisted(svc.trust.trust_list().payload, change, svc.keystore.signer("national"))
    return trustlist.parse(token, svc.trust.national_jwks(), svc.now())


def forged(svc, signer_owner: str, **changes) -> str:
    return support_forged(svc.keystore, int(svc.now()), signer_owner, **changes)


def _set(**members):
    return lambda entry, payload: entry.update(members)


# --- the chain -----------------------------------------------------------------------------------
def test_a_city_code_verifies_under_its_provinces_delegation(svc):
    code = issue(svc)
    verdict = svc.verification.verify(code.qr_text)
    assert verdict.valid and verdict.region == CITY, verdict.as_dict()
    entry = city_entry(svc.trust.trust_list().payload)
    assert entry["parent"] == PROVINCE and entry["delegation_status"] == "active"
    parsed = jose.parse(entry["delegation"])
    assert parsed.typ == "hc-delegation+jwt"
    assert svc.trust.trust_list().key(parsed.kid).region == PROVINCE       # signed by Guangdong's key
    grant = delegation.check_entry(entry, svc.trust.trust_list())
    assert (grant.city, grant.parent, grant.areas) == (CITY, PROVINCE, ("4401",))
    assert set(grant.kinds) == {"dynamic", "offline"}
    assert svc.verification.verify(issue(svc, kind="dynamic").qr_text).valid
    assert svc.verification.verify(issue(svc, PROVINCE, GD_RESIDENT).qr_text).valid     # the province needs none
    assert svc.verification.verify(issue(svc, OTHER_CITY, SZ_ELDER).qr_text).valid


def test_a_city_issues_only_for_its_delegated_areas(svc):
    """A Shenzhen holder (4403) is outside Guangzhou's delegation: Guangzhou's issuing service
    refuses, and a code its key signs anyway is refused by the verifier.  A passport holder
    carries no area."""
    from standard.errors import DelegationInvalid
    with pytest.raises(DelegationInvalid, match="only for residents of its area"):
        issue(svc, resident=SZ_ELDER)
    issuer = svc.issuing.issuer(CITY)
    signed = issuer.sign(issuer.claims(person(SZ_ELDER), "green", [], "offline", int(svc.now()), None), None)
    assert errors(svc.verification.verify(signed.qr_text)) == ["delegation_invalid"]
    passport = Person("passport", "E12345678", GZ_RESIDENT.name)
    assert svc.verification.verify(svc.issuing.issue(CITY, passport, status="green", kind="offline").qr_text).valid


def test_a_city_carries_a_transcoded_code_only_for_its_own_areas_residents(svc):
    """A transcoded code is covered by the area rule too (``prov`` is the city's own word, it
    proves nothing): a Guangzhou resident's code from the province moves into Guangzhou; a Beijing
    resident's is refused up front (``delegation_invalid``, nothing issued) — the province
    carries it; the kind and validity rules still hold."""
    from standard.errors import DelegationInvalid
    beijing = svc.issuing.issue("110000", person(BJ_RESIDENT), status="green", kind="offline")
    with pytest.raises(DelegationInvalid, match="transcode this code into 440000"):
        svc.issuing.transcode(beijing.qr_text, CITY)
    assert svc.verification.verify(svc.issuing.transcode(beijing.qr_text, PROVINCE)[0].qr_text).valid
    home = svc.issuing.issue(PROVINCE, person(GZ_RESIDENT), status="green", kind="offline")
    moved, _ = svc.issuing.transcode(home.qr_text, CITY)
    verdict = svc.verification.verify(moved.qr_text)
    assert verdict.valid and verdict.region == CITY, verdict.as_dict()
    svc.trust.withdraw_delegation(CITY, DM)
    assert errors(svc.verification.verify(moved.qr_text)) == ["delegation_withdrawn"]


def test_a_city_key_never_signs_for_its_province_or_another_city(svc):
    city_signer = svc.issuing.issuer(CITY).signer
    for fmt in (adapters.get(svc.settings.region(CITY).format), adapters.get("yuekang"), adapters.get("national")):
        province_claims = issue(svc, PROVINCE, GD_RESIDENT).claims
        assert errors(svc.verification.verify(fmt.encode(province_claims, city_signer))) == ["issuer_mismatch"]
        other_city = {**issue(svc, OTHER_CITY, SZ_ELDER).claims}
        assert errors(svc.verification.verify(fmt.encode(other_city, city_signer))) == ["issuer_mismatch"]
    fmt = adapters.get(svc.settings.region(CITY).format)
    # and the province's key does not sign the city's codes either
    city_claims = issue(svc).claims
    assert errors(svc.verification.verify(fmt.encode(city_claims, svc.issuing.issuer(PROVINCE).signer))) \
        == ["issuer_mismatch"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_or_uncovering_delegation_is_refused(svc, forgery):
    text = issue(svc).qr_text
    valid = relisted(svc, lambda entry, payload: None)
    assert svc.verification.verifier.verify(text, valid, int(svc.now())).valid      # the re-signing alone is fine
    trust = relisted(svc, FORGERIES[forgery](svc.keystore, int(svc.now())))
    assert errors(svc.verification.verifier.verify(text, trust, int(svc.now()))) == ["delegation_invalid"]


def test_online_codes_need_online_in_the_kinds():
    """A city's signed status answer (§4.4) is an online code: covered only when ``online`` is delegated."""
    from standard.errors import DelegationInvalid
    grant = delegation.Grant(CITY, PROVINCE, ("4401",), ("dynamic", "offline"), 0, 2_000_000_000, 0, "kid")
    code = {"kind": "dynamic", "iat": 1_800_000_000, "id_type": "resident", "id_masked": "4401**********0000"}
    delegation.check_code(grant, code, "suikang", 1_800_000_000)
    with pytest.raises(DelegationInvalid, match="online"):
        delegation.check_code(grant, code, "online", 1_800_000_000)
    online = delegation.Grant(CITY, PROVINCE, ("4401",), ("dynamic", "online"), 0, 2_000_000_000, 0, "kid")
    delegation.check_code(online, code, "online", 1_800_000_000)
    with pytest.raises(DelegationInvalid, match="offline"):
        delegation.check_code(online, {**code, "kind": "offline"}, "suikang", 1_800_000_000)


def test_a_delegation_covers_the_codes_issue_time_and_now(svc):
    """Validity at the code's issue time *and* now: a cached list whose delegation ended refuses
    a code issued inside it; a delegation that began after the code was issued refuses it too."""
    code = issue(svc).qr_text                                    # offline: lives 7 days
    now = int(svc.now())
    verifier = svc.verification.verifier
    ended = relisted(svc, _set(delegation=forged(svc, PROVINCE, nbf=now - 86400, exp=now + 600)))
    assert verifier.verify(code, ended, now).valid
    assert errors(verifier.verify(code, ended, now + 3600)) == ["delegation_invalid"]
    later = relisted(svc, _set(delegation=forged(svc, PROVINCE, nbf=now + 600, exp=now + 86400)))
    assert errors(verifier.verify(code, later, now + 3600)) == ["delegation_invalid"]
    svc.clock.advance(3600)
    assert verifier.verify(issue(svc).qr_text, later, now + 3600).valid


# --- withdraw and restore ------------------------------------------------------------------------
def test_withdrawn_city_codes_are_refused_and_verify_again_once_restored(svc, tmp_path):
    codes = [issue(svc).qr_text, issue(svc, kind="dynamic").qr_text]
    province = issue(svc, PROVINCE, GD_RESIDENT).qr_text
    shenzhen = issue(svc, OTHER_CITY, SZ_ELDER).qr_text
    result = svc.trust.withdraw_delegation(CITY, DM, "audit of the city's issuer")
    assert result == {"city": CITY, "parent": PROVINCE, "status": "withdrawn", "changed": True}
    for text in codes:
        assert errors(svc.verification.verify(text)) == ["delegation_withdrawn"]
    assert svc.verification.verify(province).valid and svc.verification.verify(shenzhen).valid
    entry = city_entry(svc.trust.trust_list().payload)
    assert entry["delegation_status"] == "withdrawn" and "delegation" not in entry
    assert svc.trust.list_delegations() == [
        {"city": CITY, "name": "广州", "parent": PROVINCE, "status": "withdrawn", "withdrawn_at": int(svc.now()),
         "withdrawn_by": "dm-test", "reason": "audit of the city's issuer"},
        {"city": OTHER_CITY, "name": "深圳", "parent": PROVINCE, "status": "active"}]
    assert svc.trust.withdraw_delegation(CITY, DM)["changed"] is False          # again: nothing changes

    # persisted: another process on the same data directory signs the same withdrawal
    from gateway.services import Services
    other = Services(svc.settings, clock=Clock())
    try:
        assert errors(other.verification.verify(codes[0])) == ["delegation_withdrawn"]
    finally:
        other.store.close()

    assert svc.trust.restore_delegation(CITY, DM)["changed"] is True
    for text in codes:
        assert svc.verification.verify(text).valid
    actions = [(e["action"], e["actor"]["id"], e["detail"].get("city"), e["detail"].get("changed"))
               for e in svc.audit.entries() if e["action"].startswith("delegation_")]
    assert actions == [("delegation_withdraw", "dm-test", CITY, True), ("delegation_withdraw", "dm-test", CITY, False),
                       ("delegation_restore", "dm-test", CITY, True)]
    assert all(isinstance(e["at"], int) for e in svc.audit.entries() if e["action"].startswith("delegation_"))


@pytest.mark.parametrize("city, code", [("440000", "bad_request"), ("4401", "bad_request"), ("abc", "bad_request"),
                                        ("440100 ", "bad_request"), ("310100", "region_unknown"), ("440500", "region_unknown"),
                                        (None, "bad_request")])
def test_only_a_configured_city_can_be_withdrawn(svc, city, code):
    from standard.errors import HealthCodeError
    with pytest.raises(HealthCodeError) as caught:
        svc.trust.withdraw_delegation(city, DM)
    assert caught.value.code == code
    assert not svc.trust.delegation_file.path.exists()


# --- HTTP: the data manager's ---------------------------------------------------------------------
def bearer(svc, role: str) -> dict:
    token = svc.administration.add_credential(role, f"{role}-1", {"role": "system", "id": "t"})
    return {"Authorization": f"Bearer {token}"}


def test_the_data_manager_withdraws_and_restores_over_http(svc, client):
    dm = bearer(svc, "data_manager")
    text = issue(svc).qr_text
    assert client.get("/v1/admin/delegations", headers=dm).get_json() == {
        "delegations": [{"city": CITY, "name": "广州", "parent": PROVINCE, "status": "active"},
                        {"city": OTHER_CITY, "name": "深圳", "parent": PROVINCE, "status": "active"}]}
    r = client.post(f"/v1/admin/delegations/{CITY}/withdraw", json={"reason": "suspended"}, headers=dm)
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    verdict = client.post("/v1/verify", json={"payload": text}).get_json()
    assert [e["code"] for e in verdict["errors"]] == ["delegation_withdrawn"]
    r = client.post(f"/v1/admin/delegations/{CITY}/restore", headers=dm)
    assert r.status_code == 200 and r.get_json()["status"] == "active"
    assert client.post("/v1/verify", json={"payload": text}).get_json()["valid"] is True
    entry = [e for e in svc.audit.entries() if e["action"] == "delegation_withdraw"][0]
    assert entry["actor"] == {"role": "data_manager", "id": "data_manager-1"} and entry["detail"]["reason"] == "suspended"


@pytest.mark.parametrize("role", ["operator", "auditor", "kiosk", "helper"])
def test_other_roles_are_refused(svc, client, role):
    headers = bearer(svc, role)
    assert client.get("/v1/admin/delegations", headers=headers).status_code == 403
    for action in ("withdraw", "restore"):
        r = client.post(f"/v1/admin/delegations/{CITY}/{action}", headers=headers)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert client.post(f"/v1/admin/delegations/{CITY}/withdraw").status_code == 401
    assert not svc.trust.delegation_file.path.exists()


@pytest.mark.parametrize("path, kwargs, status, code", [
    ("440000/withdraw", {}, 400, "bad_request"),
    ("44010/withdraw", {}, 400, "bad_request"),
    ("%E5%B9%BF%E5%B7%9E/withdraw", {}, 400, "bad_request"),
    ("310100/withdraw", {}, 404, "region_unknown"),
    ("440000/restore", {}, 400, "bad_request"),
    (f"{CITY}/withdraw", {"json": {"reason": "x" * 201}}, 400, "bad_request"),
    (f"{CITY}/withdraw", {"json": {"why": "?"}}, 400, "bad_request"),
    (f"{CITY}/withdraw", {"json": ["reason"]}, 400, "bad_request"),
    (f"{CITY}/withdraw", {"data": b"{not json", "content_type": "application/json"}, 400, "bad_request"),
])
def test_bad_input_gets_a_stable_error_and_changes_nothing(svc, client, path, kwargs, status, code):
    r = client.post(f"/v1/admin/delegations/{path}", headers=bearer(svc, "data_manager"), **kwargs)
    assert (r.status_code, r.get_json()["error"]["code"]) == (status, code), r.get_data(as_text=True)
    assert not svc.trust.delegation_file.path.exists()
    assert svc.verification.verify(issue(svc).qr_text).valid


def test_a_province_without_cities_is_untouched(svc):
    """Beijing has no parent and no delegation; its codes verify exactly as before."""
    entry = city_entry(svc.trust.trust_list().payload, "110000")
    assert not {"parent", "delegation", "delegation_status"} & set(entry)
    assert svc.verification.verify(issue(svc, "110000", BJ_RESIDENT).qr_text).valid


def test_a_citys_issuer_is_refused_a_holder_outside_its_area_over_http(svc, client):
    token = svc.administration.issuer_tokens()[CITY]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/v1/issuers/{CITY}/codes", headers=headers,
                    json={"id_number": SZ_ELDER.id_number, "name": SZ_ELDER.name, "status": "green"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "delegation_invalid", r.get_data(as_text=True)
    assert SZ_ELDER.id_number not in r.get_data(as_text=True)
    r = client.post(f"/v1/issuers/{CITY}/codes", headers=headers,
                    json={"id_number": GZ_RESIDENT.id_number, "name": GZ_RESIDENT.name, "status": "green"})
    assert r.status_code == 201 and svc.verification.verify(r.get_json()["qr_text"]).valid


@pytest.mark.slow
def test_a_large_batch_refuses_a_withdrawn_city_in_the_pool_processes_too(svc):
    """Batches of 64+ are verified in pool processes from the signed list's text: the same chain."""
    from gateway.batch import PARALLEL_MIN_ITEMS, Job
    city, shenzhen = issue(svc).qr_text, issue(svc, OTHER_CITY, SZ_ELDER).qr_text
    svc.trust.withdraw_delegation(CITY, DM)
    jobs = [Job(text=(city, shenzhen)[i % 2]) for i in range(PARALLEL_MIN_ITEMS * 2)]
    try:
        verdicts = [v.as_dict() for v in svc.verification.verify_many(jobs, device="t")]
        assert svc.verification._pool is not None                         # it really went to the pool
    finally:
        svc.verification.close()
    assert [errors_of["errors"][0]["code"] if errors_of["errors"] else "valid" for errors_of in verdicts] == \
        ["delegation_withdrawn", "valid"] * PARALLEL_MIN_ITEMS


def test_the_delegation_follows_the_provinces_key_through_rotation_and_revocation(svc):
    """The next list's delegation is signed by the province's key of the moment: a city's codes
    outlive a rotation and a revocation of the province's key (never signed by the revoked one)."""
    text = issue(svc).qr_text
    svc.trust.rotate_key(PROVINCE, DM)
    assert svc.verification.verify(text).valid
    kid = svc.keystore.signer(PROVINCE).kid
    svc.trust.revoke_key(PROVINCE, kid, DM, "compromise")
    assert svc.verification.verify(text).valid
    delegated_by = jose.parse(city_entry(svc.trust.trust_list().payload)["delegation"]).kid
    assert delegated_by != kid and svc.trust.trust_list().key(delegated_by).status == "active"


# --- a withdrawn city issues nothing --------------------------------------------------------------
def test_a_withdrawn_city_issues_nothing_and_issues_again_once_restored(svc, client):
    """Issue, the issuer's lookup, a transcode into the city and a printed card: each refused up
    front with ``delegation_withdrawn`` (HTTP 403), nothing issued or stored, the refusal audited."""
    from standard.errors import DelegationWithdrawn
    beijing = svc.issuing.issue("110000", person(BJ_RESIDENT), status="green", kind="offline").qr_text
    svc.issuing.issue(OTHER_CITY, person(SZ_ELDER), status="green")         # Shenzhen: known before
    svc.trust.withdraw_delegation(OTHER_CITY, DM)
    sub = svc.issuing.subject(person(GZ_RESIDENT))
    svc.trust.withdraw_delegation(CITY, DM)
    audited = len(svc.audit.entries())
    with pytest.raises(DelegationWithdrawn, match="may not issue: its province 440000 has withdrawn"):
        issue(svc)
    assert svc.store.get_resident(sub, CITY) is None and svc.store.count_outstanding(sub, svc.now()) == 0
    with pytest.raises(DelegationWithdrawn):
        svc.issuing.transcode(beijing, CITY)
    elder = svc.issuing.subject(person(SZ_ELDER))
    with pytest.raises(DelegationWithdrawn):
        svc.issuing.reissue(OTHER_CITY, elder, SZ_ELDER.name)
    with pytest.raises(DelegationWithdrawn):
        svc.issuing.print_cards([(OTHER_CITY, person(SZ_ELDER), None)])
    assert svc.store.count_outstanding(elder, svc.now()) == 1                # only the code from before

    token = svc.administration.issuer_tokens()[CITY]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/v1/issuers/{CITY}/codes", headers=headers,
                    json={"id_number": GZ_RESIDENT.id_number, "name": GZ_RESIDENT.name, "status": "green"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "delegation_withdrawn", r.get_data(as_text=True)
    assert GZ_RESIDENT.id_number not in r.get_data(as_text=True) and "qr_text" not in r.get_json()
    sz = {"Authorization": f"Bearer {svc.administration.issuer_tokens()[OTHER_CITY]}"}
    r = client.post(f"/v1/issuers/{OTHER_CITY}/lookup", headers=sz, json={"id_number": SZ_ELDER.id_number})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "delegation_withdrawn"
    assert svc.store.get_resident(sub, CITY) is None and svc.store.count_outstanding(elder, svc.now()) == 1

    refused = [(e["action"], e["result"]) for e in svc.audit.entries()[audited:]]
    assert refused == [("issue", "delegation_withdrawn"), ("transcode", "delegation_withdrawn"),
                       ("reissue", "delegation_withdrawn"), ("print", "delegation_withdrawn"),
                       ("issue", "delegation_withdrawn"), ("reissue", "delegation_withdrawn")], refused
    assert all(GZ_RESIDENT.id_number not in str(e) for e in svc.audit.entries())

    svc.trust.restore_delegation(CITY, DM)
    svc.trust.restore_delegation(OTHER_CITY, DM)
    assert svc.verification.verify(issue(svc).qr_text).valid
    from_province = svc.issuing.issue(PROVINCE, person(GZ_RESIDENT), status="green", kind="offline").qr_text
    moved, _ = svc.issuing.transcode(from_province, CITY)
    assert svc.verification.verify(moved.qr_text).valid
    assert svc.verification.verify(svc.issuing.reissue(OTHER_CITY, elder, SZ_ELDER.name).qr_text).valid
    assert svc.issuing.print_cards([(OTHER_CITY, person(SZ_ELDER), None)]).startswith(b"%PDF")


def test_while_a_city_is_withdrawn_its_province_answers_for_its_people(svc):
    """A kiosk or assisted lookup of a Guangzhou resident goes to Guangdong's issuer while
    Guangzhou's delegation is withdrawn, from Guangdong's own records: one the province holds is
    answered in the province's code (region 440000), one it does not is ``identity_not_matched``."""
    from gateway.credentials import Principal
    from standard.errors import IdentityNotMatched
    kiosk = Principal("kiosk", "kiosk-1", None, "kiosk-1")
    issue(svc)                                                              # Guangzhou's record
    svc.trust.withdraw_delegation(CITY, DM)
    with pytest.raises(IdentityNotMatched, match="delegation is withdrawn, so its province 440000 answers"):
        svc.people.lookup(kiosk, person(GZ_RESIDENT), assisted=False, kiosk_id="kiosk-1")
    svc.issuing.issue(PROVINCE, person(GZ_RESIDENT), status="yellow")      # the province records them
    found = svc.people.lookup(kiosk, person(GZ_RESIDENT), assisted=False, kiosk_id="kiosk-1")
    assert (found["valid"], found["region"], found["status"]) == (True, PROVINCE, "yellow"), found
    assert "issuer" not in found                                            # the province, no parent
    entry = [e for e in svc.audit.entries() if e["action"] == "kiosk_lookup"][-1]
    assert entry["detail"]["region"] == PROVINCE and entry["detail"]["answered_for"] == CITY
    svc.trust.restore_delegation(CITY, DM)
    back = svc.people.lookup(kiosk, person(GZ_RESIDENT), assisted=False, kiosk_id="kiosk-1")
    assert (back["region"], back["status"]) == (CITY, "green")
