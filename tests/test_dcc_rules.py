"""EU business rules deciding a foreign certificate's colour: imported per country of arrival
(CLI and the data manager's HTTP endpoints, audited), shipped in the signed trust list, applied
online and by an offline verifier; `healthcode rules evaluate` through the real CLI."""
from __future__ import annotations

import json
import time

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer
from support.paths import ROOT, vectors_dir
from support.certlogic import suite_assertions
from support.dcc import (DAY, NOW, RULES, VALUE_SETS, country_rules, dcc_test, dcc_vaccination, issue, signer,
                         value_set_documents)
from adapters.verifier import Verifier
from gateway.rulesets import RuleFile
from adapters.eu_dcc import certlogic_clock, rules as dccrules
from standard.errors import RuleSetInvalid
from standard.trustlist import TrustList



@pytest.fixture(scope="module")
def section():
    return {"rules": {"DE": dccrules.parse_rule_set(country_rules("DE"), "DE")},
            "value_sets": dccrules.parse_value_sets(value_set_documents())}


def verify(text, anchor, section, country="DE", now=NOW):
    verifier = Verifier(["eu_dcc"], options={"eu_dcc": {"country_of_arrival": country}})
    return verifier.verify(text, TrustList({"dcc_rules": section}, (anchor,)), now)


def failed_ids(verdict) -> list[str]:
    return [f["identifier"] for f in verdict.details["business_rules"]["failed"]]


# --- the colour comes from the imported rules -------------------------------------------------
def test_complete_vaccination_passes_every_german_rule(section):
    key, der, anchor = signer()
    verdict = verify(issue(key, der, dcc_vaccination(2, 2, "2025-01-10")), anchor, section)
    assert verdict.valid and verdict.status == "green" and verdict.reasons == ["vaccinated"]
    rules = verdict.details["business_rules"]
    assert rules["country_of_arrival"] == "DE" and rules["failed"] == []
    assert rules["checked"] == rules["passed"] == 4          # VR-DE-0001…0004 (no General rules in DE)
    # VR-DE-0004 (at most a year since the dose) ends the green, unless the certificate ends first
    assert verdict.claims["exp"] == NOW + 30 * DAY                 # the certificate's exp comes first
    long = verify(issue(key, der, dcc_vaccination(2, 2, "2025-01-10"), exp=NOW + 900 * DAY), anchor, section)
    dose = 1736467200                                              # 2025-01-10T00:00:00Z
    assert dose + 365 * DAY - 3600 <= long.claims["exp"] <= dose + 366 * DAY


def test_failed_acceptance_rule_names_the_rule_and_its_description(section):
    key, der, anchor = signer()
    verdict = verify(issue(key, der, dcc_vaccination(1, 2, "2025-01-10")), anchor, section)
    assert verdict.valid and verdict.status == "yellow" and verdict.reasons == ["no_valid_certificate"]
    failed = verdict.details["business_rules"]["failed"]
    assert failed_ids(verdict) == ["VR-DE-0001"]
    assert failed[0]["description"] == "The vaccination schedule must be complete (e.g., 1/1, 2/2)."
    assert failed[0]["result"] == "failed" and failed[0]["country"] == "DE"
    # the same certificate without rules: the deployment's own table (also not green)
    assert verify(issue(key, der, dcc_vaccination(1, 2, "2025-01-10")), anchor, {}).details.get("business_rules") is None


def test_rules_decide_where_the_local_table_would_not(section):
    """A PCR test 60 hours old: the table says 48 h (yellow), Germany's rules 72 h (green);
    at 80 hours Germany's TR-DE-0003 fails it."""
    key, der, anchor = signer()
    sixty = issue(key, der, dcc_test(NOW - 60 * 3600))
    assert verify(sixty, anchor, {}, country="DE").status == "yellow"
    assert verify(sixty, anchor, section).status == "green"
    green = verify(sixty, anchor, section)
    sampled = NOW - 60 * 3600                     # TR-DE-0003: no longer than 72 hours ago
    assert sampled + 72 * 3600 - 3600 <= green.claims["exp"] <= sampled + 72 * 3600
    eighty = verify(issue(key, der, dcc_test(NOW - 80 * 3600)), anchor, section)
    assert eighty.status == "yellow" and failed_ids(eighty) == ["TR-DE-0003"]
    assert "72 hours" in eighty.details["business_rules"]["failed"][0]["description"]


