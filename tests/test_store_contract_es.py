"""The shared store contract (tests/test_store_contract.py) against the Elasticsearch backend, plus
what only Elasticsearch has: bulk item failures, daily-index purge, strict mappings, replicas.

The contract tests are imported, not copied: pytest collects every test function in this module's
namespace, and the ``store`` fixture below (defined after the import, so it wins) hands them an
Elasticsearch store with a fresh index prefix.  ``BACKENDS`` in the contract module cannot simply
be extended from here: its fixture's params are fixed when that module is imported.

The server is the real Elasticsearch started for the session by scripts/elasticsearch, or the
cluster in HEALTHCODE_ES_URL (see tests/support/search.py).
"""
from __future__ import annotations

import json
import logging
import re
import threading
from types import SimpleNamespace

import pytest
from elasticsearch import ApiError, BadRequestError

from test_store_contract import *  # noqa: F401,F403 - the contract tests, collected here as well
from test_store_contract import T0, code
from support.search import new_prefix
from store import audit
from store import Dependent, Resident, ScanEvent
from store.elasticsearch import MAPPINGS, ElasticsearchStore, ScanBulkError, from_env
from store.elasticsearch import errors as es_errors
from store.elasticsearch.indices import parse_shards
from support.realistic_day import live_a_day, plain_needles

DAY = 86400
ID_NUMBER_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


@pytest.fixture(params=["wait_for", True], ids=["es-wait_for", "es-refresh"])
def store(request, es_store_factory):
    return es_store_factory(refresh=request.param)


def day_start(at: int) -> int:
    return at - at % DAY


def scan(at: int, code_id: str) -> ScanEvent:
    return ScanEvent(at, True, "yuekang", "440000", "green", code_id, None, "gate", "d1")


def all_documents(store: ElasticsearchStore) -> list[dict]:
    store.client.indices.refresh(index=f"{store.prefix}-*")
    hits = store.client.search(index=f"{store.prefix}-*", size=10_000, query={"match_all": {}})["hits"]["hits"]
    return [{"_index": h["_index"], "_id": h["_id"], **h["_source"]} for h in hits]


# -- bulk ingest --------------------------------------------------------------------------------------
def test_bulk_item_failure_raises_and_reports_the_failed_events(es_store_factory, caplog):
    store = es_store_factory()
    good_day, bad_day = day_start(T0), day_start(T0) + DAY
    blocked = store.scans_index(bad_day)
    store.add_scans([scan(bad_day + 1, "warmup")])             # the index exists (template mapping)
    store.client.indices.put_settings(index=blocked, settings={"index.blocks.write": True})
    events = [scan(good_day + i, f"ok{i}") for i in range(3)] + [scan(bad_day + 10 + i, f"lost{i}") for i in range(2)]
    try:
        with caplog.at_level(logging.ERROR, logger="store.elasticsearch"):
            with pytest.raises(ScanBulkError) as info:
                store.add_scans(events)
    finally:
        store.client.indices.put_settings(index=blocked, settings={"index.blocks.write": None})
    err = info.value
    assert "2 of 5 scan events were not stored" in str(err)
    assert sorted(e.code_id for e, _ in err.failed) == ["lost0", "lost1"] and err.stored == 3
    assert len(err.errors) == 2 and all(next(iter(i.values()))["status"] >= 400 for i in err.errors)
    assert any("2 of 5" in r.getMessage() for r in caplog.records)
    # the rest was stored and is visible; nothing was lost silently
    assert [e.code_id for e in store.scans(since=good_day)] == ["ok0", "ok1", "ok2", "warmup"]
    store.add_scans([e for e, _ in err.failed])              # retrying exactly the failed ones
    assert store.count("scans") == 6


def test_scan_writer_retries_only_the_events_a_bulk_request_did_not_store(es_store_factory):
    from store.scanqueue import ScanWriter
    store = es_store_factory(refresh=True)
    good_day, bad_day = day_start(T0), day_start(T0) + DAY
    blocked = store.scans_index(bad_day)
    store.add_scans([scan(bad_day + 1, "warmup")])
    store.client.indices.put_settings(index=blocked, settings={"index.blocks.write": True})
    writer = ScanWriter(store, interval=0.2, max_events=1000)
    try:
        writer.add_scans([scan(good_day + i, f"ok{i}") for i in range(3)] +
                         [scan(bad_day + 10 + i, f"late{i}") for i in range(2)])
        writer.flush()
        assert writer.written == 3 and store.count("scans") == 1 + 3
    finally:
        store.client.indices.put_settings(index=blocked, settings={"index.blocks.write": None})
    writer.flush()
    writer.close()
    assert writer.written == 5 and writer.dropped == 0
    assert sorted(e.code_id for e in store.scans(since=0)) == ["late0", "late1", "ok0", "ok1", "ok2", "warmup"]


