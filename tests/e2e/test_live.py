"""Live replay in Chromium: the recorder's request budget, watched and not, and following a recording."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from chalicelib import settings
from tests.e2e.test_browser import start_demo
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack

# The recorder's default flush interval, and the one it keeps while watched live.
FLUSH_S = 10
LIVE_FLUSH_S = settings.LIVE_FLUSH_MS / 1000
# Timers and compression jitter by a few milliseconds; gaps are measured from when the
# browser issued each request.
SLACK_S = 0.3


def ingest_requests(page: Page, questions: list[float] | None = None) -> list[float]:
    """When (monotonic seconds) the page sends each batch, from now on; its asset questions go to ``questions``."""
    sent: list[float] = []

    def on_request(request: Any) -> None:
        if request.method != "POST" or "ingestKey=" not in request.url:
            return
        if "/assets/missing" in request.url:
            if questions is not None:
                questions.append(time.monotonic())
            return
        sent.append(time.monotonic())

    page.on("request", on_request)
    return sent


def gaps(times: list[float]) -> list[float]:
    """Seconds between consecutive requests."""
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def keep_busy(page: Page, seconds: float, *, until: str | None = None) -> None:
    """Pointer movement and typing, without touching the like counter; stops early once ``until`` is true."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        page.mouse.move(200 + (i * 67) % 700, 200 + (i * 41) % 400, steps=4)
        if i % 5 == 0:
            page.type("#search", "abcdefghij"[i % 10], delay=10)
        page.wait_for_timeout(250)
        i += 1
        if until and page.evaluate(until):
            return


@pytest.fixture
def watcher(browser: Browser) -> Iterator[Page]:
    """A second browser context: the owner watching on another screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_unwatched_recorder_sends_at_most_six_requests_per_recorded_minute(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    questions: list[float] = []
    sent = ingest_requests(page, questions)
    opened = time.monotonic()
    start_demo(page, stack, account)
    keep_busy(page, 3 * FLUSH_S + 2)
    recorded = time.monotonic() - opened
    # The page's question about its assets rides on its first batch: no request of its own.
    assert questions == [], questions
    # Continuous activity: the new recording's first batch (its snapshot) leaves 1 s after
    # the first event, so it is listed at once; then a batch is due every 10 s, each 10 s
    # after the event that followed the previous flush.
    assert len(sent) >= 4, sent
    assert sent[0] - opened < FLUSH_S - SLACK_S
    assert min(gaps(sent)) >= FLUSH_S - SLACK_S, gaps(sent)
    assert (len(sent) - 1) / (opened + recorded - sent[0]) * 60 <= 6
    assert page.evaluate("window.__recorder.live") is False


def test_a_watched_recording_plays_live_on_the_owner_screen(
    page: Page, watcher: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    sent = ingest_requests(page)
    recording_id = start_demo(page, stack, account)
    # Create it now: a recording is live once it took a batch.
    with page.expect_response(lambda r: "ingestKey=" in r.url and r.request.method == "POST", timeout=20_000):
        page.evaluate("window.__recorder.flush()")

    signed_in(watcher, stack, account)
    watcher.goto(f"{stack.site}/replay.html?id={recording_id}")
    expect(watcher.locator("#live-state")).to_have_text("LIVE", timeout=30_000)
    watcher.wait_for_function("window.__player", timeout=30_000)
    watcher.evaluate(
        """() => {
            window.__clicks = 0;
            window.__player.getReplayer().on("event-cast", (e) => {
                if (e.type === 3 && e.data.source === 2 && e.data.type === 2) window.__clicks += 1;
            });
        }"""
    )

    # The recorder learns it is watched from the answer to its next batch (at most one
    # 10 s flush away), and then sends every second.
    keep_busy(page, FLUSH_S * 2 + 5, until="window.__recorder.live")
    assert page.evaluate("window.__recorder.live") is True
    watched_from = len(sent)
    keep_busy(page, 5 * LIVE_FLUSH_S + 1)
    watched = sent[watched_from:]
    assert len(watched) >= 4, watched
    assert max(gaps(watched)) <= LIVE_FLUSH_S + 1.5, gaps(watched)
    assert min(gaps(watched)) >= LIVE_FLUSH_S - SLACK_S, gaps(watched)

    # A click on the recorded page shows on the watcher's screen within seconds.
    frame = watcher.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#likes")).to_have_text("0")
    page.click("#like")
    expect(page.locator("#likes")).to_have_text("1")
    expect(frame.locator("#likes")).to_have_text("1", timeout=15_000)
    watcher.wait_for_function("window.__clicks >= 1", timeout=5_000)
    expect(watcher.locator("#live-state")).to_have_text("LIVE")
    expect(watcher.locator("#live-detail")).to_contain_text("last event")

    # Asked to replay from the start, the page stops following and gives the controls back.
    polls: list[str] = []
    watcher.on("request", lambda r: polls.append(r.url) if "watch=1" in r.url else None)
    watcher.click("#live-stop")
    expect(watcher.locator("#live-state")).to_have_text("NOT FOLLOWING")
    expect(watcher.locator(".rr-controller")).to_be_visible()
    polled = len(polls)
    watcher.wait_for_timeout(2500)
    assert len(polls) == polled


def test_following_stops_once_the_recording_goes_quiet(
    page: Page, watcher: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = start_demo(page, stack, account)
    page.click("#like")
    page.evaluate("window.__recorder.flush()")
    # The visitor leaves without stop() (which would end the recording at once): the
    # recording just goes quiet.
    page.goto("about:blank")

    polls: list[float] = []
    watcher.on(
        "request",
        lambda r: polls.append(time.monotonic()) if f"/recordings/{recording_id}/events" in r.url else None,
    )
    signed_in(watcher, stack, account)
    watcher.goto(f"{stack.site}/replay.html?id={recording_id}")
    # Its last batch is seconds old: live, so followed, until a minute passes without news.
    expect(watcher.locator("#live-state")).to_have_text("LIVE", timeout=30_000)
    watcher.wait_for_function("window.__player", timeout=30_000)
    assert watcher.evaluate("window.__player.getReplayer().service.state.value") == "live"
    expect(watcher.locator("#live-state")).to_have_text("ENDED", timeout=90_000)
    expect(watcher.locator("#live-again")).to_be_visible()
    # The player gets its controls back, showing where the recording ended.
    expect(watcher.locator(".rr-controller")).to_be_visible()
    assert len(polls) >= 30  # one a second while it was followed
    stopped = len(polls)
    watcher.wait_for_timeout(3000)
    assert len(polls) == stopped

    # Checked again, it is no longer live: replayed with controls, and never polled.
    watched: list[str] = []
    watcher.on("request", lambda r: watched.append(r.url) if "watch=1" in r.url else None)
    watcher.click("#live-again")
    watcher.wait_for_function("window.__replayEvents > 0", timeout=30_000)
    expect(watcher.locator(".rr-controller")).to_be_visible()
    assert watcher.locator("#live").is_hidden()
    loaded = len(polls)
    watcher.wait_for_timeout(3000)
    assert len(polls) == loaded
    assert watched == []
