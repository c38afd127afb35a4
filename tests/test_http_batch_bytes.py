"""``POST /v1/verify/batch`` answered in the pool as finished bytes (gateway/batch.py
``_answer_items``, ``dump_answer``): the answers orjson writes are the bytes ``json``'s encoder
writes, and a large batch of every kind of item — valid, tampered, junk, revoked, online, images,
bad items, ids of every JSON type — gets the same response bytes, the same counts and the same scan
records from the pool as from the one-item path in-process."""
from __future__ import annotations

import base64
import copy
import json
import sys

from adapters import qr
from config.settings import load_settings
from gateway import answer_json, batch, metrics
from gateway.services import Services
from issuers import make_person
from residents import GD_ELDER, SC_RESIDENT, SH_ELDER
from support.live import config_with_limits

PEOPLE = {"440000": GD_ELDER.id_and_name, "510000": SC_RESIDENT.id_and_name, "310000": SH_ELDER.id_and_name}
IDS = [0, -1, 7, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 12345678901234567890123, 1.0, -0.0, 1e16, 2.5e-300, 0.1,
       True, False, None, "", "n7", "站-3 \"q\" \\ \t\n\u2028 ✓ 𝄞 \x00\x1f\x7f", [], [1, "a", None, 1.5], {},
       {"k": [{"z": 1}]}, {"f": {"g": 2**70}}]


def _old_dump(answer: dict) -> bytes:
    """How an item's answer was written before: ``json`` with the app's compact separators."""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def test_the_answer_bytes_are_jsons_for_every_code_point_and_id_type():
    text = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(text), 4096):
        answer = {"id": text[start:start + 4096], "valid": False, "errors": [{"code": "x", "message": "y"}]}
        assert batch.dump_answer(answer) == _old_dump(answer)
    for value in IDS:
        answer = {"id": value, "valid": True, "holder": {"name_masked": "陈*英"}, "reasons": []}
        assert batch.dump_answer(answer) == _old_dump(answer), value
    assert answer_json._orjson_writes_it({"a": [1, {"b": None}]}) and not answer_json._orjson_writes_it({"a": [{"b": 0.5}]})
    assert not answer_json._orjson_writes_it({"id": 2**64}) and not answer_json._orjson_writes_it({"id": -(2**63) - 1})


def _counted() -> dict:
    return {tuple(sorted(sample.labels.items())): sample.value for family in metrics.REGISTRY.collect()
            if family.name == "healthcode_verifications" for sample in family.samples if sample.name.endswith("_total")}


def _delta(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_a_plain_items_answer_is_its_id_spliced_before_the_verdict_and_the_schema_decides_what_is_plain(monkeypatch):
    """The pool writes an item's id and its verdict apart and splices them: the same bytes as the
    whole answer written at once, for every id type.  Items of the shape ``{"id"?, "payload": text}``
    skip the per-item schema check only while ``VerifyRequest`` cannot refuse such an item."""
    verdict = {"valid": True, "status": "green", "holder": {"name_masked": "陈*英"}, "reasons": [], "errors": []}
    for value in IDS:
        spliced = b'{"id":' + batch.dump_answer(value) + b"," + batch.dump_answer(verdict)[1:]
        assert spliced == _old_dump({"id": value, **verdict}), value
    assert batch.plain_items_valid()
    import standard
    real = standard.load_schema

    def changed(change):
        def load(name):
            schema = copy.deepcopy(real(name))          # the real one is cached: never changed
            if name == "openapi.json":
                change(schema["components"]["schemas"]["VerifyRequest"])
            return schema
        return load

    for change in (lambda s: s["properties"]["payload"].update(maxLength=100),
                   lambda s: s.update(additionalProperties=False),
                   lambda s: s["properties"].update(id={"type": "integer"}),
                   lambda s: s.update(required=["image_b64"]),
                   lambda s: s["properties"].update(payload={"type": ["string", "null"]})):
        monkeypatch.setattr(standard, "load_schema", changed(change))
        assert not batch.plain_items_valid()


def test_a_mixed_batch_gets_the_same_bytes_counts_and_scans_from_the_pool_as_in_process(tmp_path, monkeypatch, caplog):
    from gateway import create_app
    from support.clock import Clock
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config_with_limits(tmp_path, anonymous_verifications_per_minute=10**6)))
    svc = Services(load_settings(data_dir=tmp_path), clock=Clock())
    codes = [svc.issuing.issue(region, make_person(*person)).qr_text for region, person in PEOPLE.items()]
    withdrawn_person = make_person("110101197612039635", "刘建国")
    withdrawn = svc.issuing.issue("110000", withdrawn_person).qr_text
    svc.issuing.revoke_subject(svc.issuing.subject(withdrawn_person), {"role": "issuer", "id": "bj"})
    image = base64.b64encode(qr.render_png(codes[1])).decode()
    odd = [{"id": "w", "payload": withdrawn}, {"id": "j", "payload": "junk"}, {"id": "n", "payload": 7},
           {"id": "img", "image_b64": image}, {"id": "bad-img", "image_b64": "%%%"},
           {"id": "url", "payload": "https://example.org/hc/x"}, {"id": "t", "payload": codes[1][:-4] + "AAAA"},
           {"id": "extra", "payload": codes[0], "extra": 1}, {"payload": codes[2]}, {"id": "empty", "payload": ""},
           {"id": "big", "payload": codes[0] + "A" * 20_000}, {}, {"id": "at", "payload": codes[0], "at": "x"}]
    items: list = [{"id": IDS[i % len(IDS)], "payload": codes[i % len(codes)]} for i in range(200)]
    for k, item in enumerate(odd):
        items.insert(3 + 7 * k, item)
    app = create_app(svc, group_scans=True)
    client = app.test_client()
    body = {"items": items, "place": "广州南站 440604197209116429", "device": "gate-3"}

    def post() -> tuple[bytes, dict, int]:
        before, scans = _counted(), svc.store.count_scans()
        response = client.post("/v1/verify/batch", json=body)
        assert response.status_code == 200, response.data[:300]
        svc.verification.flush_scans()
        return response.data, _delta(before, _counted()), svc.store.count_scans() - scans

    try:
        pooled = post()
        assert svc.verification._pool is not None                      # it really went to the pool
        monkeypatch.setattr(batch, "PARALLEL_MIN_ITEMS", 10**9)         # the one-item path, in-process
        serial = post()
        recent = svc.store.scans(limit=10**6)
    finally:
        svc.close()
    assert not [r for r in caplog.records if "batch pool failed" in r.getMessage()]
    assert pooled[0].decode().split("},{") == serial[0].decode().split("},{")       # a readable diff first
    assert pooled == serial
    results = json.loads(pooled[0])["results"]
    assert len(results) == len(items) and pooled[1] and pooled[2] > 200
    by_id = {json.dumps(r.get("id")): r for r in results}
    assert by_id['"w"']["errors"][0]["code"] == "code_revoked" and by_id['"img"']["valid"]
    assert [r["id"] for r in results if isinstance(r.get("id"), (int, float)) and not isinstance(r["id"], bool)][:12] \
        == [i for i in IDS[:13] if not isinstance(i, bool)][:12]
    assert all(event.place == recent[0].place for event in recent) and "440604197209116429" not in recent[0].place
