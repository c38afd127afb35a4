"""A printed card says where to get a new one when it runs out: the region's place from
config/regions.toml (社区, 政务服务中心 …), on one line of the card in Chinese and in English,
read back from the PDF as a person would read it."""
from __future__ import annotations

import time

import pytest

from support.cli import run_cli
from support.paths import ROOT
from residents import RESIDENTS


def pdf_text(data: bytes) -> list[str]:
    """Each page's text, extracted by PDFium from the embedded font's Unicode map."""
    import pypdfium2
    pdf = pypdfium2.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range() for page in pdf]
    finally:
        pdf.close()


def claims(now: int) -> dict:
    return {"status": "yellow", "name_masked": "张*丰", "id_masked": "5101**********3071", "iat": now,
            "exp": now + 604800, "jti": "c0de1d"}


def test_every_region_names_where_to_get_a_new_card_on_one_line_each():
    from config.settings import load_settings
    from issuers import printing
    settings = load_settings()
    now = int(time.time())
    cards = [printing.card_for(region, f"TEST:{region.code}", claims(now)) for region in settings.regions]
    pages = pdf_text(printing.render_pdf(cards, "single"))
    font = printing._font()
    for region, card, text in zip(settings.regions, cards, pages):
        assert region.renew_at and region.renew_at_en, region.code            # every shipped region says
        zh, en = printing.renewal(card)
        assert zh == f"过期后请到{region.renew_at}领取新卡" and en.endswith(region.renew_at_en)
        flat = " ".join(text.split())
        assert zh in flat and en in flat, (region.code, flat)
        for line, size in ((zh, 8.5), (en, 7.5)):                             # fits without going tiny
            fitted = printing.fitted_size(line, font, size)
            assert fitted >= printing.MIN_SIZE
            assert printing.pdfmetrics.stringWidth(line, font, fitted) <= printing.LINE_WIDTH


def test_a_card_without_a_configured_place_still_says_where():
    from issuers import printing
    now = int(time.time())
    card = printing.Card("TEST:1", "某地", "Somewhere", "green", "张*", "1234**5678", now, now + 86400, "x")
    (text,) = pdf_text(printing.render_pdf([card]))
    assert "过期后请到社区或政务服务中心领取新卡" in text
    assert "government service centre" in text


@pytest.mark.parametrize("status, life, zh, en", [
    ("green", 604800, "出示此卡即可，7 天后请领取新卡", "Show this card; get a new one after 7 days"),
    ("green", 86400, "出示此卡即可，1 天后请领取新卡", "Show this card; get a new one after 1 day"),
    ("green", 3 * 3600, "出示此卡即可，3 小时后请领取新卡", "Show this card; get a new one after 3 hours"),
    ("yellow", 604800, "请按社区要求尽快检测，结果出来后领取新卡", "Get tested as your community asks, then get a new card"),
])
def test_a_card_says_what_to_do_with_its_own_lifetime_and_no_printer(status, life, zh, en):
    """The holder has no printer: a card never asks them to reprint it, and the lifetime it names
    is the card's own (a region may print shorter-lived cards than 7 days)."""
    from issuers import printing
    now = int(time.time())
    card = printing.Card("TEST:1", "某地", "Somewhere", status, "张*", "1234**5678", now, now + life, "x")
    (text,) = pdf_text(printing.render_pdf([card]))
    flat = " ".join(text.split())
    assert zh in flat and en in flat, flat
    assert "打印" not in flat and "reprint" not in flat


@pytest.mark.parametrize("entry, problem", [
    ('renew_at = "社区服务中心"\n', "only Chinese"),
    ('renew_at_en = "the community office"\n', "only English"),
    ('renew_at = "社区服务中心社区服务中心社区服务中心社区服务中心社区服务中心"\nrenew_at_en = "the community office"\n', "too long"),
])
def test_the_config_refuses_a_place_the_card_cannot_print(tmp_path, entry, problem):
    from config.settings import load_settings
    from standard.errors import ConfigInvalid
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    start = text.index('code = "510000"')
    end = text.index("[region.rules]", start)
    block = "\n".join(line for line in text[start:end].splitlines() if not line.startswith("renew_at")) + "\n"
    path = tmp_path / "regions.toml"
    path.write_text(text[:start] + block + entry + text[end:], encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="renew_at"):
        load_settings(path, data_dir=tmp_path)


def test_the_printed_card_from_the_command_line_says_where_to_get_a_new_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "card.pdf"
    id_number, name, _ = RESIDENTS["510000"]
    run_cli("issue", "--region", "510000", "--id-number", id_number, "--name", name, data_dir=data, check=True)
    run_cli("print", "--region", "510000", "--id-number", id_number, "--name", name, "--out", str(out),
            data_dir=data, check=True)
    from config.settings import load_settings
    region = load_settings().region("510000")
    (text,) = pdf_text(out.read_bytes())
    flat = " ".join(text.split())
    assert f"过期后请到{region.renew_at}领取新卡" in flat                       # the region's own place
    assert f"New card when it runs out: {region.renew_at_en}" in flat
