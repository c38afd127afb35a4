"""The trust list's freshness check on every verify: one ``stat`` (the data directory's change
marker) while nothing changed; a change written by another process counts at the next call; a
file changed by hand, without the marker, counts once the inputs are stat'ed again."""
from __future__ import annotations

import json

import pytest

from gateway.services import Services
from gateway.services import trust as trust_service
from standard import jose
from support.delegations import CITY, city_entry
from toolkit import filelock

DM = {"role": "data_manager", "id": "dm-test"}


@pytest.fixture
def never_rechecked(monkeypatch):
    """Inputs stat'ed again only when the marker moves: what a change must count on."""
    monkeypatch.setattr(trust_service, "INPUTS_RECHECK_SECONDS", 3600.0)


@pytest.fixture
def other(settings, clock):
    """A second process on the same data directory (the CLI, another gunicorn worker)."""
    svc = Services(settings, clock=clock)
    yield svc
    svc.store.close()


def test_one_stat_a_call_while_nothing_changed(service, never_rechecked, monkeypatch):
    service.trust.trust_list()                  # the first list makes the keys, which moves the marker
    first = service.trust.trust_list()
    stats: list = []
    real = filelock.file_stamp
    monkeypatch.setattr(filelock, "file_stamp", lambda path: stats.append(path) or real(path))
    assert all(service.trust.trust_list() is first for _ in range(50))
    assert len(stats) == 50 and {str(p) for p in stats} == {str(service.settings.data_dir / filelock.TRUST_INPUTS_CHANGED)}


def test_a_delegation_withdrawn_by_another_process_counts_at_the_next_call(service, other, never_rechecked):
    assert city_entry(service.trust.trust_list().payload)["delegation_status"] == "active"
    other.trust.withdraw_delegation(CITY, DM)
    assert city_entry(service.trust.trust_list().payload)["delegation_status"] == "withdrawn"
    other.trust.restore_delegation(CITY, DM)
    assert city_entry(service.trust.trust_list().payload)["delegation_status"] == "active"


def test_a_key_rotated_by_another_process_counts_at_the_next_call(service, other, never_rechecked):
    before = json.dumps(service.trust.trust_list().payload)
    kid = other.trust.rotate_key("440000", DM)
    assert kid not in before and kid in json.dumps(service.trust.trust_list().payload)


def test_anchors_added_by_another_process_count_at_the_next_call(service, other, never_rechecked):
    key = jose.generate_private_key("ES256")
    jwk = {**jose.public_jwk(key), "alg": "ES256", "use": "sig"}
    jwk["kid"] = jose.thumbprint(jwk)
    assert jwk["kid"] not in json.dumps(service.trust.trust_list().payload)
    other.trust.add_anchors([jwk], DM, iss="https://issuer.example.org")
    assert jwk["kid"] in json.dumps(service.trust.trust_list().payload)


def test_a_file_changed_by_hand_counts_once_the_inputs_are_stated_again(service, monkeypatch):
    monkeypatch.setattr(trust_service, "INPUTS_RECHECK_SECONDS", 0.0)
    assert city_entry(service.trust.trust_list().payload)["delegation_status"] == "active"
    path = service.settings.data_dir / "delegations.json"
    path.write_text(json.dumps({"withdrawn": {CITY: {"at": int(service.now()), "by": "hand", "reason": ""}}}))
    assert city_entry(service.trust.trust_list().payload)["delegation_status"] == "withdrawn"