def test_bulk_ingest_spans_daily_indices_and_pages_past_the_result_window(es_store_factory):
    store = es_store_factory(refresh=True, bulk_chunk=2_000)
    events = [scan(T0 + i * 30, f"j{i}") for i in range(12_000)]      # ~4 days, 6 bulk chunks
    store.add_scans(events)
    names = sorted(store.client.indices.get(index=store.scans_pattern))
    assert names == sorted({store.scans_index(e.at) for e in events}) and len(names) >= 4
    got = store.scans(since=0, limit=11_000)
    assert len(got) == 11_000 and got[0] == events[0] and got[-1] == events[10_999]
    assert store.count("scans") == 12_000


def test_scans_keep_insertion_order_within_one_second(store):
    store.add_scans([scan(T0, f"s{i}") for i in range(20)])
    store.add_scan(scan(T0, "s20"))
    assert [e.code_id for e in store.scans(since=T0, limit=100)] == [f"s{i}" for i in range(21)]


# -- retention ----------------------------------------------------------------------------------------
def test_purge_drops_whole_old_daily_indices_and_trims_the_boundary_day(es_store_factory, monkeypatch):
    import store.elasticsearch.queries as queries
    monkeypatch.setattr(queries, "PAGE", 2)                  # the boundary day takes several pages
    store = es_store_factory(refresh=True)
    d0 = day_start(T0)
    days = [d0 - 3 * DAY, d0 - 2 * DAY, d0 - DAY, d0]
    store.add_scans([scan(d + h * 3600, f"{i}-{h}") for i, d in enumerate(days) for h in (1, 5, 9, 13, 23)])
    before = d0 - DAY + 12 * 3600                              # noon of the day before d0
    counts = store.purge(before)
    assert counts["scan_indices_dropped"] == 2
    assert counts["scan_events"] == 5 + 5 + 3                  # two whole days, three by id
    remaining = sorted(store.client.indices.get(index=store.scans_pattern))
    assert remaining == [store.scans_index(d0 - DAY), store.scans_index(d0)]
    assert [e.code_id for e in store.scans()] == ["2-13", "2-23", "3-1", "3-5", "3-9", "3-13", "3-23"]
    assert store.purge(before)["scan_events"] == 0


def test_purge_counts_rate_limit_hits(store):
    for i in range(3):
        store.hit("kiosk:old", T0 - 100 + i, 3600)
    store.hit("kiosk:new", T0 + 5, 3600)
    counts = store.purge(T0)
    assert counts["rate_hits"] == 3
    assert store.hit("kiosk:old", T0 + 10, 3600) == 1 and store.hit("kiosk:new", T0 + 6, 3600) == 2


def test_ilm_policy_only_where_the_server_has_ilm(es_server, es_store_factory):
    store = es_store_factory(retention_days=30)
    template = store.client.indices.get_index_template(name=f"{store.prefix}-scans")["index_templates"][0]
    settings = json.dumps(template["index_template"]["template"].get("settings", {}))
    if store.ilm:
        policy = store.client.ilm.get_lifecycle(name=f"{store.prefix}-scans")
        assert policy[f"{store.prefix}-scans"]["policy"]["phases"]["delete"]["min_age"] == "31d"
        assert "lifecycle" in settings
    else:                                          # the integ-test distribution: nothing to attach
        assert "lifecycle" not in settings
    store.add_scan(scan(T0, "x"))
    assert store.count("scans") == 1


# -- atomicity ----------------------------------------------------------------------------------------
def test_concurrent_audit_appends_from_two_stores_keep_one_chain(es_store_factory):
    first = es_store_factory(refresh=True)
    second = es_store_factory(prefix=first.prefix, refresh=True)
    logs = [audit.AuditLog(s, clock=lambda: T0) for s in (first, second)]
    errors = []

    def work(log, t, n):
        try:
            for i in range(n):
                got = log.record({"role": "operator", "id": "op"}, "lookup", subject=f"t{t}s{i}")
                assert got["subject"] == f"t{t}s{i}"          # each caller gets its own entry back
        except Exception as exc:          # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(logs[t % 2], t, 10)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    entries = first.audit_entries()
    assert [e["seq"] for e in entries] == list(range(1, 61))
    assert logs[1].verify()["intact"] and logs[0].verify()["entries"] == 60
    assert first.count("audit") == 60
    assert sorted(e["subject"] for e in entries) == sorted(f"t{t}s{i}" for t in range(6) for i in range(10))


