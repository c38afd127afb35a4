"""The whole gateway on the Elasticsearch backend (HEALTHCODE_STORE=elasticsearch): a real
``healthcode serve`` process and the CLI both talk to the real Elasticsearch started for the
session (or the cluster in HEALTHCODE_ES_URL), and nothing is written to a SQLite file."""
from __future__ import annotations

import json

import pytest
import requests

from conftest import LiveServer, run_cli
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