def test_positive_test_stays_red(section):
    key, der, anchor = signer()
    verdict = verify(issue(key, der, dcc_test(NOW - 3600, result="260373001")), anchor, section)
    assert verdict.status == "red" and verdict.reasons == ["positive_test"]
    assert "TR-DE-0004" in failed_ids(verdict)


def test_other_country_of_arrival_or_no_rules_keeps_todays_behaviour(section):
    key, der, anchor = signer()
    text = issue(key, der, dcc_test(NOW - 60 * 3600))
    for verdict in (verify(text, anchor, section, country="FR"), verify(text, anchor, section, country=None)):
        assert verdict.status == "yellow" and "business_rules" not in verdict.details


def test_rule_validity_window_and_highest_version(section):
    rule = {**country_rules("DE")[0]}
    newer = {**rule, "Version": "1.2.0", "Logic": False}
    older = {**rule, "Version": "1.1.0", "Logic": True}
    expired = {**rule, "Identifier": "RR-DE-9999", "Version": "9.0.0", "ValidTo": "2022-01-01T00:00:00Z"}
    chosen = dccrules.applicable(dccrules.parse_rule_set([older, newer, expired], "DE"), "Acceptance",
                                 "Recovery", NOW)
    assert [(r["Identifier"], r["Version"]) for r in chosen] == [(rule["Identifier"], "1.2.0")]
    future = {**rule, "Version": "2.0.0", "ValidFrom": "2099-01-01T00:00:00Z", "ValidTo": "2100-01-01T00:00:00Z"}
    chosen = dccrules.applicable(dccrules.parse_rule_set([older, future], "DE"), "Acceptance", "Recovery", NOW)
    assert [r["Version"] for r in chosen] == ["1.1.0"]


def test_a_rule_that_errors_is_open_and_never_green(section):
    """A hostile rule (type error, runaway reduce) fails the certificate; the verdict says so."""
    hostile = {**country_rules("DE")[0], "Identifier": "GR-DE-0666", "CertificateType": "General",
               "Logic": {"+": [{"var": "payload.nam"}, 1]}}
    bomb = {**hostile, "Identifier": "GR-DE-0667",
            "Logic": {"reduce": [{"var": "external.valueSets.country-2-codes"},
                                 {"reduce": [{"var": "data.external.valueSets.country-2-codes"},
                                             {"reduce": [{"var": "data.external.valueSets.country-2-codes"},
                                                         {"if": [{"var": "current"}, 1, 0]}, 0]}, 0]}, 0]}}
    rules = section["rules"]["DE"] + dccrules.parse_rule_set([hostile, bomb], "DE")
    key, der, anchor = signer()
    started = time.monotonic()
    verdict = verify(issue(key, der, dcc_vaccination(2, 2, "2025-01-10")), anchor,
                     {**section, "rules": {"DE": rules}})
    assert time.monotonic() - started < 30
    assert verdict.valid and verdict.status == "yellow"
    failed = {f["identifier"]: f for f in verdict.details["business_rules"]["failed"]}
    assert failed["GR-DE-0666"]["result"] == "open" and failed["GR-DE-0666"]["error"] == "certlogic_invalid"
    assert failed["GR-DE-0667"]["error"] == "certlogic_limit"


@pytest.mark.parametrize("change, message", [
    ({"Engine": "JSONLOGIC"}, "Engine"),
    ({"Type": "Whatever"}, "Type"),
    ({"Country": "AT"}, "not of DE"),
    ({"Version": "one"}, "Version"),
    ({"ValidTo": "2020-01-01T00:00:00Z"}, "ValidTo"),
    ({"ValidFrom": "soon"}, "ValidFrom"),
    ({"Description": []}, "Description"),
    ({"Logic": {"or": [True, False]}}, "not valid CertLogic"),
    ({"CertificateType": "Passport"}, "CertificateType"),
])
def test_rule_format_is_checked(change, message):
    with pytest.raises(RuleSetInvalid) as info:
        dccrules.parse_rule_set([{**country_rules("DE")[0], **change}], "DE")
    assert info.value.code == "rule_set_invalid" and message in info.value.message


def test_rule_enumerations_take_the_gateways_upper_case_spelling():
    rule, = dccrules.parse_rule_set([{**country_rules("DE")[0], "Type": "ACCEPTANCE",
                                      "CertificateType": "RECOVERY", "Engine": "CertLogic"}], "DE")
    assert (rule["Type"], rule["CertificateType"], rule["Engine"]) == ("Acceptance", "Recovery", "CERTLOGIC")


