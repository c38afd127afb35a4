"""ONE contract every store backend must pass.  Backends are listed in ``BACKENDS``; each is a
factory fixture returning a fresh, empty store."""
from __future__ import annotations

import pytest

from store import audit
from store import Dependent, IssuedRecord, Resident, ScanEvent
from store.sqlite import SqliteStore

T0 = 1_800_000_000


def sqlite_backend(tmp_path):
    return SqliteStore(tmp_path / "contract.sqlite3")


BACKENDS = {"sqlite": sqlite_backend}


@pytest.fixture(params=sorted(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    yield s
    s.close()


def code(jti, sub="subA", iat=T0, exp=T0 + 300, status="green"):
    return IssuedRecord(jti, sub, "440000", "dynamic", status, ("close_contact",) if status != "green" else (), iat, exp)


def test_issued_codes_and_latest_status(store):
    store.record_issued(code("j1", iat=T0, status="green"))
    store.record_issued(code("j2", iat=T0 + 10, status="red"))
    latest = store.latest_status("subA", "440000")
    assert latest.jti == "j2" and latest.status == "red" and latest.reasons == ("close_contact",)
    assert store.latest_status("subA", "310000") is None
    assert store.count("codes") == 2


def test_scans_in_order_and_bulk(store):
    events = [ScanEvent(T0 + i, i % 2 == 0, "yuekang", "440000", "green", f"j{i}", None, "gate", "d1")
              for i in range(50)]
    store.add_scans(events)
    store.add_scan(ScanEvent(T0 + 100, False, None, None, None, None, "format_unknown"))
    assert store.count("scans") == 51
    got = store.scans(since=T0 + 45, limit=10)
    assert [e.code_id for e in got] == ["j45", "j46", "j47", "j48", "j49", None]
    assert got[0] == events[45]
    assert got[-1].error == "format_unknown"


def test_scan_groups_of_every_size_keep_each_row_and_its_order(store):
    """A group is written as several multi-row INSERTs (SQLite: 32, 8, then single rows): every
    field of every event comes back, in order, whatever the group's size."""
    groups = [[ScanEvent(T0 + start + i // 3, i % 5 != 0, ["yuekang", "eu_dcc", None][i % 3], f"{440000 + i}",
                         ["green", "yellow", None][i % 3], f"c{count}-{i}", None if i % 5 else "code_revoked",
                         f"gate {i}" if i % 2 else None, None if i % 4 else f"d{i}") for i in range(count)]
              for start, count in ((0, 75), (100, 31), (200, 1), (300, 8))]
    for events in groups:
        store.add_scans(events)
    assert store.scans(since=T0, limit=200) == [event for events in groups for event in events]


def test_sqlite_refuses_a_scan_row_of_the_wrong_width(tmp_path):
    """The SQLite store writes rows side by side in one INSERT: a short row must not shift its
    neighbours' columns."""
    s = sqlite_backend(tmp_path)
    with pytest.raises(ValueError):
        s.add_scans([ScanEvent(T0, True, "yuekang", "440000", "green", "a"), (T0, True, "yuekang")])
    assert s.count("scans") == 0
    s.close()


def test_revocation_covers_outstanding_codes_only(store):
    store.record_issued(code("old1", exp=T0 + 300))
    store.record_issued(code("old2", exp=T0 + 600))
    store.record_issued(code("gone", exp=T0 - 1))
    store.record_issued(code("other", sub="subB"))
    assert store.count_outstanding("subA", T0 + 10) == 2 and store.count_outstanding("subC", T0) == 0
    assert sorted(store.revoke_subject("subA", T0 + 10)) == ["old1", "old2"]
    store.record_issued(code("new", iat=T0 + 20, exp=T0 + 900))
    assert store.is_revoked("old1") and store.is_revoked("old2")
    assert not store.is_revoked("new") and not store.is_revoked("other") and not store.is_revoked("gone")
    assert store.revoked_jtis(T0 + 400) == ["old2"]


def test_residents_round_trip_and_update(store):
    r = Resident("subA", "440000", "hmac1", "green", (), T0, "k0001.sealed")
    store.upsert_resident(r)
    assert store.get_resident("subA", "440000") == r
    store.upsert_resident(Resident("subA", "440000", "hmac1", "red", ("positive_test",), T0 + 5, None))
    got = store.get_resident("subA", "440000")
    assert got.status == "red" and got.reasons == ("positive_test",) and got.pii_sealed == "k0001.sealed"
    assert store.get_resident("subA", "310000") is None


def test_dependents(store):
    consent = {"method": "signed_form", "reference": "F-1"}
    store.add_dependent(Dependent("holder", "kid1", "440000", "child", consent, T0))
    store.add_dependent(Dependent("holder", "mum", "310000", "parent", consent, T0 + 1))
    store.add_dependent(Dependent("holder", "kid1", "440000", "ward", consent, T0 + 2))
    deps = store.dependents("holder")
    assert [(d.dependent_sub, d.relation) for d in deps] == [("kid1", "ward"), ("mum", "parent")]
    assert deps[0].consent == consent
    assert store.dependents("nobody") == []


def test_rate_hits_count_inside_window(store):
    counts = [store.hit("kiosk:1", T0 + i, 60) for i in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    assert store.hit("kiosk:1", T0 + 100, 60) == 1
    assert store.hit("kiosk:2", T0 + 100, 60) == 1


def test_audit_chain_append_and_verify(store):
    log = audit.AuditLog(store, clock=lambda: T0)
    for i in range(5):
        log.record({"role": "operator", "id": "op1"}, "lookup", subject=f"sub{i}", kiosk="k1")
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[1]["prev"] == entries[0]["hash"]
    assert log.verify() == {"intact": True, "entries": 5, "head": entries[-1]["hash"],
                            "checkpoint": f"5:{entries[-1]['hash']}"}
    assert log.verify((3, entries[2]["hash"]))["intact"] is True
    assert log.verify((3, entries[1]["hash"]))["problem"] == "checkpoint differs: the log was rewritten"
    assert log.verify((6, entries[-1]["hash"]))["problem"] == "checkpoint missing: entries were removed from the end"
    assert store.count("audit") == 5


def test_revoke_codes_by_id(store):
    """Foreign certificates are withdrawn by id alone; repeating it changes nothing."""
    assert store.revoke_codes(["f1", "f2", "f1"], "foreign:eu_dcc", T0, T0 + 1000) == ["f1", "f2"]
    assert store.revoke_codes(["f2", "f3"], "foreign:eu_dcc", T0 + 5, T0 + 10) == ["f3"]
    assert store.is_revoked("f1") and store.is_revoked("f3") and not store.is_revoked("f4")
    assert store.revoked_jtis(T0 + 20) == ["f1", "f2"]
    assert store.revoke_codes([], "foreign:eu_dcc", T0, T0 + 1) == []


def test_purge_by_age(store):
    store.add_scans([ScanEvent(T0 - 100, True, "x", "440000", "green", "a"),
                     ScanEvent(T0 + 100, True, "x", "440000", "green", "b")])
    store.record_issued(code("expired", exp=T0 - 1))
    store.record_issued(code("live", exp=T0 + 1000))
    store.upsert_resident(Resident("old", "440000", "h", "green", (), T0 - 5))
    store.upsert_resident(Resident("new", "440000", "h", "green", (), T0 + 5))
    counts = store.purge(before=T0)
    assert counts["scan_events"] == 1 and counts["issued_codes"] == 1 and counts["residents"] == 1
    assert [e.code_id for e in store.scans()] == ["b"]
    assert store.get_resident("old", "440000") is None and store.get_resident("new", "440000")
    assert store.latest_status("subA", "440000").jti == "live"


def test_operations_counts_are_grouped_in_the_store(store):
    """Per hour by region, colour and error; audit entries per action and result; the window's
    ends respected; nothing personal in the rows."""
    hour = 3600
    start = T0 - T0 % hour
    store.add_scans([ScanEvent(start + 10, True, "yuekang", "440000", "green", "c1"),
                     ScanEvent(start + 20, True, "yuekang", "440000", "green", "c2"),
                     ScanEvent(start + 30, True, "tianfu", "510000", "red", "c3"),
                     ScanEvent(start + hour + 5, False, "yuekang", None, None, None, "expired"),
                     ScanEvent(start + 2 * hour, True, "yuekang", "440000", "green", "c4"),    # outside
                     ScanEvent(start - 1, True, "yuekang", "440000", "green", "c5")])          # outside
    rows = sorted(store.scan_counts(start, start + 2 * hour, hour), key=lambda r: (r[0], str(r[1])))
    assert rows == [(start, "440000", "green", None, 2), (start, "510000", "red", None, 1),
                    (start + hour, None, None, "expired", 1)]
    clock = iter([start + 1, start + 2, start + hour + 1, start + hour + 2, start + 3])
    log = audit.AuditLog(store, lambda: next(clock))
    actor = {"role": "kiosk", "id": "k1"}
    log.record(actor, "kiosk_lookup", "s1")
    log.record(actor, "kiosk_lookup", "s2", result="rate_limited")
    log.record(actor, "kiosk_lookup", "s3", result="rate_limited")
    log.record(actor, "assisted_lookup", "s4", result="identity_not_matched")
    log.record(actor, "issue", "s5")
    counts = sorted(store.audit_counts(start, start + 2 * hour, hour, ["kiosk_lookup", "assisted_lookup"]))
    assert counts == [(start, "kiosk_lookup", "ok", 1), (start, "kiosk_lookup", "rate_limited", 1),
                      (start + hour, "assisted_lookup", "identity_not_matched", 1),
                      (start + hour, "kiosk_lookup", "rate_limited", 1)]
    assert store.audit_counts(start, start + 2 * hour, hour, []) == []


def test_online_answers_by_code_id_and_region_until_purged(store):
    """An online code's signed status is found by its id within its own region only, and goes
    with the other expired codes."""
    store.put_online("onlineCodeId01", "440000", "header.payload.sig", T0 + 300)
    store.put_online("onlineCodeId02", "440000", "h.p.s2", T0 - 1)
    assert store.online_answer("onlineCodeId01", "440000") == "header.payload.sig"
    assert store.online_answer("onlineCodeId01", "110000") is None
    assert store.online_answer("neverIssued000", "440000") is None
    assert store.purge(before=T0)["online_codes"] == 1
    assert store.online_answer("onlineCodeId02", "440000") is None
    assert store.online_answer("onlineCodeId01", "440000") == "header.payload.sig"


def test_ping_answers_on_an_empty_and_a_full_store(store):
    """/healthz pings the store: it answers empty or full, without counting every row."""
    assert store.ping() is None
    store.add_scans([ScanEvent(T0 + i, True, "yuekang", "440000", "green", f"c{i}", None) for i in range(50)])
    assert store.ping() is None
