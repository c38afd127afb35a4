"""The adapter contract (adapters/contract.py): the registry admits only registered formats, a
format module lacking a capability is refused when it registers, and every registered format
does what its capabilities promise."""
from __future__ import annotations

import pkgutil
import importlib
import types

import pytest

import adapters
from adapters import contract
from adapters.contract import FormatAdapter, IssuingFormat, RevocableFormat, Verified, register
from issuers.keys import Signer
from standard import jose
from standard.errors import BadRequest, UnknownFormat

CLAIMS = {"ver": "1.0", "region": "440000", "sub": "q3Vx8mTzR1aK0bNcW7eYpL2d", "jti": "Hc7f2KqX9mVb4TnZ",
          "iat": 1767225600, "exp": 1767225900, "kind": "dynamic", "status": "yellow",
          "reasons": ["medium_risk_travel"], "name_masked": "李*华", "id_masked": "4401**********6424",
          "id_type": "resident"}
EXPECTED = {"national", "yuekang", "suishen", "tianfu", "jiankangbao", "zheli", "macau", "online",
            "eu_dcc", "shc", "suikang", "shenainin"}


def every_format_module() -> None:
    """Import every module under adapters/, so each format module has registered itself."""
    for info in pkgutil.walk_packages(adapters.__path__, "adapters."):
        importlib.import_module(info.name)


# --- the registry answers only with formats ----------------------------------------------------
@pytest.mark.parametrize("name", ["verifier", "base", "qr", "contract", "formatdoc", "compression",
                                  "revocation_lists", "status_client", "foreign_rules", "__init__"])
def test_a_module_that_is_not_a_format_is_an_unknown_format(name):
    for lookup in (adapters.get, adapters.load, adapters.issuing_format):
        with pytest.raises(UnknownFormat) as raised:
            lookup(name)
        assert raised.value.code == "format_unknown" and repr(name) in raised.value.message
    assert adapters.revocable_format(name) is None


@pytest.mark.parametrize("name", ["yuekangg", "", "eu_dcc.adapter", "../national", "national ",
                                  "x" * 500, 7, None])
def test_an_unknown_name_is_an_unknown_format(name):
    with pytest.raises(UnknownFormat) as raised:
        adapters.get(name)
    assert raised.value.code == "format_unknown"
    assert len(raised.value.message) < 120          # a long name is not echoed in full


def test_a_format_read_but_never_issued_is_not_an_issuing_format():
    with pytest.raises(UnknownFormat, match="never issued"):
        adapters.issuing_format("eu_dcc")
    assert isinstance(adapters.issuing_format("yuekang"), IssuingFormat)


def test_only_formats_that_say_so_are_revocable_by_identifier():
    assert isinstance(adapters.revocable_format("eu_dcc"), RevocableFormat)
    assert adapters.revocable_format("shc") is None
    assert adapters.revocable_format("yuekang") is None


# --- registration refuses what is not a format --------------------------------------------------
def _module_format(**members):
    """A format written as a module of functions (the contract before it was a class)."""
    module = types.ModuleType("adapters.legacy")
    module.__dict__.update(members)
    return module


def test_a_module_lacking_verify_is_refused_at_registration():
    before = dict(contract.REGISTERED)
    legacy = _module_format(name="legacy", detect=lambda text: text.startswith("LG:"))
    with pytest.raises(TypeError, match="lacks verify"):
        register(legacy)
    assert contract.REGISTERED == before
    with pytest.raises(UnknownFormat):
        adapters.get("legacy")


def test_a_module_with_every_method_but_not_the_contract_is_refused():
    duck = _module_format(name="duck", detect=lambda text: False, verify=lambda text, trust, now: None)
    with pytest.raises(TypeError, match="FormatAdapter"):
        register(duck)
    assert "duck" not in contract.REGISTERED


def test_a_format_claiming_a_capability_without_its_method_cannot_exist():
    class HalfIssuing(IssuingFormat):
        name = "half"

        def detect(self, text: str) -> bool:
            return False

        def verify(self, text, trust, now) -> Verified:
            raise NotImplementedError

    with pytest.raises(TypeError, match="issue"):
        register(HalfIssuing())     # type: ignore[abstract]
    assert "half" not in contract.REGISTERED


def test_a_name_is_registered_once_and_must_be_an_identifier():
    class Reader(FormatAdapter):
        def __init__(self, name):
            self.name = name

        def detect(self, text: str) -> bool:
            return False

        def verify(self, text, trust, now) -> Verified:
            raise NotImplementedError

    with pytest.raises(TypeError, match="already registered"):
        register(Reader("yuekang"))
    assert adapters.get("yuekang").prefix == "YKM1:"
    for bad in ("a.b", "_private", "", 5):
        with pytest.raises(TypeError, match="identifier"):
            register(Reader(bad))


