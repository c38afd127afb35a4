"""Fixtures only (helpers live in ``tests/support/``): a service on a temporary data directory
with a settable clock and the gateway in-process on it, a real HTTP server running ``healthcode
serve`` in a subprocess, the search server for the Elasticsearch tests; strict mode and the
markers each test gets from what it uses."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from support.clock import Clock
from support.live import LiveServer
from support.marks import MARKS, needs, needs_of


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(data_dir):
    from config.settings import load_settings
    return load_settings(data_dir=data_dir)


@pytest.fixture
def service(settings, clock):
    from gateway.services import Services
    svc = Services(settings, clock=clock)
    yield svc
    svc.store.close()


@pytest.fixture
def http(service):
    """The gateway in this process (Flask's test client) on ``service`` and its settable clock."""
    from gateway import create_app
    return create_app(service).test_client()


@pytest.fixture(scope="module")
@needs("browser")
def browser():
    """A headless Chromium for the module (tests/support/browser.py)."""
    from support.browser import page_chromium
    driver = page_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def no_decoder_crash():
    """Fails the test when a decoder crash was answered as ``malformed`` during it."""
    from support.crashes import DecoderCrashes
    with DecoderCrashes() as crashes:
        yield crashes
    if crashes.records:
        pytest.fail("a decoder crashed (answered as malformed): " + "; ".join(crashes.messages()), pytrace=False)


@pytest.fixture(scope="module")
def live_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live-data")


@pytest.fixture(scope="module")
def live_server(live_data):
    server = LiveServer(live_data)
    yield server
    server.stop()


# --- the search server: one real Elasticsearch for the session (scripts/elasticsearch, via
# support/search.py), started in the background as soon as collection finds a test that needs it,
# or the cluster HEALTHCODE_ES_URL names ------------------------------------------------------------
@pytest.fixture(scope="session")
@needs("elasticsearch")
def es_server():
    """No skip when the server cannot start: `make test` prepares it, so a failure is a broken
    environment, and CI must not pass with the Elasticsearch suite silently skipped."""
    from support import search                   # the Elasticsearch client only where it is used
    return search.SESSION.get()


@pytest.fixture
def es_store_factory(es_server):
    """``factory(prefix=None, **store_options)`` → a fresh store (new random prefix unless given);
    all of them are closed and their indices deleted after the test."""
    from support import search
    made: list = []

    def factory(prefix: str | None = None, **kw):
        store = search.make_store(es_server, prefix, **kw)
        made.append(store)
        return store

    yield factory
    dropped = set()
    for store in made:
        if store.prefix not in dropped:
            dropped.add(store.prefix)
            with contextlib.suppress(Exception):
                search.drop_prefix(store)
        store.close()


@pytest.fixture
def es_env(es_server, es_store_factory) -> dict:
    """The environment a ``healthcode`` process needs to run on the session's server, with a
    fresh prefix that is deleted after the test."""
    prefix = es_store_factory().prefix                          # registered for clean-up
    env = {"HEALTHCODE_STORE": "elasticsearch", "HEALTHCODE_ES_URL": ",".join(es_server.urls),
           "HEALTHCODE_ES_PREFIX": prefix}
    if es_server.options.get("api_key"):
        env["HEALTHCODE_ES_API_KEY"] = es_server.options["api_key"]
    return env


def pytest_sessionfinish(session, exitstatus):
    import sys
    search = sys.modules.get("support.search")
    if search is not None:
        search.SESSION.end()


# --- CI runs strict: a test that would skip (a missing browser, server or tool) fails instead,
# so a green CI run means every test really ran.  `.ci/run` sets HEALTHCODE_STRICT=1.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("HEALTHCODE_STRICT") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (HEALTHCODE_STRICT=1): {reason}"


# --- Markers (registered in pyproject.toml): each test gets `browser`, `server`, `elasticsearch` or
# `slow` from what its code and fixtures reach (support.marks), so `make test-fast` leaves it out.
def pytest_collection_modifyitems(config, items):
    roots: dict[int, frozenset[str]] = {}

    def of(func) -> frozenset[str]:
        if id(func) not in roots:
            roots[id(func)] = needs_of(func)
        return roots[id(func)]

    for item in items:
        if "es_server" in getattr(item, "fixturenames", ()):
            from support import search             # start the session's server while other tests run
            search.SESSION.begin()
        found = set(of(getattr(item, "function", None)))
        info = getattr(item, "_fixtureinfo", None)
        for defs in (info.name2fixturedefs.values() if info else ()):
            for fixturedef in defs:
                found |= of(fixturedef.func)
        for name in sorted(found - {mark.name for mark in item.iter_markers() if mark.name in MARKS}):
            item.add_marker(name)
