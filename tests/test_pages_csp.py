"""Security headers (issue 19, item 9): every page and API answer carries a strict
Content-Security-Policy (scripts only from files of this origin, never inline; never framed),
X-Frame-Options, nosniff and a Referrer-Policy.  In a real Chromium each page still runs its own
script with no policy violation, while a script injected inline — as a text we failed to escape
would inject it — does not run, and no other site can frame a page."""
from __future__ import annotations

import json

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer
from support.browser import chromium, wait_for

VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("csp")
    run_cli("issue", "--region", "440000", "--id-number", "440305193606300643", "--name", "陈秀英",
            data_dir=data, check=True)
    srv = LiveServer(data)
    srv.manager = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm-csp",
                                     data_dir=data, check=True).stdout)["token"]
    srv.kiosk = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-csp",
                                   data_dir=data, check=True).stdout)["token"]
    yield srv
    srv.stop()


ANSWERS = [("GET", "/", None), ("GET", "/checkpoint", None), ("GET", "/kiosk?kiosk_id=k1", None),
           ("GET", "/ops", None), ("GET", "/standard", None), ("GET", "/checkpoint/formats.json", None),
           ("GET", "/checkpoint-sw.js", None), ("GET", "/static/offline.js", None),
           ("GET", "/v1/openapi.json", None), ("GET", "/v1/trust-list", None), ("GET", "/healthz", None),
           ("POST", "/v1/verify", {"payload": "not a code"}), ("POST", "/v1/verify", "[[["),
           ("POST", "/v1/kiosk/lookup", {"id_number": "x"}), ("GET", "/no/such/page", None),
           ("DELETE", "/v1/verify", None)]


@pytest.mark.parametrize("method,path,body", ANSWERS)
def test_every_answer_carries_the_security_headers(server, method, path, body):
    kw = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else \
        {"json": body} if body is not None else {}
    answer = requests.request(method, server.url + path, timeout=10, **kw)
    csp = {d.strip().split(" ", 1)[0]: d.strip() for d in answer.headers["Content-Security-Policy"].split(";")}
    assert csp["script-src"] == "script-src 'self'" and csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'" and csp["object-src"] == "object-src 'none'"
    assert csp["base-uri"] == "base-uri 'none'"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_no_page_carries_an_inline_script(server):
    import re
    for path in ("/", "/checkpoint", "/kiosk?kiosk_id=k1", "/ops"):
        html = requests.get(server.url + path, timeout=10).text
        for attrs, content in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
            assert "src=" in attrs or 'type="application/json"' in attrs, (path, attrs, content[:80])
        assert not re.search(r"\son[a-z]+\s*=", html), path                 # no inline handlers


def test_no_page_carries_an_inline_style(server):
    import re
    for path in ("/", "/checkpoint", "/kiosk?kiosk_id=k1", "/ops", "/standard"):
        html = requests.get(server.url + path, timeout=10).text
        assert "<style" not in html and not re.search(r"\sstyle\s*=", html), path
        sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
        assert len(sheets) == 1, (path, sheets)
        answer = requests.get(server.url + sheets[0], timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/css")


def test_pages_wear_their_stylesheet_and_injected_styles_do_not_apply(server):
    """The checkpoint's colours come from its stylesheet; a ``<style>`` block or ``style``
    attribute that a missed escape would inject changes nothing."""
    driver = chromium()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATIONS})
    try:
        driver.get(server.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        background = "return getComputedStyle(document.body).backgroundColor"
        assert driver.execute_script(background) == "rgb(244, 244, 244)"          # checkpoint.css
        driver.execute_script("""
          document.head.insertAdjacentHTML("beforeend", "<style>body { background: rgb(10, 125, 50) }</style>");
          document.getElementById("verdict").insertAdjacentHTML("beforeend",
            '<span id="fake" style="display:block;background:rgb(10, 125, 50)">绿码</span>');""")
        wait_for(driver, lambda d: len(d.execute_script("return window.__violations")) >= 2)
        assert driver.execute_script(background) == "rgb(244, 244, 244)"
        assert driver.execute_script(
            "return getComputedStyle(document.getElementById('fake')).backgroundColor") != "rgb(10, 125, 50)"
        assert all(v.startswith("style-src") for v in driver.execute_script("return window.__violations"))
    finally:
        driver.quit()


def test_every_page_runs_its_own_script_with_no_policy_violation(server):
    from selenium.webdriver.common.by import By
    driver = chromium()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATIONS})
    try:
        driver.get(server.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        assert driver.execute_script("return window.__violations") == []
        driver.get(server.url + "/kiosk?kiosk_id=kiosk-csp")
        wait_for(driver, lambda d: d.find_element(By.ID, "staff").is_displayed())      # no token: the hint
        assert driver.execute_script("return window.__violations") == []
        driver.get(server.url + f"/ops#token={server.manager}")
        wait_for(driver, lambda d: d.find_element(By.ID, "charts").get_attribute("data-state") == "drawn")
        assert driver.execute_script("return window.__violations") == []
        driver.get(server.url + "/")
        assert driver.execute_script("return window.__violations") == []
    finally:
        driver.quit()


def test_an_injected_inline_script_does_not_run_and_no_page_can_be_framed(server):
    """What a missed escape would put in a page — an inline script, an inline handler, a
    ``javascript:`` URL — is refused by the policy; the page's own scripts keep working."""
    from selenium.webdriver.common.by import By
    driver = chromium()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATIONS})
    try:
        driver.get(server.url + "/kiosk?kiosk_id=kiosk-csp")
        wait_for(driver, lambda d: d.find_element(By.ID, "staff").is_displayed())
        driver.execute_script("""
          window.__ran = [];
          const s = document.createElement("script");
          s.textContent = "window.__ran.push('inline')";
          document.body.append(s);
          document.getElementById("staff").insertAdjacentHTML("beforeend",
            '<img src="data:," onload="window.__ran.push(\\'handler\\')" onerror="window.__ran.push(\\'handler\\')">' +
            '<a id="js-link" href="javascript:window.__ran.push(\\'url\\')">x</a>');
        """)
        driver.find_element(By.ID, "js-link").click()
        wait_for(driver, lambda d: len(d.execute_script("return window.__violations")) >= 3)
        assert driver.execute_script("return window.__ran") == []
        assert all(v.startswith("script-src") for v in driver.execute_script("return window.__violations"))
        driver.execute_script("""
          const f = document.createElement("iframe");
          f.id = "framed"; f.src = "/kiosk?kiosk_id=kiosk-csp";
          document.body.append(f);""")
        wait_for(driver, lambda d: d.execute_script(
            "return document.getElementById('framed').contentDocument === null"
            " || document.getElementById('framed').contentDocument.getElementById('staff') === null"
            " ? 'blocked' : 'framed'") == "blocked")
        import time
        time.sleep(1)                                                        # a framed page would load by now
        assert driver.execute_script(
            "const d = document.getElementById('framed').contentDocument;"
            "return d === null || d.getElementById('staff') === null")
    finally:
        driver.quit()
