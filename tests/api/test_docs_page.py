"""GET /docs in a real browser: headless Chromium from the system's packages, driven by Playwright,
against real gunicorn. The page works offline: everything it loads comes from the server itself."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOT = ROOT / "test-artifacts" / "docs.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def system_chromium() -> str:
    """Debian's chromium (`make deps` installs it); never a download of Playwright's."""
    assert os.path.exists(CHROMIUM), "chromium is missing: run `make deps`"
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    executable = system_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    yield page
    page.close()


def test_the_docs_page_runs_get_items_and_shows_the_seeded_bacon_without_leaving_the_server(live_server, page):
    hosts = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname))
    page.goto(live_server("/docs"))

    items = page.locator("#operations-tag-items")
    expect(items).to_be_visible(timeout=30_000)
    for operation in ("items_index", "items_create", "items_show", "items_update", "items_delete"):
        expect(page.locator(f"#operations-items-{operation}")).to_be_visible()

    listing = page.locator("#operations-items-items_index")
    listing.locator(".opblock-summary").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()
    reply = listing.locator(".live-responses-table .response-col_description pre.microlight").first
    expect(reply).to_contain_text('"name": "Bacon"', timeout=30_000)
    expect(listing.locator(".live-responses-table tr.response .response-col_status")).to_have_text("200")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert hosts and set(hosts) <= {"127.0.0.1", "localhost"}
