"""Browser tests: Debian's Chromium driven by Playwright for Python, against the local stack."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, artifact
from tests.support.local_stack import RunningStack, free_port, start_stack

# Playwright's 5 s for a page to reach what a test expects: `make test` runs three workers,
# each with a local stack and a browser, on a two-core machine, where a page can take longer.
# A passing expectation returns as soon as it holds; only a failing one waits this long.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Every browser test signs in from 127.0.0.1: one address standing for the visitors
    # of the whole package, far past the per-address limit on /auth that one person
    # never approaches (tests/functional/test_accounts.py holds that limit).
    running = start_stack(tmp_path_factory.mktemp("e2e") / "data", env={"RRWEB_LIMIT_AUTH_REQUESTS": str(10**6)})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class _Quiet(SimpleHTTPRequestHandler):
    csp: str | None = None
    strict = False

    def end_headers(self) -> None:
        if self.csp and self.strict:
            self.send_header("Content-Security-Policy", self.csp)
        super().end_headers()

    def do_GET(self) -> None:
        self.strict = self.path.startswith("/strict")
        if self.strict:
            self.path = "/article.html"
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="package")
def other_origin() -> Iterator[str]:
    """A second origin serving an ordinary page (and a CSP-strict copy at /strict)."""
    handler = type("Handler", (_Quiet,), {"csp": "script-src 'self' 'unsafe-inline'"})
    server = ThreadingHTTPServer(
        ("127.0.0.1", free_port()), partial(handler, directory=str(Path(__file__).parent / "pages"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def account(stack: RunningStack) -> dict[str, Any]:
    """A confirmed account and its tokens."""
    http = requests.Session()
    email, headers = sign_up_and_in(stack.api, http)
    tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
    return {"email": email, "headers": headers, "tokens": tokens, "http": http}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    console: list[str] = []
    opened.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    opened.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # What the browser showed and said when the test failed, for the report.
        try:
            artifact(opened, f"failed-{request.node.name}")
        finally:
            print(f"page at failure: {opened.url}", *console[-50:], sep="\n")
    context.close()
