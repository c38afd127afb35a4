"""Cities issuing under their province (issue 20): Guangzhou (穗康码) and Shenzhen (深i您) under
Guangdong — the configuration that admits them, their formats, routing people to them by the
ID number's area code, and their codes verifying everywhere."""
from __future__ import annotations

import pytest

from config.settings import load_settings
from support.cli import run_cli
from support.paths import ROOT
from standard.errors import ConfigInvalid

GUANGZHOU = '''[[region]]
code = "440100"
name = "广州"
name_en = "Guangzhou"
parent = "440000"
format = "suikang"
algorithms = ["ES256"]
renew_at = "社区居委会或街道政务服务中心"
renew_at_en = "your residents' committee or a street service centre"
[region.rules]                # Guangdong's, with medium-risk travel counted for 14 days
medium_risk_travel = { status = "yellow", days = 14 }
'''


def shipped() -> str:
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    assert GUANGZHOU in text
    return text


def with_guangzhou(tmp_path, replacement: str):
    config = tmp_path / "regions.toml"
    config.write_text(shipped().replace(GUANGZHOU, replacement, 1), encoding="utf-8")
    return config


# --- configuration ------------------------------------------------------------------------------
def test_the_shipped_cities_issue_under_guangdong_by_its_rules_or_stricter(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    guangdong, guangzhou, shenzhen = (settings.region(c) for c in ("440000", "440100", "440300"))
    assert (guangdong.parent, guangzhou.parent, shenzhen.parent) == ("", "440000", "440000")
    assert (guangdong.area_prefix, guangzhou.area_prefix, shenzhen.area_prefix) == ("44", "4401", "4403")
    assert (guangzhou.format, shenzhen.format) == ("suikang", "shenainin")
    # what a city does not set it takes from its province; what it sets is stricter
    assert guangzhou.dynamic_ttl == guangdong.dynamic_ttl and shenzhen.dynamic_ttl < guangdong.dynamic_ttl
    assert guangzhou.rules == {**guangdong.rules, "medium_risk_travel": {"status": "yellow", "days": 14}}
    assert shenzhen.rules["high_risk_travel"] == {"status": "red", "days": 14}
    assert [settings.region_for_division(d) for d in ("440106", "440305", "440604", "310115")] == \
        ["440100", "440300", "440000", "310000"]


MEDIUM = 'medium_risk_travel = { status = "yellow", days = 14 }\n'
LOOSER = {      # what: (in Guangzhou's entry, replaced by, and in the whole file, replaced by)
    "a greener colour": (MEDIUM, 'close_contact = "yellow"\n', "", ""),
    "fewer travel days": (MEDIUM, 'high_risk_travel = { status = "yellow", days = 7 }\n', "", ""),
    "a milder travel colour": (MEDIUM, 'medium_risk_travel = { status = "green", days = 14 }\n', "", ""),
    "a longer phone code": ("algorithms", "dynamic_ttl = 240\nalgorithms", "", ""),
    "a longer printed card": ("algorithms", "offline_ttl = 604800\nalgorithms",     # Guangdong's: 3 days
                              "dynamic_ttl = 180\n", "dynamic_ttl = 180\noffline_ttl = 259200\n"),
}


@pytest.mark.parametrize("what", sorted(LOOSER))
def test_a_city_looser_than_its_province_does_not_load(tmp_path, what):
    old, new, old_file, new_file = LOOSER[what]
    config = with_guangzhou(tmp_path, GUANGZHOU.replace(old, new, 1))
    if old_file:
        config.write_text(config.read_text(encoding="utf-8").replace(old_file, new_file, 1), encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="440100: a city's rules may be stricter than its province's"):
        load_settings(config, tmp_path)


def test_a_city_that_drops_its_provinces_test_requirement_does_not_load(tmp_path):
    config = tmp_path / "regions.toml"
    text = shipped().replace("test_required_days = 0        # 0 = no routine-test requirement",
                             "test_required_days = 3", 1)
    for own, ok in (("test_required_days = 0\n", False), ("test_required_days = 5\n", False),
                    ("test_required_days = 2\n", True), ("", True)):
        config.write_text(text.replace(GUANGZHOU, GUANGZHOU + own, 1), encoding="utf-8")
        if ok:
            assert load_settings(config, tmp_path).region("440100").rules["test_required_days"] in (2, 3)
        else:
            with pytest.raises(ConfigInvalid, match="test_required_days"):
                load_settings(config, tmp_path)


@pytest.mark.parametrize("change,message", [
    (('parent = "440000"', 'parent = "450000"'), "must be a province-level region configured here"),
    (('parent = "440000"', 'parent = "440300"'), "must be a province-level region configured here"),
    (('code = "440100"', 'code = "450100"'), "inside its province 440000"),
    (('code = "440100"', 'code = "440000"'), "region 440000 is configured twice"),
    (('code = "440100"', 'code = "440101"'), "inside its province 440000"),
])
def test_a_city_must_sit_inside_a_configured_province(tmp_path, change, message):
    config = with_guangzhou(tmp_path, GUANGZHOU.replace(*change))
    with pytest.raises(ConfigInvalid, match=message):
        load_settings(config, tmp_path)


def test_a_looser_city_stops_the_cli_and_the_server(tmp_path, monkeypatch):
    config = with_guangzhou(tmp_path, GUANGZHOU.replace('medium_risk_travel = { status = "yellow", days = 14 }',
                                                        'close_contact = "green"'))
    result = run_cli("regions", data_dir=tmp_path / "data", env={"HEALTHCODE_CONFIG": str(config)})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: config_invalid: region 440100: a city's rules may be stricter")
    assert len(result.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    monkeypatch.setenv("HEALTHCODE_DATA", str(tmp_path / "data"))
    from gateway import create_app
    with pytest.raises(ConfigInvalid, match="close_contact gives 'green' where the province gives 'red'"):
        create_app()
