"""Printable offline codes: a PDF card per person, one per page or four per A4 sheet.

For people without smartphones (Sichuan's printed 7-day code).  The card carries only what the
signed code carries — masked name and ID, region, colour, validity — in Chinese and English, in
large type, a QR code big enough for a worn phone camera at arm's length, and where to get a new
card when it runs out (the region's ``renew_at`` in config/regions.toml).  A printed online
code (``Card.online``) is titled 在线码: its QR is the region's status URL, asked at each scan.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import zxingcpp
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from typing import Protocol

from standard import CHINA_TZ

CARD_W, CARD_H = 95 * mm, 138 * mm
STATUS_LABEL = {"green": ("绿码", "GREEN"), "yellow": ("黄码", "YELLOW"), "red": ("红码", "RED")}
STATUS_RGB = {"green": (0.04, 0.49, 0.2), "yellow": (0.95, 0.76, 0.0), "red": (0.77, 0.09, 0.11)}
FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
                   "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@dataclass(frozen=True)
class Card:
    qr_text: str
    region_name: str
    region_name_en: str
    status: str
    name_masked: str
    id_masked: str
    issued_at: int
    expires_at: int
    code_id: str
    online: bool = False        # the QR is the region's status URL: the colour is asked at each scan
    renew_at: str = ""          # where a new card is to be had (the region's config); "" = RENEW_AT
    renew_at_en: str = ""


# Where to get a new card, when the region's config does not say (config/regions.toml renew_at).
RENEW_AT = ("社区或政务服务中心", "your community office or a government service centre")


class RegionNames(Protocol):
    """What a card needs of its region's configuration (config.settings.Region has it)."""
    name: str
    name_en: str
    renew_at: str
    renew_at_en: str


def card_for(region: RegionNames, qr_text: str, claims: dict, online: bool = False) -> Card:
    """The card of an issued offline code: its claims, and the region's names and where its
    people get a new card (``name``, ``name_en``, ``renew_at``, ``renew_at_en`` of the config)."""
    return Card(qr_text, region.name, region.name_en, claims["status"], claims["name_masked"],
                claims["id_masked"], claims["iat"], claims["exp"], claims["jti"], online=online,
                renew_at=region.renew_at, renew_at_en=region.renew_at_en)


def renewal(card: Card) -> tuple[str, str]:
    """The card's last words: where to get a new one when it runs out."""
    zh, en = (card.renew_at, card.renew_at_en) if card.renew_at else RENEW_AT
    return f"过期后请到{zh}领取新卡", f"New card when it runs out: {en}"


