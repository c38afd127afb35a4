"""A real headless Chromium through Selenium (every test using one is marked ``browser``).
`make test` installs Chromium and its driver (scripts/install-test-tools), so a missing driver is
a broken set-up: the test fails and says so, never skips."""
from __future__ import annotations

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
