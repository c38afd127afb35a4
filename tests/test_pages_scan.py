"""The checkpoint page in a real headless Chromium: a QR read from a (fake) camera, the verdict
full-screen with sound and vibration, and verification in the browser when the gateway is gone.

The camera is Chromium's fake capture device playing a .y4m made here from the PNG of a code the
gateway really issued; the offline verdicts are compared with the gateway's own for every table
format, so the browser's WebCrypto path and the Python path cannot drift apart."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from PIL import Image

from adapters import qr
from standard import jose
from support.cli import run_cli
from support.browser import chromium, screenshot, wait_for
from support.live import LiveServer

def verdict_attrs(driver):
    from selenium.webdriver.common.by import By
    box = driver.find_element(By.ID, "result")
    return box.get_attribute("data-valid"), box.get_attribute("data-status")


def y4m_from_png(png: bytes, path: Path, width=640, height=480, frames=5) -> Path:
    """A raw YUV 4:2:0 video (what --use-file-for-fake-video-capture plays) of the QR on white."""
    code = Image.open(__import__("io").BytesIO(png)).convert("L")
    side = min(width, height) - 40
    code = code.resize((side, side), Image.NEAREST)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(code.convert("RGB"), ((width - side) // 2, (height - side) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + frame)
    return path


def issue(data, *args) -> str:
    return run_cli("issue", *args, data_dir=data, check=True).stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("scan")
    srv = LiveServer(data)
    yield srv
    srv.stop()


def test_camera_reads_a_red_code_and_the_screen_and_device_say_so(server, tmp_path):
    code = issue(server.data, "--region", "110000", "--id-number", "11010519491231002X", "--name", "赵小燕",
                 "--facts", json.dumps({"close_contact": True}), "--kind", "offline")
    video = y4m_from_png(qr.render_png(code), tmp_path / "camera.y4m")
    driver = chromium(("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-video-capture={video}"))
    try:
        from selenium.webdriver.common.by import By
        driver.get(server.url + "/checkpoint")
        assert driver.execute_script("return typeof BarcodeDetector") in ("undefined", "function")
        driver.find_element(By.ID, "camera").click()
        wait_for(driver, lambda d: verdict_attrs(d) == ("true", "red"))
        box = driver.find_element(By.ID, "result")
        assert "红码" in driver.find_element(By.ID, "verdict").text
        assert driver.find_element(By.ID, "holder").text.startswith("赵*燕")
        assert "密切接触" in driver.find_element(By.ID, "detail").text
        assert "北京时间" in driver.find_element(By.ID, "detail").text
        # Full screen, and large enough to read from 2 m.
        rect = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                     "return [r.width, r.height, innerWidth, innerHeight,"
                                     " parseFloat(getComputedStyle(document.getElementById('verdict')).fontSize)]", box)
        assert rect[0] == rect[2] and rect[1] == rect[3] and rect[4] >= 120
        assert driver.execute_script("return window.__vibrations")[0][0] >= 300       # red: long buzz
        assert driver.execute_script("return window.__tones") >= 3
        screenshot(driver, "checkpoint.png", tmp_path)
        # The same code held in front of the camera is not counted again; tapping clears.
        box.click()
        assert verdict_attrs(driver) == ("", "waiting")
        assert "已核验 1" in driver.find_element(By.ID, "count").text
    finally:
        driver.quit()


def test_the_verdict_clears_itself_for_the_next_person(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    code = issue(server.data, "--region", "440000", "--id-number", "440305193606300643", "--name", "陈秀英",
                 "--status", "green")
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        driver.execute_script("window.SHOW_FOR_TEST = 1")
        box = driver.find_element(By.ID, "payload")
        box.send_keys(code + Keys.ENTER)
        wait_for(driver, lambda d: verdict_attrs(d) == ("true", "green"))
        assert driver.execute_script("return window.__vibrations") == []       # green: no buzz
        wait_for(driver, lambda d: verdict_attrs(d) == ("", "waiting"), timeout=15)
        driver.find_element(By.TAG_NAME, "header").click()                   # focus leaves the field
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(driver).send_keys("YKM1:eyJhbGciOiJub25lIn0.e30." + Keys.ENTER).perform()   # the scanner types
        wait_for(driver, lambda d: verdict_attrs(d) == ("false", "invalid"))
        assert driver.find_element(By.ID, "detail").text == "签名算法不被接受 algorithm not allowed"
        assert driver.execute_script("return window.__vibrations")
    finally:
        driver.quit()


def test_a_photo_of_two_codes_shows_both_verdicts(server, tmp_path):
    """A photo with two codes side by side, through the page's photo input: /v1/verify answers
    {"codes": [...], "found": 2} beside the first verdict, and the page shows each one."""
    from selenium.webdriver.common.by import By
    red = issue(server.data, "--region", "510000", "--id-number", "510107199501013071", "--name", "张伟",
                "--status", "red")
    green = issue(server.data, "--region", "310000", "--id-number", "310115193302201761", "--name", "王桂兰",
                  "--status", "green")
    left, right = (Image.open(__import__("io").BytesIO(qr.render_png(t))).convert("RGB") for t in (red, green))
    photo = Image.new("RGB", (left.width + right.width + 60, max(left.height, right.height) + 40), "white")
    photo.paste(left, (20, 20))
    photo.paste(right, (left.width + 40, 20))
    path = tmp_path / "two-codes.png"
    photo.save(path)
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        driver.find_element(By.ID, "image").send_keys(str(path))
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#codes .code")) == 2)
        cards = driver.find_elements(By.CSS_SELECTOR, "#codes .code")
        assert [c.get_attribute("data-status") for c in cards] == ["red", "green"]
        assert "张*" in cards[0].text and "王*兰" in cards[1].text
        assert "2 codes found" in driver.find_element(By.ID, "detail").text
        assert driver.execute_script("return window.__vibrations")        # the worst of them decides
    finally:
        driver.quit()


def test_offline_the_page_verifies_with_the_cached_trust_list(tmp_path_factory):
    """The gateway stops; the page verifies in the browser (ES256 and Ed25519) and says it is offline."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    data = tmp_path_factory.mktemp("offline")
    srv = LiveServer(data)
    codes = {
        "gd": issue(data, "--region", "440000", "--id-number", "440106197209116424", "--name", "陈秀英",
                    "--status", "green", "--kind", "offline"),
        "sc": issue(data, "--region", "510000", "--id-number", "510107199501013071", "--name", "张伟",
                    "--status", "red", "--kind", "offline"),                    # 天府: Ed25519
    }
    driver = chromium()
    try:
        driver.get(srv.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
    finally:
        srv.stop()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.url + "/healthz", timeout=2)
        box = driver.find_element(By.ID, "payload")
        box.send_keys(codes["gd"] + Keys.ENTER)
        wait_for(driver, lambda d: verdict_attrs(d) == ("true", "green"))
        assert driver.find_element(By.ID, "result").get_attribute("data-offline") == "true"
        assert "OFFLINE" in driver.find_element(By.ID, "net").text
        assert "OFFLINE" in driver.find_element(By.ID, "mode").text
        assert driver.find_element(By.ID, "holder").text.startswith("陈*英")
        driver.execute_script("ready()")
        box.send_keys(codes["sc"] + Keys.ENTER)
        wait_for(driver, lambda d: verdict_attrs(d) == ("true", "red"))
        head, body, sig = codes["sc"].split(".")
        forged = f"{head}.{body}.{sig[:-6]}{'AAAAAA' if not sig.endswith('AAAAAA') else 'BBBBBB'}"
        driver.execute_script("ready()")
        box.send_keys(forged + Keys.ENTER)
        wait_for(driver, lambda d: verdict_attrs(d) == ("false", "invalid"))
        assert driver.find_element(By.ID, "detail").text == "签名无效：伪造或被篡改 forged or altered"
    finally:
        driver.quit()