def _font() -> str:
    """An embedded TrueType CJK font when the system has one (renders anywhere), else the PDF
    reader's built-in Chinese font (smaller files; readers bring the glyphs)."""
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            if "CJK" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("CJK", path, subfontIndex=0))
            return "CJK"
    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _date(ts: int) -> str:
    """Beijing time; the card says so once, beside the dates."""
    return datetime.fromtimestamp(ts, CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def qr_matrix(text: str) -> list[bytes]:
    """The QR modules of ``text`` at error-correction level M (standard §4.3), no quiet zone:
    one ``bytes`` per row, 1 for a dark module.  Encoded by zxing-cpp (C++, already our QR
    reader): the pure-Python ``qrcode`` encoder took 25–35 ms a card, most of a batch's time."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    # zxingcpp.Image is a 2-D buffer; its stubs declare no __buffer__, and typeshed allows a
    # memoryview without a shape, which a 2-D buffer never is.
    pixels = memoryview(symbol.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    rows, cols = pixels.shape  # type: ignore[misc]
    dark = pixels.tobytes().translate(_DARK)
    return [dark[r * cols:(r + 1) * cols] for r in range(rows)]


_DARK = bytes([1] + [0] * 255)          # zxing-cpp draws dark modules as 0, light as 255
_RUN = re.compile(b"\x01+")


def qr_path(matrix: list[bytes]) -> str:
    """PDF path operators for the dark modules in module units, one rectangle per horizontal
    run (row 0 on top).  Integers only: short to write, exact at any scale."""
    height = len(matrix)
    ops = [f"{m.start()} {height - 1 - y} {m.end() - m.start()} 1 re"
           for y, row in enumerate(matrix) for m in _RUN.finditer(row)]
    ops.append("f")
    return "\n".join(ops)


def draw_qr(c: canvas.Canvas, text: str, x: float, y: float, size: float, quiet: int = 2) -> None:
    """The QR code as vector rectangles — one per horizontal run of dark modules, all in one
    path — inside a ``size`` square with ``quiet`` modules of white around it.  Vectors stay
    sharp at any printer resolution and cost a few KB, where an embedded PNG costs tens.  The
    path is written in module units under one scaling matrix, so each rectangle is four small
    integers rather than four formatted floats (reportlab's ``rect`` took as long as the QR)."""
    matrix = qr_matrix(text)
    module = size / (len(matrix) + 2 * quiet)
    c.saveState()
    c.setFillColorRGB(0, 0, 0)
    c.transform(module, 0, 0, module, x + quiet * module, y + quiet * module)
    c.addLiteral(qr_path(matrix))
    c.restoreState()


def next_step(card: Card) -> tuple[str, str]:
    """What the holder should do, by colour: a card is read by people with no app (nor printer) to
    explain it.  A green card's lifetime is the card's own (the region's offline_ttl), never a
    fixed 7 days."""
    if card.status == "red":
        return "请居家并联系社区或拨打 12320", "Stay home and call your community or 12320"
    if card.status == "yellow":
        return "请按社区要求尽快检测，结果出来后领取新卡", "Get tested as your community asks, then get a new card"
    span = max(card.expires_at - card.issued_at, 0)
    if span >= 86400:
        days = round(span / 86400)
        zh, en = f"{days} 天", f"{days} day{'s' if days != 1 else ''}"
    else:
        hours = max(round(span / 3600), 1)
        zh, en = f"{hours} 小时", f"{hours} hour{'s' if hours != 1 else ''}"
    return f"出示此卡即可，{zh}后请领取新卡", f"Show this card; get a new one after {en}"


def _draw_card(c: canvas.Canvas, card: Card, x: float, y: float, font: str) -> None:
    c.setStrokeColorRGB(0.3, 0.3, 0.3)
    c.roundRect(x, y, CARD_W, CARD_H, 4 * mm)
    top = y + CARD_H
    mid = x + CARD_W / 2
    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, 15)
    kind_zh, kind_en = ("在线码", "printed online code") if card.online else ("离线码", "printed offline code")
    c.drawCentredString(mid, top - 10 * mm, f"{card.region_name}健康码 · {kind_zh}")
    c.setFont(font, 9)
    c.drawCentredString(mid, top - 15 * mm, f"{card.region_name_en} health code · {kind_en}")
    qr_size = 58 * mm
    draw_qr(c, card.qr_text, x + (CARD_W - qr_size) / 2, top - 17 * mm - qr_size, qr_size)
    band_y = top - 18 * mm - qr_size - 12 * mm
    c.setFillColorRGB(*STATUS_RGB[card.status])
    c.rect(x + 6 * mm, band_y, CARD_W - 12 * mm, 11 * mm, stroke=0, fill=1)
    c.setFillColorRGB(*((0, 0, 0) if card.status == "yellow" else (1, 1, 1)))
    zh, en = STATUS_LABEL[card.status]
    c.setFont(font, 20)
    c.drawCentredString(mid, band_y + 3.2 * mm, f"{zh}  {en}")
    c.setFillColorRGB(0, 0, 0)
    todo_zh, todo_en = next_step(card)
    renew_zh, renew_en = renewal(card)
    lines = [(8 * mm, 14, f"{card.name_masked}   {card.id_masked}"),
             (7 * mm, 8.5, "有效期（北京时间 UTC+8）Valid, Beijing time"),
             (5.5 * mm, 10, f"{_date(card.issued_at)} — {_date(card.expires_at)}"),
             (6.5 * mm, 9, todo_zh),
             (4.5 * mm, 8, todo_en),
             (5.5 * mm, 8.5, renew_zh),
             (4 * mm, 7.5, renew_en),
             (4.5 * mm, 6.5, f"编号 Code {card.code_id}")]
    line_y = band_y
    for step, size, text in lines:
        line_y -= step
        c.setFont(font, fitted_size(text, font, size))
        c.drawCentredString(mid, line_y, text)


LINE_WIDTH = CARD_W - 8 * mm
MIN_SIZE = 6.5


def fitted_size(text: str, font: str, size: float) -> float:
    """``size``, or smaller (by half points, not under MIN_SIZE) until ``text`` fits the card's width."""
    while size > MIN_SIZE and pdfmetrics.stringWidth(text, font, size) > LINE_WIDTH:
        size -= 0.5
    return size


def render_pdf(cards: list[Card], layout: str = "single") -> bytes:
    """``single``: one card per A4 page, centred; ``sheet``: four per A4 page, for cutting."""
    if layout not in ("single", "sheet"):
        raise ValueError("layout must be single or sheet")
    font = _font()
    buffer = io.BytesIO()
    # Binary (zlib only) page streams: reportlab's default ASCII85 armour is pure Python here
    # and took longer than drawing the cards, for files a quarter larger.
    rl_config.useA85 = 0
    c = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    c.setTitle("健康码 离线码 Health code offline cards")
    page_w, page_h = A4
    if layout == "single":          # one card fills the page: the largest QR and type it allows
        scale = min((page_w - 20 * mm) / CARD_W, (page_h - 20 * mm) / CARD_H)
        for index, card in enumerate(cards):
            if index:
                c.showPage()
            c.saveState()
            c.translate((page_w - CARD_W * scale) / 2, (page_h - CARD_H * scale) / 2)
            c.scale(scale, scale)
            _draw_card(c, card, 0, 0, font)
            c.restoreState()
        c.showPage()
        c.save()
        return buffer.getvalue()
    else:
        gap_x, gap_y = (page_w - 2 * CARD_W) / 3, (page_h - 2 * CARD_H) / 3
        slots = [(gap_x + col * (CARD_W + gap_x), gap_y + row * (CARD_H + gap_y))
                 for row in (1, 0) for col in (0, 1)]
    for index, card in enumerate(cards):
        if index and index % len(slots) == 0:
            c.showPage()
        _draw_card(c, card, *slots[index % len(slots)], font)
    c.showPage()
    c.save()
    return buffer.getvalue()
