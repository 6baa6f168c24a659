"""Browser tests: Debian's Chromium (never a downloaded browser), driven by Playwright for Python,
against a local stack of their own, started once for this package as `make run` starts it and
stopped when its last test is done. Their own stack keeps them apart from the integration
suite's: the expiry test runs the sweeper 16 minutes ahead, which expires every unpaid order of
the stack, and this one logs to test-artifacts/browser/local-stack.log, not over the other's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, expect, sync_playwright

from tests.integration.conftest import Api, login, running_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# What this machine's closed network needs: no background calls home, no QUIC, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 412, "height": 915}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PASSWORDS = {"operator": "Operator-Demo-2026", "finance": "Finance-Demo-2026"}

expect.set_options(timeout=20_000)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # Its own stack: the expiry test runs the sweeper ahead, expiring every unpaid order on it.
    state_dir = tmp_path_factory.mktemp("kayisu-browser-state")
    with running_stack(
        state_dir, ARTIFACTS / "local-stack.log", "IngestSliceSeconds=1 PromotionsCacheSeconds=0"
    ) as state:
        yield state


@pytest.fixture(scope="package")
def operator(stack: dict[str, Any]) -> Api:
    return Api(stack["api_url"], login(stack, "operator"))


@pytest.fixture(scope="package")
def public(stack: dict[str, Any]) -> Api:
    return Api(stack["api_url"])


@pytest.fixture
def new_sku() -> str:
    return f"W-{time.monotonic_ns()}"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Shopper:
    """One browser profile (its own localStorage) with the page errors it saw."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.errors: list[str] = []
        self.requests: list[tuple[str, str | None]] = []  # (url, referer)
        context.on("request", lambda r: self.requests.append((r.url, r.headers.get("referer"))))

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        page.on("console", self._console)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # The API's 4xx answers are logged by Chromium itself; the page's own errors are not allowed.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)


@pytest.fixture
def shopper(browser: Browser, stack: dict[str, Any]) -> Iterator[Callable[..., Shopper]]:
    """`shopper(locale="zh-CN")`: a fresh browser profile on the shop, on a phone-sized screen."""
    made: list[Shopper] = []

    def make(locale: str = "en-US") -> Shopper:
        context = browser.new_context(base_url=stack["api_url"], locale=locale, viewport=PHONE)
        context.set_default_timeout(20_000)
        made.append(Shopper(context))
        return made[-1]

    yield make
    errors = [e for s in made for e in s.errors]
    for s in made:
        s.context.close()
    assert not errors, f"errors in the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def desk(browser: Browser, stack: dict[str, Any]) -> Iterator[Callable[..., Shopper]]:
    """`desk(locale="zh-CN")`: a fresh browser profile on a desktop-sized screen; fails the test
    on any error of the page (CSP violations included)."""
    made: list[Shopper] = []

    def make(locale: str = "en-US") -> Shopper:
        context = browser.new_context(base_url=stack["api_url"], locale=locale, viewport=DESKTOP)
        context.set_default_timeout(20_000)
        made.append(Shopper(context))
        return made[-1]

    yield make
    errors = [e for s in made for e in s.errors]
    for s in made:
        s.context.close()
    assert not errors, f"errors in the page: {errors}"


def sign_in(page: Page, who: str, path: str = "/console/") -> None:
    page.goto(path)
    page.locator("#signin-email").fill(f"{who}@example.com")
    page.locator("#signin-password").fill(PASSWORDS[who])
    page.locator("form.signin button[type=submit]").click()
    expect(page.locator("#user")).to_contain_text(f"{who}@example.com")
