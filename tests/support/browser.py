"""Debian's Chromium for Playwright, and what the browser tests do to a page: sign in, keep a screenshot."""

from __future__ import annotations

import base64
import gzip
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.local_stack import ROOT, RunningStack

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]


def with_tokens(page: Page, stack: RunningStack, tokens: dict[str, str]) -> None:
    """Put these tokens where the site keeps them, from a page that has done with its start.

    index.html's start awaits config.json: tokens planted before it decides who is signed in
    would be taken for its session, and a refused one would send it to sign in while the test
    navigates elsewhere (the test's navigation aborted).
    """
    page.goto(f"{stack.site}/index.html")
    expect(page.locator("#auth:visible, #recordings-section:visible")).to_have_count(1)
    page.evaluate("tokens => localStorage.setItem('rrweb.tokens', JSON.stringify(tokens))", tokens)


def signed_in(page: Page, stack: RunningStack, account: dict[str, Any]) -> None:
    """Put the account's tokens where the site keeps them."""
    with_tokens(page, stack, account["tokens"])


def stopped_demo(page: Page, stack: RunningStack, account: dict[str, Any]) -> None:
    """Sign in, record the demo page with a click on its button, and stop: "Saved"."""
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/demo.html")
    expect(page.locator("#status")).to_contain_text("Recording", timeout=20_000)
    page.click("#like")
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("Saved", timeout=20_000)


def artifact(page: Page, name: str) -> None:
    """Save a screenshot for the test report."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def add_recorder_script(page: Page, stack: RunningStack, key: str, **options: str) -> None:
    """Put the recorder script on the open page as a site would (its data attributes), and wait until it records.

    ``options`` are further data attributes, as camelCase names (``captureAssets="false"``).
    """
    page.evaluate(
        """([src, dataset]) => new Promise((resolve, reject) => {
            const script = Object.assign(document.createElement("script"), { src, onload: resolve, onerror: reject });
            Object.assign(script.dataset, dataset);
            document.head.append(script);
        })""",
        [f"{stack.site}/assets/recorder.js", {"ingestUrl": stack.ingest, "ingestKey": key, **options}],
    )
    page.wait_for_function("window.RrwebS3 && window.RrwebS3.recorder")


def recorder_body(body: bytes | None) -> bytes:
    """The JSON of a batch as the recorder sends it: base64 text of its gzip (recorder/transport.js armour)."""
    return gzip.decompress(base64.b64decode(body or b"", validate=True))
