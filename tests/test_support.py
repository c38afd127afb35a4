"""The test helpers themselves: the markers a helper's use implies, and the crash detector the
garbage-input tests rely on (a decoder crash answered as ``malformed`` must not pass them)."""
from __future__ import annotations

import logging

import pytest

from adapters import eu_dcc, shc
from adapters.verifier import Verifier
from standard.errors import HealthCodeError
from standard.trustlist import TrustList
from support.crashes import DecoderCrashes
from support.marks import needs, needs_of
from support.waiting import wait_until


def _boom(*args, **kwargs):
    raise ZeroDivisionError("陈秀英 440305193606300643")      # a message that quotes personal data


@pytest.mark.parametrize("adapter,stage", [(eu_dcc.ADAPTER, "adapters.eu_dcc.adapter.base45_decode"),
                                           (shc.ADAPTER, "adapters.shc.adapter.credentials")])
def test_an_adapter_crash_is_logged_as_a_decoder_crash_without_its_message(monkeypatch, caplog, adapter, stage):
    monkeypatch.setattr(stage, _boom)
    with DecoderCrashes() as crashes, caplog.at_level(logging.WARNING, logger="adapters"):
        with pytest.raises(HealthCodeError, match="could not be decoded"):
            adapter.verify("HC1:NCFOXN" if adapter is eu_dcc.ADAPTER else "shc:/56762959532654", TrustList({}, ()),
                           1_750_000_000)
    assert [r.levelno for r in crashes.records] == [logging.WARNING]
    assert "ZeroDivisionError" in crashes.messages()[0]
    assert "陈秀英" not in caplog.text and "440305193606300643" not in caplog.text


def test_a_crash_inside_the_verifier_is_malformed_and_caught(monkeypatch):
    verifier = Verifier(["national"])
    monkeypatch.setattr(type(verifier.adapters[0]), "verify", _boom)
    with DecoderCrashes() as crashes:
        verdict = verifier.verify("CNHC1:a.b.c", TrustList({}, ()), 1_750_000_000)
    assert verdict.errors[0]["code"] == "malformed" and "could not be decoded" in verdict.errors[0]["message"]
    assert len(crashes.records) == 1 and "ZeroDivisionError" in crashes.messages()[0]


def test_markers_follow_helpers_through_calls_and_classes():
    @needs("browser")
    def open_page():
        pass

    def helper():
        return open_page()

    @needs("server")
    class Serving:                      # stands in for LiveServer: naming that here would mark this test
        pass

    def a_test():
        helper()
        return Serving

    def plain():
        return wait_until(lambda: True)

    def runs_the_cli_imported_inside():
        from support.cli import run_cli
        return run_cli

    assert needs_of(a_test) == {"browser", "server"}
    assert needs_of(plain) == frozenset()
    assert needs_of(runs_the_cli_imported_inside) == {"slow"}
    with pytest.raises(ValueError, match="unknown test marker"):
        needs("gpu")
