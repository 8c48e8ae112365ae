"""Headless Debian chromium driven by Selenium, for the playground test (no CDN, no download)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = (
    None
    if CHROMIUM and CHROMEDRIVER
    else "needs Debian chromium and chromium-driver (scripts/setup.sh installs them)"
)


def headless_chromium(fake_audio_file: str | None = None):
    """A WebDriver for headless chromium with a fake microphone that needs no permission click;
    it plays `fake_audio_file` (a WAV, once) when given, else a beep."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in containers
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    if fake_audio_file:
        options.add_argument(f"--use-file-for-fake-audio-capture={fake_audio_file}%noloop")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
