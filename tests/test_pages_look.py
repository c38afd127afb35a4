"""What people read on the pages, in a real headless Chromium at 1280×800 and 412×915: format
names as people know them (粤康码, EU 数字新冠证书), error codes as words, no page wider than the
screen, headings in a real bold CJK face (not a smeared synthetic bold), an icon, and the
standard as a page with a title."""
from __future__ import annotations

import io
import json
import re

import pytest
import requests
from PIL import Image

import adapters
from support.cli import run_cli
from support.live import LiveServer
from residents import RESIDENTS
from support.browser import (chromium, drawn_in_real_bold, fully_visible, no_horizontal_overflow,
                             platform_fonts, split_words, wait_for)

SIZES = [(1280, 800), (412, 915)]
INTERNAL_NAMES = ("yuekang", "suishen", "tianfu", "jiankangbao", "zheli", "macau", "eu_dcc", "shc", "national")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("look")
    srv = LiveServer(data)
    yield srv
    srv.stop()


def test_every_adapter_has_the_name_people_know_it_by():
    names = adapters.titles(["national", "yuekang", "suishen", "tianfu", "jiankangbao", "zheli", "macau",
                             "online", "eu_dcc", "shc", "suikang", "shenainin"])
    assert names["yuekang"]["name"] == "粤康码" and names["tianfu"]["name"] == "天府健康通"
    assert names["suishen"]["name"] == "随申码" and names["jiankangbao"]["name"] == "北京健康宝"
    assert names["suikang"]["name"] == "穗康码" and names["shenainin"]["name"] == "深i您"
    assert names["eu_dcc"]["name"] == "EU 数字新冠证书" and names["shc"]["name"] == "SMART Health Card"
    for fmt, title in names.items():
        assert title["name"] and title["name_en"] and fmt not in title["name"].lower(), fmt


