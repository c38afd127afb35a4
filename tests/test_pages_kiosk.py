"""The ID-card kiosk in a real headless Chromium at the two screens it must fit (1280×800
landscape, 412×915 phone-sized portrait): it speaks (speechSynthesis is recorded, not faked
away: the page builds a real SpeechSynthesisUtterance), says why and what to do on red and
yellow, keeps every line above the fold, takes a card reader's typing, and tells staff how to set
it up when it has no credential."""
from __future__ import annotations

import json

import pytest

from support.cli import run_cli
from support.live import LiveServer
from residents import RESIDENTS
from support.browser import chromium, screenshot, wait_for

SPEECH = """
window.__spoken = [];
speechSynthesis.speak = (u) => window.__spoken.push({text: u.text, lang: u.lang, real: u instanceof SpeechSynthesisUtterance});
speechSynthesis.cancel = () => {};
"""
FOLD = ("colour", "who", "valid", "more", "next", "speak", "again", "qr")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("kiosk")
    srv = LiveServer(data)
    srv.token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-01",
                                   data_dir=data, check=True).stdout)["token"]
    yield srv
    srv.stop()


def person(region):
    id_number, name, id_type = RESIDENTS[region]
    return id_number, name


def kiosk(server, size, token=True):
    driver = chromium(size=size)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPEECH})
    driver.get(f"{server.url}/kiosk?kiosk_id=kiosk-01" + (f"#token={server.token}" if token else ""))
    return driver


def status(driver):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, "result").get_attribute("data-status")


def below_the_fold(driver):
    return driver.execute_script("""
      const out = [];
      for (const id of arguments[0]) {
        const r = document.getElementById(id).getBoundingClientRect();
        if (r.height === 0) continue;
        if (r.bottom > innerHeight || r.right > innerWidth || r.top < 0 || r.left < 0) out.push([id, r.bottom, innerHeight]);
      }
      return out;""", FOLD)