def offline_verdict(driver, text, now=None):
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "HCOffline.verify(arguments[0], trust, tables, arguments[1] || Math.floor(Date.now() / 1000)).then(done)",
        text, now)


def test_browser_and_gateway_reach_the_same_verdict_for_every_format(server):
    """Each table format (formats.json comes from the adapters), valid, altered, expired and
    revoked: the browser's verdict equals the gateway's, field by field."""
    from selenium.webdriver.support.ui import WebDriverWait
    from residents import RESIDENTS
    texts = []
    for region, (id_number, name, id_type) in RESIDENTS.items():
        person = ("--region", region, "--id-number", id_number, "--name", name, "--id-type", id_type)
        texts.append(issue(server.data, *person, "--status", "yellow"))
        texts.append(issue(server.data, *person, "--status", "green", "--format", "national"))
    altered = texts[0][:-3] + ("AAA" if not texts[0].endswith("AAA") else "BBB")
    texts += [altered, "CNHC1:" + texts[1].split(":", 1)[1][::-1], "nothing", ""]
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        keys = ("valid", "status", "region", "format", "holder", "expires_at", "issued_at", "kind", "reasons", "code_id")
        for text in texts:
            online = requests.post(server.url + "/v1/verify", json={"payload": text}, timeout=5).json()
            offline = offline_verdict(driver, text)
            assert {k: offline[k] for k in keys} == {k: online[k] for k in keys}, text[:30]
            assert offline.get("issuer") == online.get("issuer"), text[:30]          # a city's: city and province
            assert [e["code"] for e in offline["errors"]] == [e["code"] for e in online["errors"]], text[:30]
        # An hour later the phone codes have expired in both.
        later = int(__import__("time").time()) + 3600
        assert offline_verdict(driver, texts[0], later)["errors"][0]["code"] == "expired"
    finally:
        driver.quit()