# --- every registered format keeps its contract -------------------------------------------------
def test_every_format_module_registers_under_its_own_name():
    every_format_module()
    assert set(contract.REGISTERED) == EXPECTED
    for name, registration in contract.REGISTERED.items():
        adapter = registration.adapter
        assert isinstance(adapter, FormatAdapter) and adapter.name == name
        assert adapters.get(name) is adapter and adapters.load(name, {}) is adapter
        assert adapter.detect("not a code of any format") is False
        if registration.configure is not None:
            assert registration.configure({}).name == name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_issuing_format_writes_what_it_detects(name):
    adapter = adapters.get(name)
    if not isinstance(adapter, IssuingFormat):
        assert name in ("eu_dcc", "shc")             # foreign formats: read here, never issued
        return
    key = jose.generate_private_key("ES256")
    signer = Signer("440000", "k1", "ES256", key)
    if name == "online":
        with pytest.raises(BadRequest, match="does not issue online codes"):
            adapter.issue(dict(CLAIMS), signer, "")
        qr_text, answer = adapter.issue(dict(CLAIMS), signer, "https://status.example.cn")
        assert qr_text == "https://status.example.cn/v1/status/440000/Hc7f2KqX9mVb4TnZ"
        assert answer is not None and jose.parse(answer).typ == "hc-status+jwt"
    else:
        qr_text, answer = adapter.issue(dict(CLAIMS), signer, "https://status.example.cn")
        assert answer is None
    assert adapter.detect(qr_text)
    others = [adapters.get(n) for n in EXPECTED - {name}]
    assert not any(other.detect(qr_text) for other in others), "two formats claim one code"


def test_a_revocable_format_maps_identifiers_as_verification_does():
    from adapters.eu_dcc.certificate import code_id_for
    adapter = adapters.revocable_format("eu_dcc")
    assert adapter is not None
    uvci = "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B"
    assert adapter.code_id_for(uvci) == code_id_for(uvci) != uvci


# --- format names in the configuration are checked when it loads ---------------------------------
def bad_config(folder, old: str, new: str):
    from support.paths import ROOT
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    assert old in text
    path = folder / "regions.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


TYPO = ('format = "yuekang"', 'format = "yuekangg"',
        "error: format_unknown: region 440000 names format 'yuekangg', which is not known "
        "(a module under adapters/ that registers it)")
NOT_A_FORMAT = ('extra_formats = ["eu_dcc", "shc"]', 'extra_formats = ["eu_dcc", "verifier"]',
                "error: format_unknown: extra_formats names format 'verifier', which is not known "
                "(a module under adapters/ that registers it)")
NOT_ISSUED = ('format = "suishen"', 'format = "shc"',
              "error: config_invalid: region 310000 names format 'shc', which is read here but never issued")
OPTIONS_OF_NOTHING = ("[format.online]", "[format.onlin]",
                      "error: format_unknown: [format.onlin] names format 'onlin', which is not known "
                      "(a module under adapters/ that registers it)")


@pytest.mark.parametrize("old, new, line", [TYPO, NOT_A_FORMAT, NOT_ISSUED, OPTIONS_OF_NOTHING])
def test_the_cli_refuses_a_config_naming_an_unknown_format_in_one_line(tmp_path, old, new, line):
    from support.cli import run_cli
    env = {"HEALTHCODE_CONFIG": str(bad_config(tmp_path, old, new))}
    data = tmp_path / "data"
    for command in (["regions"], ["verify", "YKM1:x"], ["serve", "--port", "1"]):
        result = run_cli(*command, data_dir=data, env=env)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n"), command
    assert not data.exists()                    # refused before anything was written
    assert run_cli("regions", "--help", data_dir=data, env=env).returncode == 0


def test_the_server_refuses_to_start_on_a_config_naming_an_unknown_format(tmp_path):
    from config.settings import load_settings
    from gateway import create_app
    data = tmp_path / "data"
    for old, new, line in (TYPO, NOT_A_FORMAT):
        settings = load_settings(bad_config(tmp_path, old, new), data)
        with pytest.raises(UnknownFormat) as raised:
            create_app(settings=settings)
        assert f"error: {raised.value.code}: {raised.value.message}" == line
    assert not data.exists()


def test_extra_formats_must_be_a_list_of_names(tmp_path):
    from config.settings import load_settings
    from standard.errors import ConfigInvalid
    with pytest.raises(ConfigInvalid, match="extra_formats must be a list"):
        load_settings(bad_config(tmp_path, *NOT_A_FORMAT[:1], 'extra_formats = "eu_dcc"'), tmp_path)


@pytest.mark.parametrize("old, new, message", [
    ('format = "yuekang"\n', 'formt = "yuekang"\n', "region 440000: format required"),
    ('format = "yuekang"\n', 'format = 44\n', "region 440000: name and format must be text"),
    ("[format.online]", "[format]\nonline = 3\n[unused]",
     "[format.<name>] entries must be tables of options"),
])
def test_a_region_or_format_table_of_the_wrong_shape_is_config_invalid(tmp_path, old, new, message):
    from support.cli import run_cli
    from config.settings import load_settings
    from standard.errors import ConfigInvalid
    path = bad_config(tmp_path, old, new)
    with pytest.raises(ConfigInvalid) as raised:
        load_settings(path, tmp_path)
    assert raised.value.message.startswith(message)
    result = run_cli("regions", data_dir=tmp_path / "data", env={"HEALTHCODE_CONFIG": str(path)})
    assert (result.returncode, result.stderr) == (2, f"error: config_invalid: {raised.value.message}\n")


def test_options_for_a_format_that_takes_none_are_config_invalid(tmp_path):
    from config.settings import load_settings
    from standard.errors import ConfigInvalid
    path = bad_config(tmp_path, "[format.online]", "[format.yuekang]\nprefix = \"X:\"\n\n[format.online]")
    with pytest.raises(ConfigInvalid, match=r"\[format.yuekang\]: format 'yuekang' takes no options"):
        adapters.check_settings(load_settings(path, tmp_path))
