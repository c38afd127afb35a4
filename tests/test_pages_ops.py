"""The data manager's operations view: figures over HTTP behind the credential, from the store
(SQLite and Elasticsearch), drawn as charts in a real headless Chromium — and no person in them."""
from __future__ import annotations

import json

import pytest
import requests

from support.waiting import wait_until
from support.cli import run_cli
from support.live import LiveServer, config_with_limits
from residents import RESIDENTS
from standard import jose


def credential(data, role, who, *extra):
    return json.loads(run_cli("credentials", "add", "--role", role, "--id", who, *extra,
                              data_dir=data, check=True).stdout)["token"]


def a_busy_hour(srv, data) -> dict:
    """Real traffic: scans of three colours, refusals, kiosk lookups, one of them rate-limited."""
    people = []
    for region, status in (("440000", "green"), ("510000", "red"), ("110000", "yellow")):
        id_number, name, id_type = RESIDENTS[region]
        code = run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, "--id-type", id_type,
                       "--status", status, data_dir=data, check=True).stdout.strip()
        people.append((region, status, id_number, name, code))
    for region, status, _, _, code in people:
        for _ in range({"green": 3, "red": 2, "yellow": 1}[status]):
            assert requests.post(srv.url + "/v1/verify", json={"payload": code}, timeout=5).json()["valid"]
    head, body, sig = people[0][4].split(".")
    raw = bytearray(jose.b64url_decode(sig))
    raw[5] ^= 0xFF
    forged = f"{head}.{body}.{jose.b64url_encode(bytes(raw))}"
    elsewhere = data.parent / f"{data.name}-other"                          # another deployment's keys
    elsewhere.mkdir()
    stranger = run_cli("issue", "--region", "440000", "--id-number", people[0][2], "--name", people[0][3],
                       data_dir=elsewhere, check=True).stdout.strip()
    for payload in (forged, stranger, "YKM1:junk", "not a code at all"):   # junk is counted, not stored
        assert not requests.post(srv.url + "/v1/verify", json={"payload": payload}, timeout=5).json()["valid"]
    kiosk = credential(data, "kiosk", "k-ops")
    outcomes = []
    for id_number in (people[0][2], people[1][2], people[2][2]):
        r = requests.post(srv.url + "/v1/kiosk/lookup", json={"id_number": id_number, "kiosk_id": "k-ops"},
                          headers={"Authorization": f"Bearer {kiosk}"}, timeout=10)
        outcomes.append(r.status_code)
    assert outcomes == [200, 200, 429]                                     # the limit is 2 a minute
    return {"people": people, "kiosk": kiosk, "manager": credential(data, "data_manager", "dm-ops")}


