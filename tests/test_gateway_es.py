"""The whole gateway on the Elasticsearch backend (HEALTHCODE_STORE=elasticsearch): a real
``healthcode serve`` process and the CLI both talk to the real Elasticsearch started for the
session (or the cluster in HEALTHCODE_ES_URL), and nothing is written to a SQLite file."""
from __future__ import annotations

import json

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer
from store import open_store
from store.elasticsearch import ElasticsearchStore


def test_gateway_serves_from_elasticsearch(es_env, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for key, value in es_env.items():
        monkeypatch.setenv(key, value)                           # run_cli passes os.environ on
    server = LiveServer(data, es_env)
    try:
        token = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["440000"]
        issued = requests.post(f"{server.url}/v1/issuers/440000/codes", headers={"Authorization": f"Bearer {token}"},
                               json={"id_number": "440106199901056850", "name": "李明",
                                     "facts": {"close_contact": True}}, timeout=10)
        assert issued.status_code == 201, issued.text
        for _ in range(3):
            verdict = requests.post(f"{server.url}/v1/verify", json={"payload": issued.json()["qr_text"],
                                                                      "device": "gate-1"}, timeout=10).json()
            assert verdict["valid"] and verdict["status"] == "red"
        assert json.loads(run_cli("audit", "verify", data_dir=data, check=True).stdout)["intact"]
    finally:
        server.stop()
    assert not list(data.glob("*.sqlite3*")), "the SQLite backend was used"
    from config.settings import load_settings
    store = open_store(load_settings(data_dir=data), es_env)
    try:
        assert isinstance(store, ElasticsearchStore)
        store.client.indices.refresh(index=f"{store.prefix}-*")
        assert store.count("scans") == 3 and store.count("codes") == 1
        raw = json.dumps(store.client.search(index=f"{store.prefix}-*", size=1000)["hits"]["hits"], ensure_ascii=False)
        assert "440106199901056850" not in raw and "李明" not in raw
    finally:
        store.close()


def test_unknown_backend_is_refused(tmp_path):
    from config.settings import load_settings
    with pytest.raises(ValueError, match="HEALTHCODE_STORE"):
        open_store(load_settings(data_dir=tmp_path), {"HEALTHCODE_STORE": "mongodb"})


def test_a_store_that_cannot_answer_is_a_503_and_verification_goes_on(es_store_factory, settings, clock):
    """The cluster goes away (the store's client pointed at a loopback port nobody listens on, a
    real connection refusal): writes and lookups are ``store_unavailable`` with Retry-After, never
    a 500; verification keeps answering, withdrawn codes stay withdrawn, and the scans it queued
    reach the store once the cluster is back."""
    from elasticsearch import Elasticsearch
    from support.live import free_port
    from gateway import create_app
    from gateway.services import Services
    store = es_store_factory(refresh=True)
    service = Services(settings, store=store, clock=clock)
    client = create_app(service, group_scans=True).test_client()
    auth = {"Authorization": f"Bearer {service.administration.issuer_tokens()['440000']}"}
    person = {"id_number": "440106199901056850", "name": "李明"}
    green = client.post("/v1/issuers/440000/codes", json=person, headers=auth)
    red = client.post("/v1/issuers/440000/codes", json={**person, "facts": {"close_contact": True}}, headers=auth)
    assert green.status_code == red.status_code == 201, (green.json, red.json)

    def verify(code):
        answer = client.post("/v1/verify", json={"payload": code.json["qr_text"], "device": "gate-1"})
        assert answer.status_code == 200, answer.json
        return answer.json

    assert [e["code"] for e in verify(green)["errors"]] == ["code_revoked"]     # withdrawn by the red one
    live = store.client
    store.client = Elasticsearch(f"http://127.0.0.1:{free_port()}", max_retries=1, request_timeout=5)
    try:
        for response in (client.post("/v1/issuers/440000/codes", json=person, headers=auth),
                         client.get("/healthz")):
            assert response.status_code == 503, response.json
            assert response.json["error"]["code"] == "store_unavailable"
            assert response.headers["Retry-After"] == "5"
            assert "Traceback" not in response.get_data(as_text=True)
        clock.advance(61)                                       # the trust list is re-signed meanwhile
        for _ in range(3):
            verdict = verify(red)
            assert verdict["valid"] and verdict["status"] == "red"
            assert [e["code"] for e in verify(green)["errors"]] == ["code_revoked"]
        service.verification.flush_scans()                                   # fails: the events stay queued
        assert service.verification.scan_writer.dropped == 0
    finally:
        store.client.close()
        store.client = live
    service.verification.flush_scans()
    assert store.count("scans") == 1 + 3 + 3 and store.count("codes") == 2     # each verify once
    service.close()
