"""Prod's windows in the browser: a recording nobody watches is stored 90 s at a time.

The local stack runs `--stack prod` here: the unwatched consumer gathers 90 s of batches
(docs/architecture.md, "Two consumers"). A demo stopped and replayed at once has none of
its events in storage yet; the replay page says the last events are still arriving and
reads on until the API's ``settlesAt``, then plays all of it. Opening a recording in
progress that nobody watched shows it within seconds: its recorder hears it is watched and
sends a full snapshot the watched way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import signed_in, stopped_demo
from tests.support.local_stack import RunningStack, start_stack

pytestmark = pytest.mark.long(seconds=110)


@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("prod-windows") / "data", "--stack", "prod")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def prod_account(prod_stack: RunningStack) -> dict[str, Any]:
    http = requests.Session()
    email, headers = sign_up_and_in(prod_stack.api, http)
    tokens = http.post(f"{prod_stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
    return {"email": email, "headers": headers, "tokens": tokens, "http": http}


def test_a_demo_replayed_as_soon_as_it_stops_waits_for_its_window_then_plays_whole(
    page: Page, prod_stack: RunningStack, prod_account: dict[str, Any]
) -> None:
    stopped_demo(page, prod_stack, prod_account)
    recording_id = page.evaluate("window.__recorder.id")
    described = prod_account["http"].get(
        f"{prod_stack.api}/recordings/{recording_id}", headers=prod_account["headers"], timeout=30
    )
    settles = described.json()["settlesAt"] - described.json()["endedAt"]
    assert settles >= 90_000, described.json()
    # The list says it is not all stored yet.
    page.goto(f"{prod_stack.site}/index.html")
    card = page.locator(f"#recordings > article[data-id='{recording_id}']")
    expect(card.locator(".badge.arriving")).to_have_text("Storing", timeout=30_000)
    expect(card.locator(".badge.live")).to_have_count(0)
    page.goto(f"{prod_stack.site}/replay.html?id={recording_id}")
    # Nothing is stored yet: the page says what it waits for instead of "nothing to replay",
    # and goes on saying it while it waits.
    expect(page.locator("#progress-label")).to_contain_text("still arriving", timeout=30_000)
    page.wait_for_timeout(3_000)
    expect(page.locator("#progress-label")).to_contain_text("still arriving")
    expect(page.locator("#moment-list")).to_contain_text("Recording ended", timeout=120_000)
    expect(page.locator("#moment-list")).to_contain_text("Click")
    expect(page.locator(".rr-controller")).to_be_visible()
    expect(page.locator("#live")).to_be_hidden()


def test_a_recording_nobody_watched_shows_its_latest_click_soon_after_it_is_opened(
    browser: Browser, prod_stack: RunningStack, prod_account: dict[str, Any]
) -> None:
    recorder = browser.new_context(viewport={"width": 1280, "height": 800})
    watcher = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = recorder.new_page()
        signed_in(page, prod_stack, prod_account)
        page.goto(f"{prod_stack.site}/demo.html")
        expect(page.locator("#status")).to_contain_text("Recording", timeout=20_000)
        page.wait_for_timeout(12_000)  # two unwatched flushes, both still in the 90 s window
        page.click("#like")
        page.click("#like")
        likes = page.locator("#likes").inner_text()
        recording_id = page.evaluate("window.__recorder.id")
        viewer = watcher.new_page()
        signed_in(viewer, prod_stack, prod_account)
        viewer.goto(f"{prod_stack.site}/replay.html?id={recording_id}")
        # Within the recorder's next flush (10 s) and the watched consumer's second.
        shown = viewer.frame_locator(".replayer-wrapper iframe").locator("#likes")
        expect(shown).to_have_text(likes, timeout=20_000)
        expect(viewer.locator("#live-state")).to_have_text("LIVE")
        assert page.evaluate("window.__recorder.live") is True
        # Stopped: the watcher is told why, and when all of it, from before they watched, is stored.
        page.click("#stop")
        expect(viewer.locator("#live-state")).to_have_text("ENDED", timeout=30_000)
        expect(viewer.locator("#live-detail")).to_contain_text("the recorder stopped it")
        expect(viewer.locator("#live-detail")).to_contain_text("from before you watched too")
    finally:
        watcher.close()
        recorder.close()