def check_figures(srv, world):
    manager = {"Authorization": f"Bearer {world['manager']}"}
    assert requests.get(srv.url + "/v1/admin/stats", timeout=5).status_code == 401
    assert requests.get(srv.url + "/v1/admin/stats", headers={"Authorization": f"Bearer {world['kiosk']}"},
                        timeout=5).status_code == 403
    bad = requests.get(srv.url + "/v1/admin/stats?window=1y", headers=manager, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"

    def stats():
        r = requests.get(srv.url + "/v1/admin/stats?window=24h", headers=manager, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    # Elasticsearch shows new documents after its refresh: ask until the ten scans are counted
    day = wait_until(stats, lambda day: day["scans"]["total"] >= 10, timeout=10, interval=0.5)
    assert len(day["hours"]) == 24
    colours = {k: sum(v) for k, v in day["scans"]["by_colour"].items()}
    # 6 valid scans + 2 refused (forged, unknown key) + 2 kiosk lookups, each verified before it is shown
    assert colours["green"] == 3 + 1 and colours["red"] == 2 + 1 and colours["yellow"] == 1
    assert colours["invalid"] == 2 and day["scans"]["total"] == 10
    assert day["refused_by_error"] == {"signature_invalid": 1, "key_unknown": 1}
    assert sum(day["scans"]["by_region"]["440000"]) == 4 and sum(day["scans"]["by_region"]["510000"]) == 3
    assert {k: sum(v) for k, v in day["lookups"].items()} == {"ok": 2, "refused": 0, "rate_limited": 1}
    week = requests.get(srv.url + "/v1/admin/stats?window=7d", headers=manager, timeout=10).json()
    assert len(week["hours"]) == 168 and week["scans"]["total"] == day["scans"]["total"]
    raw = json.dumps([day, week], ensure_ascii=False)
    for _, _, id_number, name, code in world["people"]:
        assert id_number not in raw and name not in raw and name[0] + "*" not in raw
    assert "code_id" not in raw and "device" not in raw
    return day


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory):
    data = tmp_path_factory.mktemp("ops")
    config = config_with_limits(data, kiosk_lookups_per_minute=2)
    srv = LiveServer(data, {"HEALTHCODE_CONFIG": str(config)})
    world = a_busy_hour(srv, data)
    yield srv, world
    srv.stop()


def test_figures_over_http_on_sqlite(sqlite_world):
    check_figures(*sqlite_world)


def test_figures_on_elasticsearch(es_env, tmp_path, monkeypatch):
    env = {**es_env, "HEALTHCODE_CONFIG": str(config_with_limits(tmp_path, kiosk_lookups_per_minute=2))}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    data = tmp_path / "data"
    data.mkdir()
    srv = LiveServer(data, env)
    try:
        check_figures(srv, a_busy_hour(srv, data))
    finally:
        srv.stop()
    assert not list(data.glob("*.sqlite3*"))


def test_the_operations_page_draws_the_figures(sqlite_world, tmp_path):
    from selenium.webdriver.common.by import By
    from support.browser import chromium, wait_for
    srv, world = sqlite_world
    driver = chromium(size=(1280, 900))
    try:
        driver.get(srv.url + "/ops")
        assert "data_manager" in driver.find_element(By.ID, "message").text       # no token: how to get one
        driver.get(f"{srv.url}/ops#token={world['kiosk']}")                       # not a data manager's
        wait_for(driver, lambda d: d.find_element(By.ID, "charts").get_attribute("data-state") == "refused")
        assert driver.find_element(By.ID, "message").text == "无法读取 · refused: 此凭证不是数据管理员的 not a data manager's credential"
        driver.get(f"{srv.url}/ops#token={world['manager']}")
        wait_for(driver, lambda d: d.find_element(By.ID, "charts").get_attribute("data-state") == "drawn")
        assert "#token" not in driver.current_url
        drawn = driver.execute_script("""
          const sum = (sel) => [...document.querySelectorAll(sel)].reduce((a, r) => a + Number(r.dataset.value), 0);
          return {red: sum('#colour rect[data-series=red]'), green: sum('#colour rect[data-series=green]'),
                  gd: sum('#region rect[data-series="440000"]'), limited: sum('#lookups rect[data-series=rate_limited]'),
                  errors: [...document.querySelectorAll('#refused rect')].map(r => r.dataset.error).sort()}""")
        assert drawn == {"red": 3, "green": 4, "gd": 4, "limited": 1, "errors": ["key_unknown", "signature_invalid"]}
        assert "北京时间" in driver.find_element(By.ID, "range").text
        driver.find_element(By.ID, "w7").click()
        wait_for(driver, lambda d: d.find_element(By.ID, "charts").get_attribute("data-window") == "7d")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#colour text")) >= 7        # a label per day
    finally:
        driver.quit()


@pytest.mark.parametrize("size", [(1280, 800), (412, 915)])
def test_the_operations_page_fits_the_screen_with_every_label_whole(sqlite_world, size):
    """A phone sees the whole day (the current hour sits at the right edge): no sideways scroll,
    every chart label inside its chart, "北京时间" never broken, errors as words."""
    from selenium.webdriver.common.by import By
    from support.browser import chromium, drawn_in_real_bold, no_horizontal_overflow, wait_for
    srv, world = sqlite_world
    driver = chromium(size=size)
    try:
        driver.get(f"{srv.url}/ops#token={world['manager']}")
        wait_for(driver, lambda d: d.find_element(By.ID, "charts").get_attribute("data-state") == "drawn")
        assert no_horizontal_overflow(driver)
        outside = driver.execute_script("""
          const out = [];
          for (const svg of document.querySelectorAll('#charts svg')) {
            const box = svg.getBoundingClientRect();
            if (box.right > innerWidth) out.push([svg.id, 'chart', box.right]);
            for (const t of svg.querySelectorAll('text')) {
              const r = t.getBoundingClientRect();
              if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
                out.push([svg.id, t.textContent, r.left, r.right, box.left, box.right]);
            }
          }
          return out;""")
        assert outside == []
        axis = driver.find_elements(By.XPATH, "//*[local-name()='svg'][@id='colour']/*[local-name()='text'][.='北京时间 UTC+8']")
        assert len(axis) == 1
        labels = driver.execute_script(
            "return [...document.querySelectorAll('#refused text[data-label]')].map(t => [t.dataset.label, t.textContent])")
        words = driver.execute_script("return Object.fromEntries(arguments[0].map(c => [c, HCWords.error({code: c})]))",
                                      [code for code, _ in labels])
        assert sorted(code for code, _ in labels) == ["key_unknown", "signature_invalid"]
        for code, text in labels:                          # the words, whole (or their whole Chinese half)
            assert text in (words[code], words[code].split(" ")[0]) and "_" not in text and "…" not in text
        broken = driver.execute_script("""
          const node = document.getElementById('range').firstChild, out = [];
          for (let i = node.data.indexOf('北京时间'); i >= 0; i = node.data.indexOf('北京时间', i + 1)) {
            const range = document.createRange();
            range.setStart(node, i); range.setEnd(node, i + 4);
            const rects = [...range.getClientRects()];
            if (rects.length !== 1 || rects[0].right > innerWidth) out.push(i);
          }
          const lines = (start, end) => { const r = document.createRange(); r.setStart(node, start); r.setEnd(node, end);
                                           return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size; };
          const cut = node.data.indexOf(' — ');
          return [node.data.split('北京时间').length - 1, out, lines(0, cut), lines(cut + 3, node.data.length)];""")
        assert broken == [2, [], 1, 1]                      # and each of the two times on one line
        header = driver.find_element(By.ID, "range").rect
        assert header["x"] >= 0 and header["x"] + header["width"] <= size[0]
        assert drawn_in_real_bold(driver, "#charts h2") == []
    finally:
        driver.quit()
