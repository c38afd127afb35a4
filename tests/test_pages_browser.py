"""The pages people use, in a real headless Chromium: the checkpoint page and the ID-card kiosk.

The kiosk test reads the QR code back from a screenshot of the page, as a bus driver's scanner
would, and verifies it."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import requests

from adapters import qr
from support.cli import run_cli
from support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("pages")
    srv = LiveServer(data)
    srv.data = data
    yield srv
    srv.stop()


def wait_for(driver, condition, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout).until(condition)


def test_checkpoint_page_shows_colour_and_is_ready_for_next(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    code = run_cli("issue", "--region", "110000", "--id-number", "110101200107075410", "--name", "赵小燕",
                   "--status", "yellow", data_dir=server.data, check=True).stdout.strip()
    browser.get(server.url + "/checkpoint")
    box = browser.find_element(By.ID, "payload")
    box.send_keys(code + Keys.ENTER)                       # what a keyboard-wedge scanner does
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "yellow")
    assert "黄码" in browser.find_element(By.ID, "verdict").text
    assert browser.find_element(By.ID, "holder").text.startswith("赵*燕")
    assert "发码方判定" in browser.find_element(By.ID, "detail").text          # reasons in words staff read
    assert box.get_attribute("value") == ""                # cleared for the next person
    box.send_keys("YKM1:forged" + Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "invalid")
    detail = browser.find_element(By.ID, "detail").text             # in words, never an error code
    assert "无法识别" in detail or "码已损坏" in detail
    assert "format_unknown" not in detail and "malformed" not in detail


def test_kiosk_shows_a_scannable_code(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-sz-01",
                               data_dir=server.data, check=True).stdout)["token"]
    run_cli("issue", "--region", "440300", "--id-number", "440305193606300643", "--name", "陈秀英",
            "--status", "green", data_dir=server.data, check=True)
    browser.get(f"{server.url}/kiosk?kiosk_id=kiosk-sz-01#token={token}")
    assert "#token" not in browser.current_url              # the credential leaves the address bar
    browser.find_element(By.ID, "idnum").send_keys("440305193606300643" + Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("data-status") == "green")
    assert browser.find_element(By.ID, "who").text.startswith("陈*英")
    shot = tmp_path / "kiosk.png"
    browser.save_screenshot(str(shot))
    shutil.copy(shot, os.environ.get("HEALTHCODE_SCREENSHOT", tmp_path / "kept.png"))
    (text,) = qr.decode_image(shot.read_bytes())
    verdict = requests.post(server.url + "/v1/verify", json={"payload": text}, timeout=5).json()
    assert verdict["valid"] and verdict["status"] == "green" and verdict["region"] == "440300"  # Shenzhen's
    assert verdict["issuer"] == {"region": "440300", "name": "深圳", "parent": "440000", "parent_name": "广东"}


def test_kiosk_explains_problems_in_plain_words(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    browser.find_element(By.ID, "again").click()
    browser.find_element(By.ID, "idnum").send_keys("440305193606300644" + Keys.ENTER)   # wrong check digit
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("data-status") == "error")
    assert "身份证号码有误" in browser.find_element(By.ID, "more").text


def test_checkpoint_page_reads_an_eu_certificate(browser, server):
    """A traveller's EU certificate on the same page, once its signer is trusted; words, not codes."""
    import time
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from support.dcc import dcc_test, issue, signer
    now = int(time.time())
    key, der, anchor = signer(at=now)
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    browser.get(server.url + "/checkpoint")
    box = browser.find_element(By.ID, "payload")
    box.send_keys(text + Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "invalid")
    assert "签发方不在信任列表" in browser.find_element(By.ID, "detail").text
    manager = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm",
                                 data_dir=server.data, check=True).stdout)["token"]
    r = requests.post(server.url + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]},
                      headers={"Authorization": f"Bearer {manager}"}, timeout=10)
    assert r.status_code == 201
    box.send_keys(text + Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "result").get_attribute("class") == "green")
    detail = browser.find_element(By.ID, "detail").text
    assert "检测证明 test certificate" in detail and "检测阴性 negative test" in detail
    assert detail.splitlines()[0] == "DE · EU 数字新冠证书 EU Digital COVID Certificate"      # as people call it
    assert browser.find_element(By.ID, "holder").text == "MUELLER, ANNA 出生 born 1980-**-**"
