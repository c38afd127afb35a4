"""A real headless Chromium through Selenium (every test using one is marked ``browser``).
`make test` installs Chromium and its driver (scripts/install-test-tools), so a missing driver is
a broken set-up: the test fails and says so, never skips."""
from __future__ import annotations

import re

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from support.marks import needs

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--autoplay-policy=no-user-gesture-required")

# Recorded before any page script runs: what the page asked the device to do.
RECORDERS = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
window.__tones = 0;
const RealContext = window.AudioContext;
window.AudioContext = class extends RealContext {
  createOscillator() { window.__tones += 1; return super.createOscillator(); }
};
"""


@needs("browser")
def chromium(extra=(), size=(1280, 800)):
    """The scanning pages' Chromium: it records vibrations and tones, at ``size`` CSS pixels."""
    if not shutil.which("chromedriver"):
        pytest.fail("chromedriver not found: run `make test` (scripts/install-test-tools)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*FLAGS, f"--window-size={size[0]},{size[1]}", *extra):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=shutil.which("chromedriver")), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDERS})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


def wait_for(driver, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout).until(condition)


@needs("browser")
def page_chromium():
    """The Chromium the checkpoint and kiosk page tests share (1000×1400, nothing recorded)."""
    if not shutil.which("chromedriver"):
        pytest.fail("chromedriver not found: run `make test`, which installs chromium and chromium-driver "
                    "(scripts/install-test-tools), or apt-get install them", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1000,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=shutil.which("chromedriver")), options=options)
    return driver


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    """Kept under $HEALTHCODE_SCREENSHOTS when set (the README's pictures come from here)."""
    folder = Path(os.environ.get("HEALTHCODE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.quantize(colors=64).save(path, optimize=True)          # flat colours: small files
    return path


def no_horizontal_overflow(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")


def fully_visible(driver, element) -> bool:
    """The element's box lies inside the viewport's width and it is not clipped by its own box
    (scrollWidth > clientWidth means text cut off or hidden behind an ellipsis)."""
    return driver.execute_script("""
      const e = arguments[0], r = e.getBoundingClientRect();
      return r.width > 0 && r.left >= 0 && r.right <= innerWidth + 0.5 && e.scrollWidth <= e.clientWidth + 1;""", element)


def platform_fonts(driver, selector: str) -> list[dict]:
    """The fonts Chromium really drew the element's own text with (DevTools CSS domain)."""
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    return driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def split_words(driver, element_id: str, words: str = "北京时间") -> list[int]:
    """Where ``words`` occur in the element's text but are broken over two lines (or none)."""
    return driver.execute_script("""
      const out = [], walker = document.createTreeWalker(document.getElementById(arguments[0]), NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode())
        for (let i = node.data.indexOf(arguments[1]); i >= 0; i = node.data.indexOf(arguments[1], i + 1)) {
          const range = document.createRange();
          range.setStart(node, i); range.setEnd(node, i + arguments[1].length);
          if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size !== 1) out.push(i);
        }
      return out;""", element_id, words)


def drawn_in_real_bold(driver, selector: str) -> list[dict]:
    """[] when every glyph of a bold element came from a Bold face; else the faces that were not."""
    weight = int(driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).fontWeight", selector))
    assert weight >= 600, (selector, weight)
    fonts = platform_fonts(driver, selector)
    assert fonts, selector
    return [f for f in fonts if not re.search(r"Bold|Black|Heavy", f.get("postScriptName", ""))]
