"""Property-based fuzzing of every operation in the OpenAPI file against the real server:
whatever schemathesis generates (valid and invalid), the gateway never answers 5xx, and every
4xx is the stable JSON error shape.  Issuer lookups may legitimately be 503 only when an
upstream issuer is down, which is not the case here."""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import standard
from standard import STANDARD_DIR
from support.cli import run_cli
from support.live import LiveServer

schema = schemathesis.openapi.from_path(STANDARD_DIR / "openapi.json")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    server = LiveServer(data)
    server.tokens = {role: json.loads(run_cli("credentials", "add", "--role", role, "--id", f"fuzz-{role}",
                                              data_dir=data, check=True).stdout)["token"]
                     for role in ("operator", "data_manager", "auditor")}
    yield server
    server.stop()


def role_for(path: str) -> str:
    """The role whose endpoints these are, so the fuzzer gets past the 403 into the handler."""
    if path.startswith("/v1/admin"):
        return "data_manager"
    return "auditor" if path.startswith("/v1/audit") else "operator"


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_server):
    response = case.call(base_url=fuzz_server.url, timeout=30,
                         headers={"Authorization": f"Bearer {fuzz_server.tokens[role_for(case.path)]}"})
    assert response.status_code < 500, response.text[:500]
    if 400 <= response.status_code < 500:
        assert standard.openapi_validator("ErrorResponse").is_valid(response.json()), response.text[:300]
