"""Data governance: no plain ID number anywhere at rest, retention purge on a fake clock,
sealed personal data, audit of key changes and purges."""
from __future__ import annotations

import json

import pytest

from standard.errors import HealthCodeError
from issuers import make_person
from store import ScanEvent
from support.realistic_day import PEOPLE, live_a_day, plain_needles

DAY = 86400


def everything_at_rest(data_dir) -> bytes:
    """Every byte under the data directory except the secrets (keys are not personal data)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*"))
                    if p.is_file() and "secrets" not in p.parts and "keys" not in p.parts)


def test_no_plain_id_number_or_name_at_rest(service, settings):
    live_a_day(service)
    service.store.close()
    raw = everything_at_rest(settings.data_dir)
    assert len(raw) > 10_000                               # the scan really looked at data
    for needle in plain_needles():
        assert needle.encode("utf-8") not in raw, f"{needle} is stored in plain"
        assert json.dumps(needle).encode() not in raw       # nor as \\u escapes


def test_sealed_personal_data_opens_only_for_its_own_record(service):
    person = make_person("440305193606300643", "陈秀英")
    service.issuing.issue("440000", person)
    sub = service.issuing.subject(person)
    resident = service.store.get_resident(sub, "440000")
    assert service.sealer.open(resident.pii_sealed, context=sub)["id_number"] == person.id_number
    with pytest.raises(HealthCodeError):
        service.sealer.open(resident.pii_sealed, context="someone-else")


def test_seal_key_rotation_keeps_old_records_readable(service):
    person = make_person("440305193606300643", "陈秀英")
    service.issuing.issue("440000", person)
    sub = service.issuing.subject(person)
    old = service.store.get_resident(sub, "440000").pii_sealed
    new_kid = service.sealer.rotate()
    assert service.sealer.open(old, context=sub)["name"] == "陈秀英"
    assert service.sealer.seal({"a": 1}, context="x").startswith(new_kid + ".")


def test_purge_on_a_fake_clock(service, clock):
    person = make_person("310115193302201761", "王桂兰")
    old = service.issuing.issue("310000", person)
    service.verification.verify(old.qr_text)
    clock.advance(20 * DAY)
    recent = service.issuing.issue("310000", make_person("310115200805135105", "王小红"))
    service.verification.verify(recent.qr_text)
    clock.advance(11 * DAY)                    # the first scan is now 31 days old; the second 11
    counts = service.administration.purge()
    assert counts["scan_events"] == 1 and counts["issued_codes"] == 1 and counts["residents"] == 1
    remaining = service.store.scans()
    assert [e.code_id for e in remaining] == [recent.claims["jti"]]
    assert service.store.get_resident(service.issuing.subject(person), "310000") is None
    purge_entries = [e for e in service.audit.entries() if e["action"] == "purge"]
    assert purge_entries and purge_entries[-1]["detail"]["scan_events"] == 1
    assert service.audit.verify()["intact"]


def test_retention_window_is_configurable(settings, clock, monkeypatch):
    from config.settings import load_settings
    from gateway.services import Services
    monkeypatch.setenv("HEALTHCODE_RETENTION_DAYS", "7")
    svc = Services(load_settings(data_dir=settings.data_dir), clock=clock)
    svc.store.add_scan(ScanEvent(int(clock()), True, "x", "440000", "green", "a"))
    clock.advance(8 * DAY)
    assert svc.administration.purge()["scan_events"] == 1


def test_key_rotation_is_audited(service):
    kid = service.trust.rotate_key("510000", actor={"role": "data_manager", "id": "dm"})
    entry = service.audit.entries()[-1]
    assert entry["action"] == "key_rotate" and entry["detail"] == {"owner": "510000", "kid": kid}
    assert entry["actor"] == {"role": "data_manager", "id": "dm"}


@pytest.mark.slow
def test_audit_checkpoint_catches_a_cut_off_or_rewritten_log(service, data_dir):
    """The auditor keeps the checkpoint outside the store; cutting the tail off or rebuilding
    a consistent chain from scratch is then detected, which the chain alone cannot see."""
    import sqlite3
    from support.cli import run_cli
    for region, id_number, name, id_type in PEOPLE[:3]:
        service.issuing.issue(region, make_person(id_number, name, id_type))
    first = run_cli("audit", "verify", data_dir=data_dir)
    mark = json.loads(first.stdout)["checkpoint"]
    seq = int(mark.split(":")[0])
    assert first.returncode == 0 and seq >= 3
    assert run_cli("audit", "verify", "--checkpoint", mark, data_dir=data_dir).returncode == 0
    assert run_cli("audit", "verify", "--checkpoint", "nonsense", data_dir=data_dir).returncode == 2

    db = data_dir / "healthcode.sqlite3"
    with sqlite3.connect(db) as conn:                      # cut the last entry off: still a valid chain
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
    assert run_cli("audit", "verify", data_dir=data_dir).returncode == 0
    cut = run_cli("audit", "verify", "--checkpoint", mark, data_dir=data_dir)
    assert cut.returncode == 1 and "removed" in json.loads(cut.stdout)["problem"]

    from store import audit
    with sqlite3.connect(db) as conn:                      # rebuild a consistent chain with one lie in it
        rows = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM audit_log ORDER BY seq")]
        rows[0]["actor"] = {"role": "system", "id": "nobody"}
        last = None
        for row in rows:
            fresh = audit.next_entry(last, row["at"], row["actor"], row["action"], row["subject"],
                                     row["result"], row["detail"])
            conn.execute("UPDATE audit_log SET entry = ? WHERE seq = ?", (json.dumps(fresh), fresh["seq"]))
            last = fresh
        conn.execute("INSERT INTO audit_log (seq, entry) VALUES (?, ?)", (seq, json.dumps(
            audit.next_entry(last, last["at"], last["actor"], "noop", None))))
    assert run_cli("audit", "verify", data_dir=data_dir).returncode == 0
    rewritten = run_cli("audit", "verify", "--checkpoint", mark, data_dir=data_dir)
    assert rewritten.returncode == 1 and "rewritten" in json.loads(rewritten.stdout)["problem"]
