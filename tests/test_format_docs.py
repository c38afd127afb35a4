"""docs/formats/<format>.md are generated from the format tables (tools/formatdoc.py), and
these tests keep them so: a page must be exactly what the generator makes of the page's own
example, that example is the format's fixed one (a key derived from the format's name: the same
page on every run), and it must verify with the key printed beside it, so a reader can trust it
to build a verifier."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

import adapters
from tools import formatdoc
from adapters.verifier import Verifier
from support.paths import ROOT
from config.settings import load_settings
from standard import delegation, jose
from standard.trustlist import TrustList
from tools.formatdoc.sections import _Signer

REGIONS = load_settings().regions
FORMATS = formatdoc.documented_formats(REGIONS)


def committed_page(name: str) -> str:
    return (ROOT / "docs" / "formats" / f"{name}.md").read_text(encoding="utf-8")


def test_every_listed_format_has_a_page():
    """What `healthcode regions` lists (each region's format) and the national format."""
    assert set(FORMATS) == {r.format for r in REGIONS} | {"national"}
    for name in FORMATS:
        assert (ROOT / "docs" / "formats" / f"{name}.md").is_file(), \
            "run python -m tools.formatdoc --write"


def test_the_standard_links_every_page():
    """§4.3 of the standard is where a reader looks for the native formats."""
    text = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8")
    section = text.split("### 4.3", 1)[1].split("\n## ", 1)[0]
    for name in FORMATS:
        assert f"(formats/{name}.md)" in section, f"link formats/{name}.md from §4.3 of docs/standard.md"


@pytest.mark.parametrize("name", FORMATS)
def test_committed_page_is_what_the_generator_makes(name):
    page = committed_page(name)
    example = formatdoc.parse_example(page)
    fmt = adapters.get(name)
    regenerated = formatdoc.render_page(fmt, REGIONS, example, formatdoc.format_summary(name))
    assert page == regenerated, f"docs/formats/{name}.md is stale: run python -m tools.formatdoc --write"
    assert formatdoc.example_is_current(fmt, REGIONS, example), "the example no longer matches the table"


def _province_delegating(city: dict, parent: str, at: int) -> list[dict]:
    """The province's entry (a key made here) and, on ``city``'s entry, its signed delegation."""
    key = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(key)
    kid = jose.short_kid(jwk)
    grant = delegation.claims(city["region"], parent, [city["region"][:4]], ["dynamic", "offline"],
                              at - 86400, at + 86400, at - 86400)
    city.update(parent=parent, delegation=delegation.sign(grant, _Signer("ES256", kid, key)))
    return [{"region": parent, "format": "yuekang", "algorithms": ["ES256"],
             "keys": [{**jwk, "kid": kid, "alg": "ES256", "status": "active"}]}]


@pytest.mark.parametrize("name", FORMATS)
def test_example_on_the_page_verifies_with_the_key_on_the_page(name):
    example = formatdoc.parse_example(committed_page(name))
    region = formatdoc.example_region(name, REGIONS)
    claims = formatdoc.example_claims(region.code)
    issuers = [{"region": region.code, "format": name, "algorithms": [example.alg],
                "keys": [{**example.jwk, "kid": example.kid, "alg": example.alg, "status": "active"}]}]
    if region.parent:       # a city's key counts only under its province's delegation (§7.1)
        issuers += _province_delegating(issuers[0], region.parent, formatdoc.EXAMPLE_IAT)
    trust = TrustList({"issuers": issuers})
    verdict = Verifier([name]).verify(example.qr_text, trust, now=formatdoc.EXAMPLE_IAT + 10)
    assert verdict.valid, verdict.errors
    assert verdict.format == name and verdict.region == region.code
    assert verdict.status == claims["status"] and verdict.reasons == claims["reasons"]
    assert verdict.holder == {"name_masked": claims["name_masked"], "id_masked": claims["id_masked"]}
    assert verdict.code_id == claims["jti"] and verdict.kind == claims["kind"]


@pytest.mark.parametrize("name", FORMATS)
def test_page_states_what_a_reader_needs(name):
    """The facts a verifier needs are on the page in plain sight, taken from the table."""
    fmt = adapters.get(name)
    page = committed_page(name)
    assert f"`{fmt.prefix}`" in page and f"`{fmt.typ}`" in page
    for national, native in fmt.fields.items():
        assert f"| `{national}`" in page and f"`{native}`" in page
    for alg in formatdoc.algorithms_of(formatdoc.regions_using(name, REGIONS)):
        assert f"`{alg}`" in page
    for region in formatdoc.regions_using(name, REGIONS):
        assert region.code in page
    assert f"**{fmt.time}**" in page


def _generated(tmp_path):
    formatdoc.write_pages(REGIONS, tmp_path)
    return tmp_path


def test_write_then_check_is_clean_and_write_keeps_current_pages(tmp_path):
    directory = _generated(tmp_path)
    assert sorted(p.name for p in directory.glob("*.md")) == \
        sorted(f"{n}.md" for n in formatdoc.generated_formats(REGIONS))
    assert formatdoc.stale_pages(REGIONS, directory) == []
    before = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.md")}
    assert formatdoc.write_pages(REGIONS, directory) == []      # no churn of keys and signatures
    assert before == {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.md")}


def test_check_names_a_stale_page(tmp_path):
    directory = _generated(tmp_path)
    page = directory / "yuekang.md"
    page.write_text(page.read_text(encoding="utf-8").replace('`"huangma"`', '`"huang"`'), encoding="utf-8")
    assert formatdoc.stale_pages(REGIONS, directory) == ["yuekang.md"]
    run = subprocess.run([sys.executable, "-m", "tools.formatdoc", "--check", "--dir", str(directory)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1
    assert "yuekang.md" in run.stderr and "national.md" not in run.stderr
    formatdoc.write_pages(REGIONS, directory)
    assert formatdoc.stale_pages(REGIONS, directory) == []


def test_check_sees_a_changed_table(tmp_path):
    """A table edit (here: a renamed native claim) makes the page stale until regenerated."""
    directory = _generated(tmp_path)
    fmt = adapters.get("zheli")
    changed = dataclasses.replace(fmt, fields={**fmt.fields, "status": "zj_colour"})
    example = formatdoc.parse_example((directory / "zheli.md").read_text(encoding="utf-8"))
    assert not formatdoc.example_is_current(changed, REGIONS, example)
    assert formatdoc.render_page(changed, REGIONS, example, formatdoc.format_summary("zheli")) \
        != (directory / "zheli.md").read_text(encoding="utf-8")


def test_check_sees_a_forged_example_and_a_missing_page(tmp_path):
    directory = _generated(tmp_path)
    page = directory / "suishen.md"
    text = page.read_text(encoding="utf-8")
    example = formatdoc.parse_example(text)
    other = formatdoc.make_example(adapters.get("yuekang"), REGIONS)    # another key's signature
    signature, forged = example.qr_text.rsplit(".", 1)[1], other.qr_text.rsplit(".", 1)[1]
    assert signature != forged
    page.write_text(text.replace(signature, forged), encoding="utf-8")
    (directory / "tianfu.md").unlink()
    assert formatdoc.stale_pages(REGIONS, directory) == ["suishen.md", "tianfu.md"]


def test_an_orphaned_generated_page_is_stale_and_removed(tmp_path):
    directory = _generated(tmp_path)
    (directory / "oldprovince.md").write_text((directory / "yuekang.md").read_text(encoding="utf-8"))
    (directory / "eu-dcc.md").write_text("# hand-written, not ours\n")
    assert formatdoc.stale_pages(REGIONS, directory) == ["oldprovince.md"]
    formatdoc.write_pages(REGIONS, directory)
    assert not (directory / "oldprovince.md").exists() and (directory / "eu-dcc.md").exists()


def test_meanings_come_from_section_3_of_the_standard():
    rows = formatdoc.standard_claim_rows((ROOT / "docs" / "standard.md").read_text(encoding="utf-8"))
    assert rows["iat"][1] == "issued" and rows["exp"][1] == "expires"
    assert {*rows} >= set(adapters.get("national").fields)


# --- online codes: a URL in the QR, a signed answer behind it (tools/formatdoc/online.py) -----------
def test_online_page_is_generated_current_and_linked():
    assert "online" in formatdoc.generated_formats(REGIONS)
    assert any(r.online_url for r in REGIONS), "a configured region offers online codes"
    directory = ROOT / "docs" / "formats"
    assert formatdoc.current_page("online", REGIONS, directory) is not None, \
        "docs/formats/online.md is stale: run python -m tools.formatdoc --write"
    section = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8").split("### 4.3", 1)[1]
    assert "(formats/online.md)" in section.split("\n## ", 1)[0]


def test_online_page_states_what_a_reader_needs_and_its_example_verifies():
    from adapters import status_client
    from tools.formatdoc import online as onlinedoc
    fmt = adapters.get("online")
    page = committed_page("online")
    assert f"`<status_url>{fmt.path}<region>/<code id>`" in page and f"`{fmt.answer.typ}`" in page
    for region in formatdoc.regions_using("online", REGIONS):
        assert region.code in page and f"`{region.online_url}`" in page
    for code in ("origin_unregistered", "issuer_unavailable", "status_unverifiable", "code_unknown"):
        assert f"`{code}`" in page
    assert f"{status_client.READ_TIMEOUT:g} s read timeout" in page
    example = formatdoc.parse_example(page, onlinedoc.EXAMPLE_TITLE)
    region = formatdoc.example_region("online", REGIONS)
    claims = formatdoc.example_claims(region.code)
    url = fmt.status_url(region.online_url, region.code, claims["jti"])
    assert f"```text\n{url}\n```" in page
    trust = TrustList({"issuers": [{
        "region": region.code, "format": region.format, "algorithms": [example.alg],
        "online": {"format": "online", "status_url": region.online_url},
        "keys": [{**example.jwk, "kid": example.kid, "alg": example.alg, "status": "active"}]}]})
    result = fmt.check_answer(fmt.parse(url), example.qr_text, trust, formatdoc.EXAMPLE_IAT + 10)
    assert result.claims == claims and result.format == "online"


def test_a_stale_online_page_is_seen(tmp_path):
    directory = _generated(tmp_path)
    page = directory / "online.md"
    page.write_text(page.read_text(encoding="utf-8").replace("2 s read timeout", "20 s read timeout"),
                    encoding="utf-8")
    assert formatdoc.stale_pages(REGIONS, directory) == ["online.md"]
    formatdoc.write_pages(REGIONS, directory)
    assert formatdoc.stale_pages(REGIONS, directory) == []


@pytest.mark.parametrize("name", FORMATS)
def test_regenerating_gives_the_same_example_every_time(name, tmp_path):
    """The example key is derived from the format's name and ES256 signs as RFC 6979 says: two
    runs from scratch write the same page, and it is the committed one."""
    fmt = adapters.get(name)
    table = formatdoc.page_kind(fmt)[0]
    first, second = formatdoc.make_example(table, REGIONS), formatdoc.make_example(table, REGIONS)
    assert first == second
    assert formatdoc.parse_example(committed_page(name), formatdoc.page_kind(fmt)[2]) == first
    pages = []
    for run in ("a", "b"):
        formatdoc.write_pages(REGIONS, tmp_path / run)
        pages.append((tmp_path / run / f"{name}.md").read_text(encoding="utf-8"))
    assert pages[0] == pages[1] == committed_page(name)


def test_a_page_signed_by_another_key_is_stale_even_if_it_verifies(tmp_path):
    """A page carrying some other valid example (a random key) is rewritten with the fixed one."""
    directory = _generated(tmp_path)
    fmt = adapters.get("tianfu")
    fixed = formatdoc.make_example(fmt, REGIONS)
    key = formatdoc.example_key("another-format", "EdDSA")
    jwk = {**jose.public_jwk(key), "alg": "EdDSA"}
    jwk["kid"] = jose.short_kid({k: v for k, v in jwk.items() if k != "alg"})
    other = formatdoc.Example(fmt.encode(formatdoc.example_claims("510000"),
                                         _Signer("EdDSA", jwk["kid"], key)), jwk)
    assert formatdoc.example_is_current(fmt, REGIONS, other) and other != fixed
    page = formatdoc.render_page(fmt, REGIONS, other, formatdoc.format_summary("tianfu"))
    (directory / "tianfu.md").write_text(page, encoding="utf-8")
    assert formatdoc.stale_pages(REGIONS, directory) == ["tianfu.md"]
    formatdoc.write_pages(REGIONS, directory)
    assert formatdoc.parse_example((directory / "tianfu.md").read_text(encoding="utf-8")) == fixed


def test_onboarding_names_real_tests_files_and_commands():
    """docs/onboarding.md states its steps exactly: every test it says to extend exists, every
    file it names is there, and every command runs with the project's interpreter."""
    text = (ROOT / "docs" / "onboarding.md").read_text(encoding="utf-8")
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(tests) >= 3
    for path, name in tests:
        assert f"\ndef {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{path}::{name}"
    for path in re.findall(r"`((?:adapters|config|tests|docs)/[\w./-]+\.(?:py|toml|md))`", text):
        assert (ROOT / path).exists() or "<format>" in path, path
    assert ".venv/bin/python -m tools.formatdoc --write" in text
    assert not re.search(r"(?<![/\w])python3? -", text), "commands use .venv/bin/python"
    for module in re.findall(r"\.venv/bin/python -m ([\w.]+)", text):
        assert module in ("pytest", "tools.formatdoc")