@pytest.mark.parametrize("size", [(1280, 800), (1280, 757), (412, 915)])
def test_red_is_spoken_explained_and_fits_the_screen(server, size, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    id_number, name = person("330000")
    run_cli("issue", "--region", "330000", "--id-number", id_number, "--name", name,
            "--facts", json.dumps({"close_contact": True}), data_dir=server.data, check=True)
    driver = kiosk(server, size)
    try:
        label = driver.find_element(By.CSS_SELECTOR, "label[for=idnum]")
        assert "身份证号" in label.text and label.is_displayed()
        assert driver.find_element(By.ID, "staff").is_displayed() is False       # it has its token
        driver.find_element(By.ID, "idnum").send_keys(id_number + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "red")
        assert below_the_fold(driver) == []
        assert driver.execute_script("return document.scrollingElement.scrollHeight") <= size[1]
        text = {k: driver.find_element(By.ID, k).text for k in ("colour", "more", "next", "valid")}
        assert "红码" in text["colour"] and "密切接触" in text["more"]
        assert text["next"].startswith("下一步") and "隔离" in text["next"]
        assert "北京时间" in text["valid"]
        spoken = driver.execute_script("return window.__spoken")
        assert len(spoken) == 1 and spoken[0]["lang"] == "zh-CN" and spoken[0]["real"]
        assert spoken[0]["text"].startswith("红码") and "密切接触" in spoken[0]["text"] and "隔离" in spoken[0]["text"]
        driver.find_element(By.ID, "speak").click()
        assert [s["text"] for s in driver.execute_script("return window.__spoken")] == [spoken[0]["text"]] * 2
        if size == (1280, 800):
            screenshot(driver, "kiosk.png", tmp_path)
    finally:
        driver.quit()


def test_yellow_says_what_to_do_and_a_card_reader_starts_the_next_person(server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    first, first_name = person("110000")
    second, second_name = person("440000")
    run_cli("issue", "--region", "110000", "--id-number", first, "--name", first_name, "--status", "yellow",
            data_dir=server.data, check=True)
    run_cli("issue", "--region", "440000", "--id-number", second, "--name", second_name, "--status", "green",
            data_dir=server.data, check=True)
    driver = kiosk(server, (412, 915))
    try:
        driver.find_element(By.ID, "idnum").send_keys(first + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "yellow")
        assert "12345" in driver.find_element(By.ID, "next").text          # issuer_override: ask the issuer
        assert below_the_fold(driver) == []
        driver.find_element(By.ID, "colour").click()                       # focus leaves the input
        ActionChains(driver).send_keys(second + Keys.ENTER).perform()      # the reader types, then Enter
        wait_for(driver, lambda d: status(d) == "green")
        assert driver.find_element(By.ID, "who").text.startswith(second_name[0] + "*")
        assert "请向工作人员出示" in driver.find_element(By.ID, "next").text
        assert driver.execute_script("return window.__spoken")[-1]["text"].startswith("绿码")
    finally:
        driver.quit()


def test_without_a_token_staff_are_told_how_to_set_the_kiosk_up(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    driver = kiosk(server, (1280, 800), token=False)
    try:
        hint = driver.find_element(By.ID, "staff")
        assert hint.is_displayed()
        assert "healthcode credentials add --role kiosk --id kiosk-01" in hint.text
        assert "/kiosk?kiosk_id=kiosk-01#token=" in hint.text
        driver.find_element(By.ID, "idnum").send_keys(person("440000")[0] + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "error")
        assert "请找工作人员" in driver.find_element(By.ID, "colour").text
        assert "未登记" in driver.find_element(By.ID, "more").text
        assert below_the_fold(driver) == []
    finally:
        driver.quit()


def test_the_index_says_what_a_person_can_do_here_chinese_first(server):
    from selenium.webdriver.common.by import By
    import requests
    driver = chromium(size=(412, 915))
    try:
        driver.get(server.url + "/")
        cards = driver.find_elements(By.CSS_SELECTOR, "main .card")
        ids = [c.get_attribute("id") for c in cards]
        assert ids == ["go-checkpoint", "go-kiosk", "go-print", "go-standard", "go-api", "go-ops"]
        for card in cards:
            zh = card.find_element(By.CLASS_NAME, "zh")
            en = card.find_element(By.CLASS_NAME, "en")
            assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.text) and en.text.isascii()
            assert zh.location["y"] < en.location["y"]                     # Chinese first
        assert "打印纸质码" in driver.find_element(By.ID, "go-print").text
    finally:
        driver.quit()
    for path in ("/checkpoint", "/kiosk", "/standard", "/standard.md", "/v1/openapi.json", "/ops", "/favicon.ico"):
        r = requests.get(server.url + path, timeout=5)
        assert r.status_code == 200, path
    assert "## 7. Trust list" in requests.get(server.url + "/standard.md", timeout=5).text
    assert '<h2 id="s7">7. Trust list</h2>' in requests.get(server.url + "/standard", timeout=5).text
    assert requests.get(server.url + "/v1/openapi.json", timeout=5).json()["openapi"].startswith("3.")


def no_horizontal_overflow(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")


@pytest.mark.parametrize("size", [(1280, 800), (412, 915)])
def test_a_token_opened_in_the_same_tab_sets_the_kiosk_up_without_a_reload(server, size):
    """Staff follow the kiosk's own hint: the same address with #token=… in the same tab (only the
    fragment changes, the page is not loaded again)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    id_number, name = person("440000")
    run_cli("issue", "--region", "440000", "--id-number", id_number, "--name", name, "--status", "green",
            data_dir=server.data, check=True)
    driver = kiosk(server, size, token=False)
    try:
        assert driver.find_element(By.ID, "staff").is_displayed()
        driver.find_element(By.ID, "idnum").send_keys(id_number + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "error")                     # refused: no credential yet
        driver.execute_script("window.__samePage = true; location.hash = arguments[0]", f"#token={server.token}")
        wait_for(driver, lambda d: "#token" not in d.current_url)
        assert driver.execute_script("return window.__samePage") is True     # no reload happened
        assert not driver.find_element(By.ID, "staff").is_displayed()
        assert status(driver) == ""                                          # the refusal is gone
        driver.find_element(By.ID, "idnum").send_keys(id_number + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "green")
        assert driver.find_element(By.ID, "who").text.startswith(name[0] + "*")
        assert below_the_fold(driver) == [] and no_horizontal_overflow(driver)
    finally:
        driver.quit()


def test_a_city_residents_code_names_the_city_and_its_province(server):
    """A Guangzhou (4401…) resident's code comes from Guangzhou's issuer: the kiosk says 广州 and
    the province it issues under, 广东, as the verdict does; while Guangzhou's delegation is
    withdrawn, the province's own code says 广东 alone."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    id_number, name = person("440100")
    for region, colour in (("440100", "green"), ("440000", "yellow")):
        run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, "--status", colour,
                data_dir=server.data, check=True)
    driver = kiosk(server, (412, 915))
    try:
        driver.find_element(By.ID, "idnum").send_keys(id_number + Keys.ENTER)
        wait_for(driver, lambda d: status(d) == "green")
        assert driver.find_element(By.ID, "more").text.splitlines()[0] == "广州（广东）"
        assert below_the_fold(driver) == [] and no_horizontal_overflow(driver)
        run_cli("delegations", "withdraw", "--city", "440100", data_dir=server.data, check=True)
        try:
            driver.find_element(By.ID, "colour").click()
            ActionChains(driver).send_keys(id_number + Keys.ENTER).perform()
            wait_for(driver, lambda d: status(d) == "yellow")
            assert driver.find_element(By.ID, "more").text.splitlines()[0] == "广东"
        finally:
            run_cli("delegations", "restore", "--city", "440100", data_dir=server.data, check=True)
    finally:
        driver.quit()