def test_every_shared_country_imports(tmp_path):
    store = RuleFile(tmp_path)
    for country in ("AT", "CH", "CZ", "DE", "EU", "FR"):
        assert len(store.import_rules(country, country_rules(country))) == len(country_rules(country))
    store.import_value_sets(value_set_documents())
    summary = store.summary()
    assert sorted(summary["countries"]) == ["AT", "CH", "CZ", "DE", "EU", "FR"]
    assert summary["value_sets"]["country-2-codes"] == 250


# --- `healthcode rules evaluate` through the real CLI ----------------------------------------
def test_cli_evaluate_runs_the_specification_suite(tmp_path):
    cases = [p.values for p in suite_assertions(skipped=False)]
    lines = [json.dumps({"id": i, "logic": expr, "data": data}) for i, (expr, data, _) in enumerate(cases)]
    result = run_cli("rules", "evaluate", data_dir=tmp_path, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == list(range(len(cases)))
    wrong = [a["id"] for a, (_, _, expected) in zip(answers, cases)
             if json.dumps(a.get("result"), sort_keys=True) != json.dumps(expected, sort_keys=True) or "error" in a]
    assert wrong == []


def test_cli_evaluate_answers_bad_lines_in_order(tmp_path):
    deep = "[" * 200 + "]" * 200                  # parses, then refused as too deep
    abyss = "[" * 100_000 + "]" * 100_000         # the JSON parser itself gives up
    lines = ['{"id": "a", "logic": {"===": [1, 1]}}',
             "not json",
             "[1, 2]",
             '{"id": "b"}',
             '{"id": "c", "logic": {"nope": [1]}, "data": {}}',
             '{"id": "d", "logic": ' + deep + "}",
             '{"id": "e", "logic": {"var": "x"}, "data": ' + deep + "}",
             '{"id": "f", "logic": {"<": [1, "2"]}}',
             abyss,
             "\xff\xfe",
             '{"id": "h", "logic": {"var": "x"}, "data": {"x": NaN}}',          # not JSON
             '{"id": "g", "logic": {"plusTime": ["2021-02-28T23:30:00+01:00", 1, "month"]}}']
    result = run_cli("rules", "evaluate", data_dir=tmp_path, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0 and not result.stderr, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == ["a", None, None, "b", "c", "d", "e", "f", None, None, None, "g"]
    codes = [a.get("error", {}).get("code") for a in answers]
    assert codes == [None, "bad_request", "bad_request", "bad_request", "certlogic_invalid",
                     "bad_request", "bad_request", "certlogic_invalid", "bad_request", "bad_request", "bad_request", None]
    assert answers[0]["result"] is True and answers[-1]["result"] == "2021-03-28T22:30:00.000Z"
    assert all(a["error"]["message"] for a in answers if "error" in a)


def test_cli_evaluate_refuses_an_endless_line_without_reading_it_whole(tmp_path):
    huge = '{"id": "big", "logic": [' + "1," * 700_000 + '1]}'
    result = run_cli("rules", "evaluate", data_dir=tmp_path, stdin=huge + '\n{"id": "next", "logic": 1}\n')
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert answers[0]["error"]["code"] == "payload_too_large" and answers[1] == {"id": "next", "result": 1}


def test_cli_rules_test_runs_a_rule_repository(tmp_path):
    result = run_cli("rules", "test", str(RULES), data_dir=tmp_path)
    assert result.returncode == 0, result.stdout
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["failed"] == 0 and summary["passed"] >= 500


# --- import over HTTP and the CLI, the trust list, offline verification -------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("dcc-rules")
    config = data / "regions.toml"
    config.write_text((ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
                      .replace('country_of_arrival = "CN"', 'country_of_arrival = "DE"'), encoding="utf-8")
    env = {"HEALTHCODE_CONFIG": str(config)}
    server = LiveServer(data, env)

    def token(role):
        out = run_cli("credentials", "add", "--role", role, "--id", f"{role}-1", data_dir=data, check=True, env=env)
        return {"Authorization": "Bearer " + json.loads(out.stdout)["token"]}

    yield {"server": server, "data": data, "env": env, "manager": token("data_manager"),
           "operator": token("operator"), "auditor": token("auditor")}
    server.stop()


def post_verify(world, text):
    r = requests.post(world["server"].url + "/v1/verify", json={"payload": text}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_rules_imported_over_http_decide_online_and_offline(world, tmp_path):
    url = world["server"].url
    now = int(time.time())
    key, der, anchor = signer(at=now)
    requests.post(url + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]}, headers=world["manager"],
                  timeout=10).raise_for_status()
    half = issue(key, der, dcc_vaccination(1, 2, time.strftime("%Y-%m-%d", time.gmtime(now - 40 * DAY))),
                 iat=now - 3600, exp=now + 30 * DAY)
    before = post_verify(world, half)
    assert before["valid"] and before["status"] == "yellow" and "business_rules" not in before["details"]

    body = {"country": "DE", "rules": country_rules("DE")}
    assert requests.post(url + "/v1/admin/dcc-rules", json=body, headers=world["operator"], timeout=10).status_code == 403
    r = requests.post(url + "/v1/admin/dcc-rules", json=body, headers=world["manager"], timeout=10)
    assert r.status_code == 201, r.text
    assert {i["identifier"] for i in r.json()["imported"]} >= {"VR-DE-0001", "TR-DE-0001"}
    r = requests.post(url + "/v1/admin/dcc-value-sets", json={"value_sets": value_set_documents()},
                      headers=world["manager"], timeout=10)
    assert r.status_code == 201 and r.json()["value_sets"]["covid-19-lab-test-type"] == 2

    online = post_verify(world, half)
    assert online["status"] == "yellow" and online["reasons"] == ["no_valid_certificate"]
    failed = online["details"]["business_rules"]["failed"]
    assert failed[0]["identifier"] == "VR-DE-0001" and "schedule must be complete" in failed[0]["description"]
    full = issue(key, der, dcc_vaccination(2, 2, time.strftime("%Y-%m-%d", time.gmtime(now - 40 * DAY))),
                 iat=now - 3600, exp=now + 30 * DAY)
    assert post_verify(world, full)["status"] == "green"

    listed = requests.get(url + "/v1/admin/dcc-rules", headers=world["manager"], timeout=10).json()
    assert len(listed["countries"]["DE"]) == len(country_rules("DE")) and listed["value_sets"]["country-2-codes"] == 250

    # the signed trust list carries them: an offline verifier with an empty data directory agrees
    trust = requests.get(url + "/v1/trust-list", timeout=10).json()
    assert trust["trust_list"]["dcc_rules"]["rules"]["DE"][0]["Engine"] == "CERTLOGIC"
    (tmp_path / "tl.jws").write_text(trust["jws"])
    (tmp_path / "keys.json").write_text(json.dumps(requests.get(url + "/v1/trust-list/national-keys", timeout=10).json()))
    offline = run_cli("verify", half, "--trust-list", str(tmp_path / "tl.jws"), "--national-keys",
                      str(tmp_path / "keys.json"), data_dir=tmp_path / "empty", env=world["env"])
    verdict = json.loads(offline.stdout)
    assert verdict["status"] == "yellow" and verdict["details"]["business_rules"]["failed"] == failed

    # a bad rule set changes nothing
    bad = {"country": "DE", "rules": [{**country_rules("DE")[0], "Logic": {"or": [True]}}]}
    r = requests.post(url + "/v1/admin/dcc-rules", json=bad, headers=world["manager"], timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "rule_set_invalid"
    for body in ({"country": "de", "rules": country_rules("DE")}, {"country": "DE", "rules": []},
                 {"country": "DE", "rules": [{"Identifier": "x"}]}):
        r = requests.post(url + "/v1/admin/dcc-rules", json=body, headers=world["manager"], timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] in ("bad_request", "rule_set_invalid"), r.text
    assert post_verify(world, full)["status"] == "green"

    # removed: today's table again
    r = requests.delete(url + "/v1/admin/dcc-rules/DE", headers=world["manager"], timeout=10)
    assert r.status_code == 200
    assert "business_rules" not in post_verify(world, half)["details"]
    assert requests.delete(url + "/v1/admin/dcc-rules/DE", headers=world["manager"], timeout=10).status_code == 404

    log = requests.get(url + "/v1/audit?limit=1000", headers=world["auditor"], timeout=10).json()["entries"]
    actions = [e["action"] for e in log]
    assert actions.count("dcc_rules_import") == 1 and actions.count("dcc_value_sets_import") == 1
    assert actions.count("dcc_rules_remove") == 1
    entry = next(e for e in log if e["action"] == "dcc_rules_import")
    assert entry["actor"]["role"] == "data_manager" and entry["detail"]["country"] == "DE"


@pytest.mark.slow
def test_cli_import_list_remove_are_audited(tmp_path):
    data = tmp_path / "data"
    out = run_cli("rules", "import", "--country", "FR", str(RULES / "FR"), data_dir=data)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["imported"]) == len(country_rules("FR"))
    wrong = run_cli("rules", "import", "--country", "AT", str(RULES / "FR"), data_dir=data)
    assert wrong.returncode == 2 and "rule_set_invalid" in wrong.stderr
    assert run_cli("rules", "value-sets", str(VALUE_SETS), data_dir=data).returncode == 0
    listed = json.loads(run_cli("rules", "list", data_dir=data, check=True).stdout)
    assert list(listed["countries"]) == ["FR"] and len(listed["value_sets"]) == 9
    assert run_cli("rules", "remove", "--country", "FR", data_dir=data).returncode == 0
    assert run_cli("rules", "remove", "--country", "FR", data_dir=data).returncode == 2
    audit = [json.loads(l) for l in run_cli("audit", "show", data_dir=data, check=True).stdout.splitlines()]
    assert [e["action"] for e in audit] == ["dcc_rules_import", "dcc_value_sets_import", "dcc_rules_remove"]


def test_checkpoint_page_names_the_failed_rule(world, browser):
    """In a real Chromium: the checkpoint page shows the rule a certificate did not meet."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from support.browser import wait_for
    url = world["server"].url
    now = int(time.time())
    key, der, anchor = signer(at=now)
    requests.post(url + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]}, headers=world["manager"],
                  timeout=10).raise_for_status()
    requests.post(url + "/v1/admin/dcc-rules", json={"country": "DE", "rules": country_rules("DE")},
                  headers=world["manager"], timeout=10).raise_for_status()
    old_test = issue(key, der, dcc_test(now - 80 * 3600), iat=now - 3600, exp=now + DAY)
    browser.get(url + "/checkpoint")
    browser.find_element(By.ID, "payload").send_keys(old_test + Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "yellow")
    detail = browser.find_element(By.ID, "detail").text
    assert "未通过规则 rule not met: TR-DE-0003" in detail and "72 hours" in detail


def test_transcoded_code_does_not_outlive_the_rules_green(tmp_path, clock):
    """A PCR test green under Germany's rules (72 h) → a Guangdong code that ends with it."""
    from gateway.services import Services
    from config.settings import load_settings
    config = tmp_path / "regions.toml"
    config.write_text((ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
                      .replace('country_of_arrival = "CN"', 'country_of_arrival = "DE"'), encoding="utf-8")
    service = Services(load_settings(config, tmp_path / "data"), clock=clock)
    try:
        manager = {"role": "data_manager", "id": "t"}
        now = service.now()
        key, der, anchor = signer(at=now)
        service.trust.add_anchors([anchor["der_b64"]], manager)
        service.trust.import_rules("DE", country_rules("DE"), manager)
        service.trust.import_value_sets(value_set_documents(), manager)
        sampled = now - 70 * 3600
        text = issue(key, der, dcc_test(sampled), iat=now - 3600, exp=now + 30 * DAY)
        source = service.verification.verify(text)
        assert source.status == "green" and source.claims["exp"] <= sampled + 72 * 3600
        issued, _ = service.issuing.transcode(text, "440000")
        verdict = service.verification.verify(issued.qr_text)
        assert verdict.valid and verdict.status == "green" and verdict.claims["exp"] <= source.claims["exp"]
    finally:
        service.store.close()


# --- the green's end: found from the instants where a clock comparison turns ------------------
def bisected_end(section, rules, payload, external, now, horizon):
    """The reference: every clocked rule really re-run at each bisection step (no shortcut)."""
    from adapters.eu_dcc import business_rules
    return business_rules.green_until(
        lambda t: dccrules.all_pass(rules, payload, {**external, "validationClock": dccrules.stamp(t)}), now, horizon)


@pytest.mark.parametrize("kind, payloads", [
    ("t", [dcc_test(NOW - hours * 3600) for hours in (1, 20, 47, 60, 71)]
     + [{**dcc_test(NOW - 3600), "t": [{**dcc_test(NOW - 3600)["t"][0], "tt": "LP217198-3"}]}]),
    ("v", [dcc_vaccination(2, 2, day) for day in ("2025-01-10", "2024-07-01", "2025-06-01")])])
def test_green_end_from_turns_equals_a_full_bisection(section, kind, payloads):
    from adapters.eu_dcc import business_rules, certlogic
    book = business_rules.RuleBook.build(section)
    clocked = [r for r in book.rules["DE"] if (r["Country"], r["Identifier"], r["Version"]) in book.clocked]
    assert clocked and all(certlogic_clock.reads_clock_only_in_comparisons(r["Logic"]) for r in clocked)
    for dcc in payloads:
        for exp in (NOW + 30 * DAY, NOW + 900 * DAY):
            payload = {key: value for key, value in dcc.items()}
            chosen = dccrules.applicable(book.rules["DE"], "Acceptance", dccrules.ENTRY_TYPES[kind], NOW)
            external = dccrules.external_data(NOW, book.value_sets, "DE", "DE", NOW - DAY, exp)
            if not dccrules.all_pass(chosen, payload, external):
                continue
            timed = [r for r in chosen if r in clocked]
            budget = certlogic.Budget(business_rules.VERIFICATION_STEPS)
            found, end = business_rules.green_end(timed, payload, external, NOW, exp, budget)
            assert found
            fast = business_rules.green_until(lambda t: end is None or t < end, NOW, exp)
            assert fast == bisected_end(section, timed, payload, external, NOW, exp), (dcc, exp)
            # the end itself is exact: the rules pass the second before it and fail at it
            if end is not None:
                assert dccrules.all_pass(timed, payload, {**external, "validationClock": dccrules.stamp(end - 1)})
                assert not dccrules.all_pass(timed, payload, {**external, "validationClock": dccrules.stamp(end)})
            assert budget.left > business_rules.VERIFICATION_STEPS - 2_000      # a few runs, not ~14


def test_rules_that_read_the_clock_otherwise_are_bisected():
    shifted = {"plusTime": [{"var": "external.validationClock"}, 1, "day"]}
    assert certlogic_clock.reads_clock_only_in_comparisons({"not-after": [shifted, {"var": "payload.x"}]})
    for logic in ({"===": [{"var": "external.validationClock"}, "2025-01-01"]},
                  {"after": [{"plusTime": [{"var": "external.validationClock"}, 1, "month"]}, shifted]},
                  {"reduce": [{"var": "payload.v"}, {"var": "data.external.validationClock"}, 0]},
                  {"if": [{"var": "external"}, True, False]}, {"!": [{"var": ""}]}):
        assert not certlogic_clock.reads_clock_only_in_comparisons(logic), logic


def test_a_certificate_scanned_again_gets_the_verdict_a_fresh_run_gives(section):
    """The rule book keeps each certificate's judgement while the clock stays between the
    instants where it could turn: scanning the same certificates again, at instants in any
    order, across those turns (a test ageing out at 72 h, a dose at a year), gives exactly the
    verdict a fresh rule book gives at each instant — and the kept judgement is really used."""
    key, der, anchor = signer()
    texts = [issue(key, der, dcc_test(NOW - 70 * 3600), exp=NOW + 900 * DAY),
             issue(key, der, dcc_test(NOW - 3600), exp=NOW + 900 * DAY),
             issue(key, der, dcc_vaccination(2, 2, "2024-06-20"), exp=NOW + 900 * DAY),
             issue(key, der, dcc_vaccination(1, 2, "2025-01-10"))]
    instants = [NOW, NOW + 1800, NOW + 7199, NOW + 7200, NOW + 7201, NOW - 3600, NOW + 3 * DAY, NOW + 1,
                NOW + 5 * DAY, NOW + 2 * 3600 - 1, NOW + 20 * DAY, NOW]
    kept = TrustList({"dcc_rules": section}, (anchor,))
    verifier = Verifier(["eu_dcc"], options={"eu_dcc": {"country_of_arrival": "DE"}})
    colours = set()
    for at in instants:
        for text in texts:
            again = verifier.verify(text, kept, at)
            assert again == verify(text, anchor, section, now=at), (at, text[:40])
            colours.add(again.status)
    assert {"green", "yellow"} <= colours
    from adapters.eu_dcc import business_rules
    assert len(business_rules.rule_book(kept).judged) == len(texts)     # one judgement each, kept
