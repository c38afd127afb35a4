"""The fast paths of issue 12 do what the slow ones did: Base45 without a Python loop, revoked
ids in memory (and another process's revocation still seen), scan events written in groups
(and none lost on a clean shutdown, also under gunicorn workers), batches over every core in
input order.  Speed itself is measured by `make bench`, never here."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import time

import base45
import pytest
import requests

from adapters.eu_dcc.b45 import b45decode
from gateway.batch import PARALLEL_MIN_ITEMS, Job
from gateway.services import Services
from issuers import make_person
from config.settings import load_settings
from store import ScanEvent
from store.revocations import RECHECK_SECONDS, RevocationSet
from store.scanqueue import ScanWriter
from store.sqlite import SqliteStore
from residents import GD_ELDER, SC_RESIDENT, SH_ELDER
from support.waiting import wait_until
from support.cli import run_cli
from support.live import LiveServer, config_with_limits

PEOPLE = {"440000": GD_ELDER.id_and_name, "510000": SC_RESIDENT.id_and_name, "310000": SH_ELDER.id_and_name}


# --- Base45 -------------------------------------------------------------------------------------
def test_base45_decodes_what_the_package_encodes():
    rng = random.Random(12)
    for size in [*range(40), 255, 256, 1000, 3001]:
        data = bytes(rng.getrandbits(8) for _ in range(size))
        assert b45decode(base45.b45encode(data).decode()) == data


def test_base45_refuses_what_the_package_refuses():
    rng = random.Random(45)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" + "a:~é"
    samples = ["GGW", ":::", "::", "A", "AAAA", "", "0 0", "é00", "FGW", "FGV"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(9))) for _ in range(20000)]
    for text in samples:
        try:
            expected = base45.b45decode(text)
        except (ValueError, KeyError, TypeError):
            expected = None
        try:
            got = b45decode(text)
        except ValueError:
            got = None
        assert got == expected, text


# --- revocation from memory ---------------------------------------------------------------------
def _service(data_dir, **kw) -> Services:
    return Services(load_settings(data_dir=data_dir), **kw)


def test_a_revocation_by_another_process_is_seen_within_the_recheck_bound(tmp_path):
    checkpoint, issuer = _service(tmp_path), _service(tmp_path)       # two processes' services
    person = make_person(*PEOPLE["440000"])
    code = issuer.issuing.issue("440000", person).qr_text
    assert checkpoint.verification.verify(code).valid
    issuer.issuing.revoke_subject(issuer.issuing.subject(person), {"role": "issuer", "id": "gd"})
    time.sleep(RECHECK_SECONDS * 5)
    verdict = checkpoint.verification.verify(code)
    assert not verdict.valid and verdict.errors[0]["code"] == "code_revoked"


def test_the_revocation_set_follows_inserts_and_purges(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    other = SqliteStore(tmp_path / "s.sqlite3")
    revoked = RevocationSet(store, recheck=0)
    assert "a" not in revoked
    other.revoke_codes(["a", "b"], "x", 100, 200)
    assert "a" in revoked and "b" in revoked and len(revoked) == 2
    other.revoke_codes(["c"], "x", 100, 10_000)
    assert "c" in revoked and len(revoked) == 3
    other.purge(before=1000)                                  # a and b expired and go
    assert "a" not in revoked and "c" in revoked and len(revoked) == 1
    other.revoke_codes(["d"], "x", 100, 10_000)               # rowids after a purge still found
    assert "d" in revoked and len(revoked) == 2


# --- scan events in groups ----------------------------------------------------------------------
class CountingStore(SqliteStore):
    """A real SQLite store that also counts its add_scans calls (one call = one transaction)."""
    calls = 0

    def add_scans(self, events):
        self.calls += 1
        super().add_scans(events)


def _event(i: int) -> ScanEvent:
    return ScanEvent(1_800_000_000 + i, True, "yuekang", "440000", "green", f"code{i:08d}", None, "p", "d")


def test_scan_events_are_written_in_groups_and_all_arrive(tmp_path):
    store = CountingStore(tmp_path / "s.sqlite3")
    writer = ScanWriter(store, interval=0.005, max_events=100)
    for i in range(1000):
        writer.add_scan(_event(i))
    wait_until(lambda: store.count_scans() >= 1000, timeout=5, interval=0.005)
    assert store.count_scans() == 1000
    assert store.calls <= 100                           # groups, not one transaction per event
    assert [e.code_id for e in store.scans(limit=1000)] == [f"code{i:08d}" for i in range(1000)]
    writer.close()


def test_close_writes_what_is_queued_and_later_events_go_straight_through(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    writer = ScanWriter(store, interval=60, max_events=10_000)      # would wait a minute
    for i in range(50):
        writer.add_scan(_event(i))
    writer.close()
    assert store.count_scans() == 50
    writer.add_scan(_event(50))
    assert store.count_scans() == 51


def test_a_full_queue_makes_the_caller_write(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    writer = ScanWriter(store, interval=60, max_events=10_000, max_queue=20)
    for i in range(20):
        writer.add_scan(_event(i))
    assert store.count_scans() == 20                    # written by the 20th caller, not dropped
    writer.close()


def test_a_failing_store_keeps_the_events_for_the_next_group(tmp_path):
    class Flaky(SqliteStore):
        fail = True

        def add_scans(self, events):
            if self.fail:
                self.fail = False
                raise sqlite3.OperationalError("database is locked")
            super().add_scans(events)

    store = Flaky(tmp_path / "s.sqlite3")
    writer = ScanWriter(store, interval=0.002)
    for i in range(10):
        writer.add_scan(_event(i))
    writer.close()
    assert store.count_scans() == 10 and writer.dropped == 0


def _count_rows(data) -> int:
    with sqlite3.connect(data / "healthcode.sqlite3") as db:
        return db.execute("select count(*) from scan_events").fetchone()[0]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_clean_shutdown_loses_no_scan_event(tmp_path, workers):
    """SIGTERM to `healthcode serve` (threaded, or gunicorn with 2 workers): every verify
    answered before it is in the file afterwards."""
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=10**6)
    env = {"HEALTHCODE_CONFIG": str(config)}
    code = run_cli("issue", "--region", "510000", "--id-number", PEOPLE["510000"][0], "--name",
                   PEOPLE["510000"][1], data_dir=tmp_path, check=True, env=env).stdout.strip()
    server = LiveServer(tmp_path, env, ("--workers", str(workers)))
    try:
        session = requests.Session()
        answers = [session.post(server.url + "/v1/verify", json={"payload": code, "device": f"gate-{i}"},
                                timeout=10).json() for i in range(120)]
        assert all(a["valid"] for a in answers)
    finally:
        server.stop(30)
    assert server.proc.returncode == 0, server.log_path.read_text(errors="replace")
    assert _count_rows(tmp_path) == 120


# --- batches over every core --------------------------------------------------------------------
@pytest.mark.slow
def test_a_large_batch_gives_the_serial_verdicts_in_order(tmp_path):
    svc = _service(tmp_path)
    codes = {region: svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()}
    revoked_person = make_person("110101197612039635", "刘建国")
    withdrawn = svc.issuing.issue("110000", revoked_person).qr_text
    svc.issuing.revoke_subject(svc.issuing.subject(revoked_person), {"role": "issuer", "id": "bj"})
    texts = [*codes.values(), withdrawn, "junk", codes["440000"][:-4] + "AAAA"]
    jobs = [Job(text=texts[i % len(texts)]) for i in range(PARALLEL_MIN_ITEMS * 3)]
    before = svc.store.count_scans()
    try:
        parallel = [v.as_dict() for v in svc.verification.verify_many(jobs, device="t")]
        assert svc.verification._pool is not None                         # it really went to the pool
        serial = [svc.verification.verify(job.text, device="t").as_dict() for job in jobs]
    finally:
        svc.close()
    assert parallel == serial
    assert {v["errors"][0]["code"] for v in parallel if not v["valid"]} == \
        {"code_revoked", "format_unknown", "signature_invalid"}
    stored = SqliteStore(tmp_path / "healthcode.sqlite3")
    assert stored.count_scans() - before == 2 * sum(1 for t in texts if t != "junk") * len(jobs) // len(texts)


def test_http_batch_over_the_pool_keeps_ids_in_order(tmp_path):
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=10**6)
    env = {"HEALTHCODE_CONFIG": str(config)}
    code = run_cli("issue", "--region", "440000", "--id-number", PEOPLE["440000"][0], "--name",
                   PEOPLE["440000"][1], data_dir=tmp_path, check=True, env=env).stdout.strip()
    server = LiveServer(tmp_path, env)
    try:
        items = [{"id": f"n{i}", "payload": code if i % 3 else "junk"} for i in range(200)]
        items[7] = {"id": "bad", "image_b64": "%%%"}
        r = requests.post(server.url + "/v1/verify/batch", json={"items": items}, timeout=60)
        assert r.status_code == 200
        results = r.json()["results"]
    finally:
        server.stop()
    assert [x["id"] for x in results] == [i["id"] for i in items]
    for item, result in zip(items, results):
        if item["id"] == "bad":
            assert not result["valid"]
        else:
            assert result["valid"] == (item["payload"] == code)


def test_http_batch_answered_in_the_pool_matches_small_batches(tmp_path):
    """A large HTTP batch is answered in the pool processes, JSON and all: the same results, in
    order, as the same items sent in batches too small for the pool; odd items fall back."""
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=10**6)
    env = {"HEALTHCODE_CONFIG": str(config)}
    codes = [run_cli("issue", "--region", region, "--id-number", person[0], "--name", person[1], data_dir=tmp_path,
                     check=True, env=env).stdout.strip() for region, person in PEOPLE.items()]
    odd = [{"id": "j", "payload": "junk"}, {"id": "img", "image_b64": "%%%"}, {"id": "n", "payload": 7},
           {"id": "p", "payload": codes[0], "place": "x" * 65}, {"payload": codes[1]},
           {"id": "url", "payload": "https://example.org/hc/x"}, {"id": "t", "payload": codes[2][:-4] + "AAAA"}]
    items = [{"id": i, "payload": codes[i % len(codes)]} for i in range(PARALLEL_MIN_ITEMS * 2)]
    items[5:5] = odd
    server = LiveServer(tmp_path, env)
    try:
        url = server.url + "/v1/verify/batch"
        large = requests.post(url, json={"items": items, "place": "站"}, timeout=60)
        small = [r for i in range(0, len(items), 10)
                 for r in requests.post(url, json={"items": items[i:i + 10], "place": "站"}, timeout=60).json()["results"]]
    finally:
        server.stop()
    assert large.status_code == 200 and large.headers["Content-Type"].startswith("application/json")
    assert large.json()["results"] == small
    assert [r["valid"] for r in small[5:5 + len(odd)]] == [False, False, False, False, True, False, False]


@pytest.mark.slow
def test_cli_verify_batch_over_the_pool_keeps_order(tmp_path):
    code = run_cli("issue", "--region", "310000", "--id-number", PEOPLE["310000"][0], "--name",
                   PEOPLE["310000"][1], data_dir=tmp_path, check=True).stdout.strip()
    lines = [json.dumps({"id": i, "payload": code if i % 5 else "junk"}) for i in range(300)] + ["not json"]
    out = run_cli("verify-batch", data_dir=tmp_path, stdin="\n".join(lines) + "\n", check=True).stdout
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in results] == [*range(300), None]
    assert [r["valid"] for r in results[:300]] == [bool(i % 5) for i in range(300)]
    assert results[300]["errors"][0]["code"] == "bad_request"
    assert _count_rows(tmp_path) == 240                       # junk counted, not stored


def test_cli_blocks_answered_in_the_pool_match_the_one_line_path(tmp_path):
    """verify-batch blocks go to the pool as raw lines (gateway/batch.py ``_answer_lines``): the
    answers, the revocation refusals and the stored scans are those of answering line by line."""
    from gateway.cli import batch_line, batch_text
    svc = _service(tmp_path)
    codes = [svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()]
    revoked_person = make_person("110101197612039635", "刘建国")
    withdrawn = svc.issuing.issue("110000", revoked_person).qr_text
    svc.issuing.revoke_subject(svc.issuing.subject(revoked_person), {"role": "issuer", "id": "bj"})
    odd = [json.dumps({"id": "w", "payload": withdrawn}), "not json", "[1]", json.dumps({"id": "j", "payload": "junk"}),
           json.dumps({"id": "at", "payload": codes[0], "at": "2001-01-01T00:00:00Z"}),
           json.dumps({"id": "bad-at", "payload": codes[0], "at": "yesterday"}),
           json.dumps({"id": "n", "payload": 7}), json.dumps({"id": "img", "image_b64": "%%%"}),
           json.dumps({"id": "url", "payload": "https://example.org/hc/x"}),
           json.dumps({"id": "t", "payload": codes[1][:-4] + "AAAA"})]
    lines = [json.dumps({"id": i, "payload": codes[i % len(codes)]}, ensure_ascii=False)
             for i in range(PARALLEL_MIN_ITEMS * 2)]
    lines[3:3] = odd
    from gateway import metrics

    def counted():
        return {tuple(sorted(sample.labels.items())): sample.value for family in metrics.REGISTRY.collect()
                if family.name == "healthcode_verifications" for sample in family.samples
                if sample.name.endswith("_total")}

    before, counted_before = svc.store.count_scans(), counted()
    try:
        pooled = batch_text(svc, lines)
        assert svc.verification._pool is not None                         # it really went to the pool
        svc.verification.scan_writer and svc.verification.scan_writer.flush()
        middle, counted_middle = svc.store.count_scans(), counted()
        serial = "".join(json.dumps(batch_line(svc, line), ensure_ascii=False) + "\n" for line in lines)
        after, counted_after = svc.store.count_scans(), counted()
    finally:
        svc.close()
    assert pooled == serial
    assert {k: v - counted_before.get(k, 0) for k, v in counted_middle.items()} == \
        {k: v - counted_middle.get(k, 0) for k, v in counted_after.items()}     # the metrics alike
    answers = {a.get("id"): a for a in map(json.loads, pooled.splitlines())}
    assert answers["w"]["errors"][0]["code"] == "code_revoked" and answers["t"]["errors"][0]["code"] == "signature_invalid"
    assert middle - before == after - middle > len(lines) - len(odd)


# --- printed cards ------------------------------------------------------------------------------
def test_printed_cards_are_vectors_that_scan_at_150_dpi(tmp_path):
    from support.codes import pdf_qr_texts
    svc = _service(tmp_path / "data")
    people = [("440000", make_person(*PEOPLE["440000"]), None), ("510000", make_person(*PEOPLE["510000"]), "red"),
              ("310000", make_person(*PEOPLE["310000"]), None), ("440000", make_person("440106197209116424", "陈美玲"), None),
              ("510000", make_person("510107201804272337", "张小宝"), "yellow")]
    for region, person, status in people:
        svc.issuing.issue(region, person, status=status)         # each person's issuer decides first
    pdf = svc.issuing.print_cards([(region, person, None) for region, person, _ in people], layout="sheet")
    (tmp_path / "cards.pdf").write_bytes(pdf)
    assert b"/Subtype /Image" not in pdf and b"/XObject" not in pdf   # no embedded bitmap at all
    assert pdf.count(b"/FontFile2") <= 1                               # the CJK font embedded once
    pages = pdf_qr_texts(tmp_path / "cards.pdf", tmp_path, dpi=150)
    assert [len(p) for p in pages] == [4, 1]
    verdicts = [svc.verification.verify(text, record=False) for page in pages for text in page]
    assert all(v.valid and v.kind == "offline" for v in verdicts)
    assert sorted(v.region for v in verdicts) == ["310000", "440000", "440000", "510000", "510000"]
    assert sorted(v.status for v in verdicts if v.region == "510000") == ["red", "yellow"]   # as printed
    svc.close()


def test_a_batch_survives_a_pool_process_that_dies(tmp_path):
    """A pool process killed mid-batch (OOM killer, an operator) costs speed, not answers."""
    import signal
    svc = _service(tmp_path)
    code = svc.issuing.issue("440000", make_person(*PEOPLE["440000"])).qr_text
    jobs = [Job(text=code)] * (PARALLEL_MIN_ITEMS * 2)
    try:
        assert all(v.valid for v in svc.verification.verify_many(jobs, record=False))
        for pid in list(svc.verification._pool.executor()._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        verdicts = svc.verification.verify_many(jobs, record=False)
    finally:
        svc.close()
    assert len(verdicts) == len(jobs) and all(v.valid for v in verdicts)



def test_the_pool_is_warm_before_the_first_batch_and_a_dead_one_costs_no_answer(tmp_path):
    """warm_pool starts every pool process (each reading the trust list) before any batch; a
    block whose pool processes were killed is answered in-process, the answers and stored scans
    those of the one-line path (each scan stored once)."""
    import signal
    from gateway.cli import batch_line, batch_text
    svc = _service(tmp_path)
    code = svc.issuing.issue("440000", make_person(*PEOPLE["440000"])).qr_text
    lines = [json.dumps({"id": i, "payload": code if i % 4 else "junk"}) for i in range(PARALLEL_MIN_ITEMS * 2)]
    try:
        svc.verification.warm_pool()
        wait_until(lambda: svc.verification._pool is not None and svc.verification._pool._executor is not None
                   and len(svc.verification._pool._executor._processes) == (os.cpu_count() or 1), timeout=60)
        processes = dict(svc.verification._pool._executor._processes)
        warm = batch_text(svc, lines)
        assert dict(svc.verification._pool._executor._processes) == processes       # no process started for it
        for pid in processes:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        before = svc.store.count_scans()
        survived = batch_text(svc, lines)
        middle = svc.store.count_scans()
        serial = "".join(json.dumps(batch_line(svc, line), ensure_ascii=False) + "\n" for line in lines)
        after = svc.store.count_scans()
    finally:
        svc.close()
    assert warm == survived == serial
    assert middle - before == after - middle == sum(1 for i in range(len(lines)) if i % 4)


# --- the compiled request check ---------------------------------------------------------------------
BODIES = [{}, {"payload": "HC1:x"}, {"payload": "x", "place": "广州南站", "device": "gate-3"},
          {"payload": 5}, {"payload": None}, {"payload": ["x"]}, {"payload": {"a": 1}}, {"payload": True},
          {"payload": "x", "place": "p" * 64}, {"payload": "x", "place": "p" * 65}, {"payload": "x", "device": 3},
          {"payload": "x", "device": "d" * 65}, {"image_b64": "aGk="}, {"image_b64": 1}, {"payload": "x", "extra": 1},
          {"payload": "x", "place": "\U0001f600" * 64}, {"payload": "x", "place": "\U0001f600" * 65},
          {"items": []}, {"items": [{"payload": "x"}] * 500}, {"items": [{"payload": "x"}] * 501},
          {"items": [1, "x", None]}, {"items": {"payload": "x"}}, {"items": None}, {"items": [{}], "place": 7},
          {"items": [{}], "place": "q" * 65}, {"items": [{"id": 1, "payload": "x"}], "device": "d"}, {"place": "x"}]


@pytest.mark.parametrize("component", ["VerifyRequest", "BatchRequest"])
def test_the_compiled_request_check_never_accepts_what_the_openapi_schema_refuses(component):
    """The compiled validator may only say "valid" where jsonschema on the OpenAPI file says so too
    (where it refuses, the reference decides and words the message), and on the bodies the
    gateway takes it does say valid — otherwise it would not be the fast path."""
    import standard
    reference = standard.openapi_validator(component)
    accepted = 0
    for body in BODIES:
        fast = standard.openapi_accepts(component, body)
        assert fast == reference.is_valid(body), (component, body)
        accepted += fast
    assert accepted >= 3
    assert not standard.openapi_accepts("IssueRequest", {})           # other components: the reference only


def both_ways(client, app, monkeypatch, requests_: list, addresses=("127.0.0.1", "127.0.0.1")) -> tuple[list, list]:
    """The answers to ``requests_`` (path, test-client arguments) through the fast path and the
    compiled check, then through the framework and jsonschema only: (status, headers, body) each."""
    import standard

    def answers(address) -> list:
        out = []
        for path, kwargs in requests_:
            r = client.post(path, environ_base={"REMOTE_ADDR": address}, **kwargs)
            out.append((path, r.status_code, list(r.headers.items()), r.get_data()))
        return out

    middleware, passed_on = app.extensions["fast_verify"], []
    with monkeypatch.context() as patch:
        patch.setattr(middleware, "fallback", lambda env, start, app_=middleware.fallback: passed_on.append(1) or
                      app_(env, start))
        fast = answers(addresses[0])
    answered_fast = len(requests_) - len(passed_on)
    assert answered_fast > 0
    with monkeypatch.context() as patch:
        patch.setattr(standard, "FAST_COMPONENTS", ())
        patch.setattr(app.extensions["fast_verify"], "enabled", False)
        reference = answers(addresses[1])
    return fast, reference, answered_fast


def test_verify_answers_are_the_same_bytes_on_the_fast_path_and_through_the_framework(tmp_path, monkeypatch):
    """Every kind of verify request the HTTP tests send (good codes, tampered and foreign text,
    bad members, wrong bodies, another content type, a credential, batches good and bad) gets the
    same status, headers (security headers included) and body whether the fast path and the
    compiled request check answer it or the framework and jsonschema alone."""
    from gateway import create_app
    from support.clock import Clock
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=10**6)
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    svc = Services(load_settings(data_dir=tmp_path), clock=Clock())
    texts = [svc.issuing.issue(region, make_person(*PEOPLE[region]), kind="offline").qr_text for region in PEOPLE]
    tampered = texts[0][:-4] + ("AAAA" if not texts[0].endswith("AAAA") else "BBBB")
    app = create_app(svc)
    token = svc.administration.add_credential("operator", "gate-7", {"role": "test", "id": "t"})
    verify_bodies = [{"payload": t, "place": "广州南站", "device": "gate-3"} for t in texts] + [
        {"payload": texts[0]}, {"payload": tampered}, {"payload": "HC1:NOTACODE"}, {"payload": ""},
        {"payload": "x" * 13_000}, {"payload": 5}, {"payload": texts[1], "place": "p" * 65},
        {"payload": texts[1], "extra": True}, {"payload": texts[1], "place": None}, {"image_b64": "not base64!"},
        {"payload": texts[0], "image_b64": "aGk="}, {}, {"place": "x"}, [texts[0]], "text"]
    batch_bodies = [{"items": [{"id": i, "payload": t} for i, t in enumerate(texts)], "place": "gate"},
                    {"items": [{"payload": tampered}, {"id": "x"}, 7, {"payload": 5}, {"payload": texts[2]}]},
                    {"items": []}, {"items": "no"}, {}, {"items": [{"payload": texts[0]}], "device": "d" * 65}]
    plain = json.dumps({"payload": texts[0]})
    requests_ = [("/v1/verify", {"json": b}) for b in verify_bodies] + \
        [("/v1/verify/batch", {"json": b}) for b in batch_bodies] + \
        [("/v1/verify", {"data": b"{not json", "content_type": "application/json"}),
         ("/v1/verify", {"data": plain, "content_type": "text/plain"}),
         ("/v1/verify", {"data": plain, "content_type": "application/json; charset=utf-8"}),
         ("/v1/verify", {"data": plain.encode("utf-16"), "content_type": "application/json"}),
         ("/v1/verify", {"data": plain, "content_type": "application/json",
                         "headers": {"Authorization": "Bearer not-a-token"}}),
         ("/v1/verify", {"json": {"payload": texts[1]}, "headers": {"Authorization": f"Bearer {token}"}}),
         ("/v1/verify", {"json": {"payload": texts[1]}, "headers": {"Authorization": f"bearer  {token} "}}),
         ("/v1/verify", {"json": {"payload": tampered}, "headers": {"Authorization": f"Basic {token}"}}),
         ("/v1/verify", {"data": "[" * 2000 + "]" * 2000, "content_type": "application/json"}),
         ("/v1/verify?x=1", {"json": {"payload": texts[0]}})]
    fast, reference, answered_fast = both_ways(app.test_client(), app, monkeypatch, requests_)
    svc.close()
    assert answered_fast >= 16         # the good codes, the bad texts, the credentials; the rest passed on
    assert [a[1] for a in fast].count(200) >= 10 and any(a[1] == 400 for a in fast)
    assert all(dict(a[2])["X-Frame-Options"] == "DENY" for a in fast)
    for got, want in zip(fast, reference):
        assert got == want


def test_a_rate_limited_verify_is_the_same_answer_on_the_fast_path(tmp_path, monkeypatch):
    from gateway import create_app
    from support.clock import Clock
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=2)
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    svc = Services(load_settings(data_dir=tmp_path), clock=Clock())
    text = svc.issuing.issue("440000", make_person(*PEOPLE["440000"]), kind="offline").qr_text
    app = create_app(svc)
    fast, reference, answered_fast = both_ways(app.test_client(), app, monkeypatch,
                                               [("/v1/verify", {"json": {"payload": text}})] * 3,
                                               addresses=("10.0.0.1", "10.0.0.2"))
    svc.close()
    assert [a[1] for a in fast] == [200, 200, 429] and dict(fast[2][2])["Retry-After"] and answered_fast == 3
    assert fast == reference


def test_a_credential_is_charged_on_the_fast_path_as_in_the_view(tmp_path, monkeypatch):
    """A credentialed verify is answered on the fast path and charged to the credential, not the
    address: from two addresses, one credential's third request is refused on both paths, while
    an anonymous request from the same address still passes."""
    from gateway import create_app
    from support.clock import Clock
    config = config_with_limits(tmp_path, anonymous_verifications_per_minute=2)
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    svc = Services(load_settings(data_dir=tmp_path), clock=Clock())
    text = svc.issuing.issue("440000", make_person(*PEOPLE["440000"]), kind="offline").qr_text
    app = create_app(svc)
    tokens = [svc.administration.add_credential("operator", f"gate-{i}", {"role": "test", "id": "t"}) for i in (1, 2)]
    results = []
    for token in tokens:                    # the fast path, then the framework alone: one credential each
        client = app.test_client()
        with monkeypatch.context() as patch:
            if token == tokens[1]:
                patch.setattr(app.extensions["fast_verify"], "enabled", False)
            results.append([client.post("/v1/verify", json={"payload": text}, headers={"Authorization": f"Bearer {token}"},
                                        environ_base={"REMOTE_ADDR": address}).status_code
                            for address in ("10.0.1.1", "10.0.1.2", "10.0.1.3")]
                           + [client.post("/v1/verify", json={"payload": text},
                                          environ_base={"REMOTE_ADDR": "10.0.1.1"}).status_code])
    svc.close()
    assert results == [[200, 200, 429, 200], [200, 200, 429, 200]]


def test_a_serving_app_leaves_its_start_up_objects_out_of_full_collections(tmp_path, monkeypatch):
    """create_app for a serving process (group_scans) freezes what start-up built, so a full
    collection during requests walks only what requests made; an app built for tests does not."""
    import gc
    from gateway import create_app
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config_with_limits(tmp_path)))
    svc = Services(load_settings(data_dir=tmp_path))
    try:
        gc.unfreeze()
        create_app(svc)
        assert gc.get_freeze_count() == 0
        create_app(svc, group_scans=True)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        svc.close()


@pytest.mark.slow
def test_cli_verify_batch_answers_a_scanner_line_by_line(tmp_path):
    """A started block waits a moment for more input (a pipe arrives 64 KB at a time), never for
    the next line of a scanner that sends one line and waits for its answer."""
    import subprocess
    from support.paths import BIN
    code = run_cli("issue", "--region", "310000", "--id-number", PEOPLE["310000"][0], "--name",
                   PEOPLE["310000"][1], data_dir=tmp_path, check=True).stdout.strip()
    proc = subprocess.Popen([str(BIN / "healthcode"), "verify-batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "HEALTHCODE_DATA": str(tmp_path)})
    try:
        answers = []
        for i in range(3):                # the pipe stays open: each answer comes before the next line
            proc.stdin.write(json.dumps({"id": i, "payload": code}) + "\n")
            proc.stdin.flush()
            answers.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert [(a["id"], a["valid"]) for a in answers] == [(0, True), (1, True), (2, True)]


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_a_killed_gateway_leaves_no_batch_pool_behind(tmp_path):
    """A serving process starts its batch pool at once; SIGKILLed, it takes the pool (and the
    forkserver it came from) with it — nothing is left running on the machine."""
    import signal
    server = LiveServer(tmp_path)
    try:
        pool = wait_until(lambda: _descendants(server.proc.pid), lambda found: len(found) >= 3, timeout=60)
        assert len(pool) >= 3                    # the forkserver and a process per core
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        left = wait_until(lambda: {pid for pid in pool if _alive(pid)}, lambda alive: not alive, timeout=15)
    finally:
        server.stop()
    assert not left