def test_offline_the_page_even_reloads(tmp_path_factory):
    """Reloaded with the gateway gone, the page comes from its service worker's cache and still
    verifies from the trust list it kept."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    data = tmp_path_factory.mktemp("reload")
    srv = LiveServer(data)
    code = issue(data, "--region", "330000", "--id-number", "330102195203154120", "--name", "钱淑芬",
                 "--status", "yellow", "--kind", "offline")
    driver = chromium()
    try:
        driver.get(srv.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready"
                 and d.execute_script("return document.body.dataset.sw") == "ready")
        wait_for(driver, lambda d: d.execute_script("return navigator.serviceWorker.controller !== null"))
        srv.stop()
        driver.get(srv.url + "/checkpoint")                                   # no server behind it now
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        driver.find_element(By.ID, "payload").send_keys(code + Keys.ENTER)
        wait_for(driver, lambda d: verdict_attrs(d) == ("true", "yellow"))
        assert driver.find_element(By.ID, "result").get_attribute("data-offline") == "true"
        assert driver.find_element(By.ID, "holder").text.startswith("钱*芬")
    finally:
        driver.quit()
        srv.stop()


def test_the_page_trusts_a_cached_list_only_under_the_pinned_national_keys(server, tmp_path):
    """The trust list the page caches is checked like the CLI's offline verifier checks it."""
    from selenium.webdriver.support.ui import WebDriverWait
    real = requests.get(server.url + "/v1/trust-list", timeout=5).json()
    head, body, sig = real["jws"].split(".")
    payload = json.loads(jose.b64url_decode(body))
    payload["issuers"][0]["keys"].append(dict(payload["issuers"][0]["keys"][0], kid="attacker-key"))
    altered = f"{head}.{jose.b64url_encode(json.dumps(payload).encode())}.{sig}"
    other = tmp_path / "other"
    other.mkdir()
    run_cli("trust-list", "--out", str(other / "list.json"), data_dir=other, check=True)
    foreign = (other / "list.json").read_text().strip()                 # another country's national key
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.body.dataset.trust") == "ready")

        def load(jws, now=None, min_seq=0):
            return driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "HCOffline.loadTrustList(arguments[0], NATIONAL_KEYS, arguments[1] || Math.floor(Date.now() / 1000), arguments[2])"
                ".then((t) => done({seq: t.seq}), (e) => done({code: e.code, message: e.message}))",
                jws, now, min_seq)

        assert load(real["jws"]) == {"seq": real["seq"]}
        assert load(altered)["code"] == "trust_list_invalid"                 # signature
        refused = load(foreign)
        assert refused["code"] == "trust_list_invalid" and "unknown national key" in refused["message"]
        assert "older" in load(real["jws"], None, real["seq"] + 1)["message"]  # replayed older list
        assert "expired" in load(real["jws"], real["seq"] + 8 * 86400)["message"]
    finally:
        driver.quit()