def test_appends_waiting_in_one_process_go_in_one_head_write(es_store_factory, monkeypatch):
    """Group commit: 8 threads of one gateway appending at once move the head fewer times than
    they append, and the chain holds every entry once, in one order."""
    store = es_store_factory(refresh=True)
    real_index, heads = store.client.index, store.index("sequences")
    head_writes = []

    def counting(**kw):
        if kw.get("index") == heads:
            head_writes.append(len(kw["document"].get("group", [])) + 1)
        return real_index(**kw)

    monkeypatch.setattr(store.client, "index", counting)
    log = audit.AuditLog(store, clock=lambda: T0)
    barrier = threading.Barrier(8)

    def work(t):
        barrier.wait()
        for i in range(15):
            log.record({"role": "kiosk", "id": f"k{t}"}, "lookup", subject=f"{t}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = store.audit_entries()
    assert [e["seq"] for e in entries] == list(range(1, 121))
    assert len({e["subject"] for e in entries}) == 120 and log.verify()["intact"]
    assert len(head_writes) < 120 and max(head_writes) > 1


def test_a_group_whose_writer_died_before_copying_is_copied_whole_by_the_next(es_store_factory, monkeypatch):
    """The head carries every entry of its group: a gateway that moved the head for three entries
    and died before storing them leaves nothing missing once another appends or reads."""
    store = es_store_factory(refresh=True)
    log = audit.AuditLog(store, clock=lambda: T0)
    log.record({"role": "system", "id": "t"}, "purge")
    chain = store.audit_chain
    makers = [log.entry({"role": "operator", "id": "op"}, "lookup", subject=f"g{i}") for i in range(3)]

    def died(entries, winner):
        if winner:
            raise SystemExit("killed between the head write and the copies")

    monkeypatch.setattr(chain, "_copy", died)
    with pytest.raises(SystemExit):
        chain._append_group(makers)
    monkeypatch.undo()
    other = es_store_factory(prefix=store.prefix, refresh=True)
    assert [e["seq"] for e in other.audit_entries()] == [1, 2, 3, 4]
    audit.AuditLog(other, clock=lambda: T0).record({"role": "system", "id": "t"}, "purge")
    entries = other.audit_entries()
    assert [e.get("subject") for e in entries] == [None, "g0", "g1", "g2", None]
    assert audit.AuditLog(other, clock=lambda: T0).verify()["intact"]


def test_a_group_is_copied_in_one_bulk_request_and_a_half_copied_one_is_finished(es_store_factory, monkeypatch):
    """A group's entries go to their monthly index in one bulk request (one round trip, whatever
    its size); a group its writer left half copied is finished by the next appender, which finds
    what is there with one mget and checks it is the same entry."""
    store = es_store_factory(refresh=True)
    log = audit.AuditLog(store, clock=lambda: T0)
    log.record({"role": "system", "id": "t"}, "purge")
    chain = store.audit_chain
    bulks, copies = [], []
    real_bulk, real_index = store.client.bulk, store.client.index
    monkeypatch.setattr(store.client, "bulk", lambda **kw: bulks.append(len(kw["operations"]) // 2) or real_bulk(**kw))
    monkeypatch.setattr(store.client, "index", lambda **kw: (kw["index"] != store.index("sequences")
                                                             and copies.append(kw)) or real_index(**kw))
    makers = [log.entry({"role": "operator", "id": "op"}, "lookup", subject=f"g{i}") for i in range(5)]
    chain._append_group(makers)
    assert bulks == [5] and copies == []
    # a writer that moved the head for three entries and copied only the first before dying
    real_copy = chain._copy
    makers = [log.entry({"role": "operator", "id": "op"}, "lookup", subject=f"h{i}") for i in range(3)]

    def died(entries, winner):
        if winner:
            real_copy(entries[:1], winner=True)
            raise SystemExit("killed after the first copy")

    monkeypatch.setattr(chain, "_copy", died)
    with pytest.raises(SystemExit):
        chain._append_group(makers)
    monkeypatch.setattr(chain, "_copy", real_copy)
    other = es_store_factory(prefix=store.prefix, refresh=True)
    mgets, real_mget = [], other.client.mget
    monkeypatch.setattr(other.client, "mget", lambda **kw: mgets.append(len(kw["docs"])) or real_mget(**kw))
    audit.AuditLog(other, clock=lambda: T0).record({"role": "system", "id": "t"}, "purge")
    assert mgets == [3]
    entries = other.audit_entries()
    assert [e.get("subject") for e in entries] == [None, "g0", "g1", "g2", "g3", "g4", "h0", "h1", "h2", None]
    assert audit.AuditLog(other, clock=lambda: T0).verify()["intact"]


def test_a_copy_meeting_a_different_entry_under_its_number_is_a_conflict(es_store_factory):
    """An entry already stored under a sequence number by something else (the head was lost and
    the log began again) is never overwritten or taken for this one."""
    store = es_store_factory(refresh=True)
    log = audit.AuditLog(store, clock=lambda: T0)
    log.record({"role": "system", "id": "t"}, "purge")
    chain = store.audit_chain
    entry = log.entry({"role": "operator", "id": "op"}, "lookup", subject="x")(store.audit_entries()[-1])
    index = chain.indices.audit_index(int(entry["at"]))
    chain.indices.ensure_dated([index], "audit")
    store.client.index(index=index, id=str(entry["seq"]), document={"seq": entry["seq"], "hash": "other",
                                                                   "entry": "{}"}, op_type="create", refresh=True)
    with pytest.raises(es_errors.AuditConflict):
        chain._copy([entry], winner=True)
    with pytest.raises(es_errors.AuditConflict):
        type(chain)(chain.indices, True)._copy([entry], winner=False)


def test_a_head_write_sent_twice_appends_its_entry_once(es_store_factory, monkeypatch):
    """A node dies after applying the head write but before answering; the client sends the same
    request again and meets its own write as a 409.  That is this append, done — not a lost race."""
    store = es_store_factory(refresh=True)
    real_index = store.client.index

    def index_sent_twice(**kw):
        result = real_index(**kw)
        if kw.get("index") == store.index("sequences"):
            real_index(**kw)                                   # the retry: a real 409 from the server
        return result

    monkeypatch.setattr(store.client, "index", index_sent_twice)
    log = audit.AuditLog(store, clock=lambda: T0)
    for subject in ("a", "b", "c"):
        log.record({"role": "operator", "id": "op"}, "lookup", subject=subject)
    entries = store.audit_entries()
    assert [(e["seq"], e["subject"]) for e in entries] == [(1, "a"), (2, "b"), (3, "c")]
    assert log.verify()["intact"]


def test_a_stale_head_read_after_the_409_does_not_append_the_entry_twice(es_store_factory, monkeypatch):
    """As above, and the GET that asks who moved the head is served by a replica still holding the
    version read before: the append waits for the head's new version instead of taking itself for a
    loser and appending its entry again."""
    store = es_store_factory(refresh=True)
    real_index, real_get = store.client.index, store.client.get
    heads = store.index("sequences")
    state: dict = {"stale": None, "served": 0}

    def get_from_a_lagging_replica(**kw):
        if kw.get("index") == heads and state["stale"] is not None:
            stale, state["stale"] = state["stale"], None
            state["served"] += 1
            return stale                                       # once: the version before the write
        return real_get(**kw)

    def index_sent_twice(**kw):
        before = real_get(index=heads, id="audit") if kw.get("index") == heads and "if_seq_no" in kw else None
        result = real_index(**kw)
        if before is not None:
            state["stale"] = before
            real_index(**kw)                                   # the retry meets its own write: 409
        return result

    monkeypatch.setattr(store.client, "get", get_from_a_lagging_replica)
    monkeypatch.setattr(store.client, "index", index_sent_twice)
    log = audit.AuditLog(store, clock=lambda: T0)
    for subject in ("a", "b", "c", "d"):
        log.record({"role": "operator", "id": "op"}, "lookup", subject=subject)
    assert state["served"] >= 2                                # the lagging reads did happen
    entries = store.audit_entries()
    assert [(e["seq"], e["subject"]) for e in entries] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert log.verify()["intact"]


def test_audit_entries_are_monthly_indices_and_a_lost_copy_is_repaired(es_store_factory):
    store = es_store_factory(refresh=True)
    months = [T0, T0 + 40 * DAY]
    for at in months:
        audit.AuditLog(store, clock=lambda at=at: at).record({"role": "system", "id": "t"}, "purge")
    assert sorted(store.client.indices.get(index=store.audit_pattern)) == sorted(store.audit_index(a) for a in months)
    # a writer that died after moving the head but before copying the entry
    store.client.delete(index=store.audit_index(months[1]), id="2", refresh=True)
    other = es_store_factory(prefix=store.prefix, refresh=True)
    assert [e["seq"] for e in other.audit_entries()] == [1, 2]
    assert audit.AuditLog(other, clock=lambda: T0).verify()["intact"]


def test_concurrent_rate_limit_hits_are_all_counted(es_store_factory):
    stores = [es_store_factory(refresh=False)]
    stores.append(es_store_factory(prefix=stores[0].prefix, refresh=False))
    seen = []
    lock = threading.Lock()

    def work(s):
        for i in range(10):
            n = s.hit("kiosk:busy", T0 + i, 3600)
            with lock:
                seen.append(n)

    threads = [threading.Thread(target=work, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 41))


# -- mappings, ids, headers ---------------------------------------------------------------------------
def test_mappings_are_strict(es_store_factory):
    store = es_store_factory()
    with pytest.raises(BadRequestError):
        store.client.index(index=store.index("codes"), document={"jti": "x", "id_number": "1"})
    with pytest.raises(BadRequestError):
        store.client.index(index=store.scans_index(T0), document={"at": T0, "valid": True, "name": "x"})


def test_upserts_use_deterministic_ids(es_store_factory):
    store = es_store_factory(refresh=True)
    store.upsert_resident(Resident("subA", "440000", "h", "green", (), T0, "sealed"))
    store.upsert_resident(Resident("subA", "440000", "h", "red", ("x",), T0 + 1))
    store.add_dependent(Dependent("holder", "kid", "440000", "child", {"method": "a", "reference": "F-1"}, T0))
    store.add_dependent(Dependent("holder", "kid", "440000", "ward", {"method": "b"}, T0 + 9))
    assert store.count("residents") == 1 and store.count("dependents") == 1
    (dep,) = store.dependents("holder")
    assert dep.consent == {"method": "b"} and dep.created_at == T0 and dep.relation == "ward"
    store.record_issued(code("j1"))
    with pytest.raises(ApiError):
        store.record_issued(code("j1", status="red"))          # a reused jti is an error, as in SQLite


def test_every_index_gets_the_configured_replicas(es_server, es_store_factory):
    store = es_store_factory(replicas=0)
    store.add_scan(scan(T0, "x"))
    audit.AuditLog(store, clock=lambda: T0).record({"role": "system", "id": "t"}, "purge")
    settings = store.client.indices.get_settings(index=f"{store.prefix}-*", name="index.number_of_replicas")
    assert {store.scans_index(T0), store.audit_index(T0), store.index("codes")} <= set(settings)
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"0"}
    default = es_store_factory()
    default.record_issued(code("j1"))
    got = default.client.indices.get_settings(index=default.index("codes"), name="index.number_of_replicas")
    assert got[default.index("codes")]["settings"]["index"]["number_of_replicas"] == "1"
    with pytest.raises(ValueError):
        ElasticsearchStore(es_server.url, prefix=new_prefix(), replicas=-1)


def test_index_kinds_get_the_configured_primary_shards(es_server, es_store_factory):
    """Sizing a national deployment: the codes and audit indices take several primaries, the rest
    keep one; the dated audit index made on first use follows its template."""
    store = es_store_factory(shards={"codes": 3, "audit": 2})
    store.record_issued(code("j1"))
    audit.AuditLog(store, clock=lambda: T0).record({"role": "system", "id": "t"}, "purge")
    got = store.client.indices.get_settings(index=f"{store.prefix}-*", name="index.number_of_shards")
    shards = {name: s["settings"]["index"]["number_of_shards"] for name, s in got.items()}
    assert shards[store.index("codes")] == "3" and shards[store.audit_index(T0)] == "2"
    assert shards[store.index("residents")] == "1"
    assert store.hit("k", T0, 60) == 1
    with pytest.raises(ValueError):
        ElasticsearchStore(es_server.url, prefix=new_prefix(), shards={"codes": 0})
    with pytest.raises(ValueError):
        ElasticsearchStore(es_server.url, prefix=new_prefix(), shards={"nonsense": 2})


@pytest.mark.parametrize("text, expected", [
    ("", {}), ("2", dict.fromkeys(MAPPINGS, 2)), (" codes=4, audit=4 ", {"codes": 4, "audit": 4}),
])
def test_shards_are_read_from_one_count_or_kind_pairs(text, expected):
    assert parse_shards(text) == expected


@pytest.mark.parametrize("text", ["0", "two", "codes=", "codes=4,nonsense=2", "codes:4", "1025", "codes=-1"])
def test_a_bad_shard_setting_is_refused_with_its_name(es_server, text):
    with pytest.raises(ValueError, match="HEALTHCODE_ES_SHARDS"):
        from_env(environ={"HEALTHCODE_ES_URL": es_server.url, "HEALTHCODE_ES_SHARDS": text})


def test_from_env(es_server, es_store_factory):
    with pytest.raises(ValueError):
        from_env(environ={})
    with pytest.raises(ValueError, match="HEALTHCODE_ES_REPLICAS"):
        from_env(environ={"HEALTHCODE_ES_URL": es_server.url, "HEALTHCODE_ES_REPLICAS": "two"})
    prefix = es_store_factory().prefix                          # registered for clean-up
    env = {"HEALTHCODE_ES_URL": ",".join(es_server.urls), "HEALTHCODE_ES_PREFIX": prefix,
           "HEALTHCODE_ES_REPLICAS": "0"}
    if es_server.options.get("api_key"):
        env["HEALTHCODE_ES_API_KEY"] = es_server.options["api_key"]
    store = from_env(environ=env)
    try:
        assert store.prefix == prefix and store.replicas == 0
        assert store.retention_days is None
        store.hit("k", T0, 60)
        assert store.hit("k", T0 + 1, 60) == 2
    finally:
        store.close()
    with_settings = from_env(SimpleNamespace(retention_days=7), environ=env)
    try:
        assert with_settings.retention_days == 7
    finally:
        if with_settings.ilm:
            with_settings.client.ilm.delete_lifecycle(name=f"{prefix}-scans")
        with_settings.close()


# -- data protection ----------------------------------------------------------------------------------
def test_no_id_number_like_strings_stored_after_a_realistic_day(es_store_factory, settings, clock):
    from gateway.services import Services
    store = es_store_factory(refresh=True, retention_days=30)
    service = Services(settings, store=store, clock=clock)
    live_a_day(service)
    store.hit("helper:op-1", service.now(), 3600)
    assert_no_id_numbers(store, {"codes", "revoked", "residents", "dependents", "scans", "audit", "sequences",
                                 "ratelimit"})
    clock.advance(40 * DAY)
    service.administration.purge()
    assert audit.verify_chain(store.audit_entries())["intact"]
    assert_no_id_numbers(store, {"audit", "sequences"})


def assert_no_id_numbers(store: ElasticsearchStore, expected_kinds: set) -> None:
    docs = all_documents(store)
    kinds = {d["_index"].removeprefix(store.prefix + "-").split("-")[0] for d in docs}
    assert expected_kinds <= kinds
    raw = json.dumps(docs, ensure_ascii=False)
    assert not ID_NUMBER_LIKE.findall(raw), "an 18-digit ID-number-like string is stored"
    for needle in plain_needles():
        assert needle not in raw and json.dumps(needle)[1:-1] not in raw


# -- servers without index templates --------------------------------------------------------------------
def test_without_index_templates_indices_are_created_with_mappings(es_store_factory, monkeypatch):
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
    from elasticsearch import NotFoundError
    from elasticsearch._sync.client.indices import IndicesClient

    def no_templates(self, **kw):
        meta = ApiResponseMeta(404, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
        raise NotFoundError("no handler found for uri [/_index_template]", meta, {})

    monkeypatch.setattr(IndicesClient, "put_index_template", no_templates)
    store = es_store_factory(refresh=True)
    assert not store.templates and store.template_names == []
    d0 = day_start(T0)
    store.add_scans([scan(d0 - 2 * DAY, "old"), scan(d0, "new")])
    audit.AuditLog(store, clock=lambda: T0).record({"role": "system", "id": "t"}, "purge")
    for index in (store.scans_index(d0), store.audit_index(T0), store.index("codes")):
        mapping = store.client.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping["dynamic"] == "strict"
    assert store.purge(d0)["scan_indices_dropped"] == 1
    store.add_scan(scan(d0 - 2 * DAY + 5, "late"))                # a dropped day is re-created with its mapping
    mapping = store.client.indices.get_mapping(index=store.scans_index(d0 - 2 * DAY))
    assert next(iter(mapping.values()))["mappings"]["dynamic"] == "strict"
    assert [e.code_id for e in store.scans()] == ["late", "new"]