@pytest.mark.parametrize("size", SIZES)
def test_the_index_names_formats_as_people_know_them_and_fits(server, size):
    from selenium.webdriver.common.by import By
    driver = chromium(size=size)
    try:
        driver.get(server.url + "/")
        footer = driver.find_element(By.ID, "regions").text
        for known in ("粤康码", "天府健康通", "随申码", "北京健康宝", "EU 数字新冠证书", "SMART Health Card"):
            assert known in footer
        assert not any(re.search(rf"\b{name}\b", footer) for name in INTERNAL_NAMES), footer
        assert no_horizontal_overflow(driver)
        heading = {f["postScriptName"] for f in platform_fonts(driver, "header h1")}     # bold, and its <small> not
        assert "NotoSansCJKsc-Bold" in heading and not any("WenQuanYi" in f for f in heading)
        assert drawn_in_real_bold(driver, "#go-checkpoint .zh") == []
        icon = driver.execute_script("return document.querySelector('link[rel=icon]').href")
    finally:
        driver.quit()
    r = requests.get(icon, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/vnd.microsoft.icon"
    assert Image.open(io.BytesIO(r.content)).format == "ICO"
    assert requests.get(server.url + "/favicon.ico", timeout=5).content == r.content


@pytest.mark.parametrize("size", SIZES)
def test_the_standard_is_a_page_with_a_title(server, size):
    from selenium.webdriver.common.by import By
    r = requests.get(server.url + "/standard", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    source = requests.get(server.url + "/standard.md", timeout=5)
    assert source.headers["Content-Type"].startswith("text/markdown") and "## 7. Trust list" in source.text
    driver = chromium(size=size)
    try:
        driver.get(server.url + "/standard")
        assert driver.title == "国家标准 · National health code interface standard — version 1.0"
        assert driver.find_element(By.ID, "s7").text == "7. Trust list"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#standard table")) >= 5
        assert no_horizontal_overflow(driver)                   # wide tables scroll inside themselves
        assert drawn_in_real_bold(driver, "#standard h1") == []
    finally:
        driver.quit()


@pytest.mark.parametrize("size", SIZES)
def test_the_checkpoint_says_format_names_and_errors_in_words(server, size):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    id_number, name, _ = RESIDENTS["440000"]
    code = run_cli("issue", "--region", "440000", "--id-number", id_number, "--name", name, "--status", "green",
                   data_dir=server.data, check=True).stdout.strip()
    assert code.startswith("YKM1:")
    driver = chromium(size=size)
    try:
        driver.get(server.url + "/checkpoint")
        box = driver.find_element(By.ID, "payload")
        box.send_keys(code + Keys.ENTER)
        wait_for(driver, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "green")
        detail = driver.find_element(By.ID, "detail")
        assert detail.text.splitlines()[0] == "广东 Guangdong · 粤康码 Yuekang code"
        assert "北京时间" in detail.text and split_words(driver, "detail") == []
        assert "yuekang" not in detail.text
        for part in ("verdict", "holder", "detail"):
            assert fully_visible(driver, driver.find_element(By.ID, part)), part
        assert no_horizontal_overflow(driver)
        assert drawn_in_real_bold(driver, "#verdict") == []
        driver.find_element(By.ID, "result").click()
        box.send_keys("not a health code" + Keys.ENTER)
        wait_for(driver, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "invalid")
        text = driver.find_element(By.ID, "detail").text
        assert text == "无法识别的码 not a health code"                    # words, not "(format_unknown)"
        assert "_" not in text and no_horizontal_overflow(driver)
    finally:
        driver.quit()


def test_every_error_a_verdict_can_carry_has_words(server):
    """Each code a verdict or a lookup can name (standard/errors.py) reads as words on the pages."""
    from standard import errors
    codes, todo = set(), [errors.CodeError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    codes |= {"trust_list_invalid"}
    driver = chromium(size=(412, 915))
    try:
        driver.get(server.url + "/checkpoint")
        words = driver.execute_script("return HCWords.ERRORS")
        shown = driver.execute_script("return arguments[0].map((code) => HCWords.error({code}))", sorted(codes))
        unknown = driver.execute_script("return HCWords.error({code: 'some_new_code'})")
    finally:
        driver.quit()
    assert sorted(codes - words.keys()) == []
    assert all("_" not in text and re.search(r"[\u4e00-\u9fff]", text) for text in shown), shown
    assert unknown == "some new code"


def test_the_kiosks_chinese_is_at_least_as_strong_as_its_english(server):
    """The Chinese half: as large, as heavy, and in a real face of that weight."""
    from selenium.webdriver.common.by import By
    token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-look",
                               data_dir=server.data, check=True).stdout)["token"]
    id_number, name, _ = RESIDENTS["510000"]
    run_cli("issue", "--region", "510000", "--id-number", id_number, "--name", name, "--status", "yellow",
            data_dir=server.data, check=True)
    driver = chromium(size=(412, 915))
    try:
        driver.get(f"{server.url}/kiosk?kiosk_id=kiosk-look#token={token}")
        style = "const s = getComputedStyle(document.querySelector(arguments[0])); return [parseFloat(s.fontSize), Number(s.fontWeight)];"
        zh, en = driver.execute_script(style, ".hint"), driver.execute_script(style, ".hint .en")
        assert zh[0] >= en[0] and zh[1] >= en[1]
        assert drawn_in_real_bold(driver, "h1") == []
        for selector in (".hint", "label[for=idnum]"):       # one face draws both halves alike
            families = {f["familyName"] for f in platform_fonts(driver, selector)}
            assert families == {"Noto Sans CJK SC"}, (selector, families)
        from selenium.webdriver.common.keys import Keys
        driver.find_element(By.ID, "idnum").send_keys(id_number + Keys.ENTER)
        wait_for(driver, lambda d: d.find_element(By.ID, "result").get_attribute("data-status") == "yellow")
        for selector in ("#colour", "#next"):
            assert drawn_in_real_bold(driver, selector) == [], selector
        assert "北京时间" in driver.find_element(By.ID, "valid").text and split_words(driver, "valid") == []
        assert no_horizontal_overflow(driver)
    finally:
        driver.quit()
