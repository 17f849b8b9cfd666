"""The local page, in a real headless Chromium: live decisions, counts, refusals by country."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from serving import Server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "build" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium_path() -> str:
    if CHROMIUM is None:
        if os.environ.get("REGIONGATE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (REGIONGATE_REQUIRE_BROWSER is set)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def test_page_shows_live_decisions_and_refusals_and_classifies_from_the_form(
    server: Server, chromium_path: str
) -> None:
    from playwright.sync_api import sync_playwright

    # (A US caller with no account facts is reviewed by Anthropic's ownership rule: use OpenAI.)
    for ip, provider in (
        ("1.2.4.8", "anthropic"),
        ("223.255.128.1", "anthropic"),
        ("8.8.8.8", "openai"),
    ):
        assert server.classify(ip, provider)[0] == 200
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(server.url + "/")
        page.wait_for_function(
            "document.querySelectorAll('#recent tr').length >= 3", timeout=20_000
        )
        assert page.inner_text("#summary").startswith("3 decisions on record")
        rows = page.inner_text("#recent")
        assert "CN" in rows and "HK" in rows and "US" in rows
        assert page.inner_text(".card.reroute b") == "2"
        assert page.inner_text(".card.allow b") == "1"
        refused = page.text_content("#denied") or ""
        assert "CN" in refused and "HK" in refused and "US" not in refused
        # Decide one more from the form.
        page.fill("#ip", "1.2.4.8")
        page.select_option("#provider", "openai")
        page.click("button[type=submit]")
        page.wait_for_function("!document.getElementById('answer').hidden", timeout=20_000)
        assert page.inner_text("#answer").startswith("REROUTE")
        page.wait_for_function(
            "document.querySelectorAll('#recent tr').length >= 4", timeout=20_000
        )
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
        browser.close()
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 10_000
    server.stop()
