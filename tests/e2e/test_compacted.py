"""Replaying a compacted recording in Chromium: blocks straight from the bucket, or /events when they fail.

A long one starts playing from its first block while the others load.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_browser import start_demo
from tests.e2e.test_replay_loading import Held, loads_in_parts, long_visit
from tests.e2e.test_replay_page import post_recording
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack, start_stack
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack that compacts a recording a second after its last batch."""
    running = start_stack(
        tmp_path_factory.mktemp("compacting") / "data", "--compact-idle-seconds", "1", "--compact-every-seconds", "1"
    )
    try:
        yield running
    finally:
        running.stop()


def compacted_recording(page: Page, stack: RunningStack, account: dict[str, Any]) -> tuple[str, int]:
    """Record the demo page (two likes, some typing), stop, and wait for compaction; returns id and events."""
    recording_id = start_demo(page, stack, account)
    page.click("#like")
    page.click("#like")
    page.type("#search", "from the blocks", delay=10)
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("Saved", timeout=20_000)
    emitted = page.evaluate("window.__recorder.stats.emitted")

    def compacted() -> None:
        described = (
            account["http"].get(f"{stack.api}/recordings/{recording_id}", headers=account["headers"], timeout=30).json()
        )
        assert described["compacted"], described
        assert described["eventCount"] == emitted, described

    eventually(compacted, 60)
    return recording_id, emitted


def replayed(page: Page, stack: RunningStack, recording_id: str, emitted: int) -> None:
    """Open the replay and check it holds every event and rebuilds the recorded DOM."""
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    page.wait_for_function("window.__replayEvents > 0", timeout=30_000)
    assert page.evaluate("window.__replayEvents") == emitted
    page.evaluate("(() => { const r = window.__player.getReplayer(); r.pause(r.getMetaData().totalTime); })()")
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#likes")).to_have_text("2")
    expect(frame.locator("#search")).to_have_value("from the blocks")


def test_a_compacted_recording_replays_from_its_blocks(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id, emitted = compacted_recording(page, stack, account)
    ranges: list[int] = []
    page.on(
        "response",
        lambda r: ranges.append(r.status) if r.url.startswith(stack.aws) and r.request.headers.get("range") else None,
    )
    events_reads: list[str] = []
    page.on(
        "request",
        lambda r: (
            events_reads.append(r.url) if r.url.startswith(f"{stack.api}/recordings/") and "/events" in r.url else None
        ),
    )
    signed_in(page, stack, account)
    replayed(page, stack, recording_id, emitted)
    assert ranges, "no block was fetched from the bucket"
    assert set(ranges) == {206}
    # Nothing was stored since the compaction: the blocks say they are complete, and the
    # replay reads no /events after them (nor, ever, from the start).
    assert events_reads == []


def test_replay_reads_events_through_the_api_when_the_blocks_fail(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id, emitted = compacted_recording(page, stack, account)
    refused: list[str] = []

    def refuse_blocks(route: Route) -> None:
        if route.request.headers.get("range"):
            refused.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route(f"{stack.aws}/**", refuse_blocks)
    signed_in(page, stack, account)
    replayed(page, stack, recording_id, emitted)
    assert refused, "the page never tried the blocks"


def test_a_long_compacted_recording_plays_from_its_first_block_while_the_others_load(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    events = long_visit(int(time.time() * 1000) - 20 * 60_000, 8000)
    recording_id = post_recording(stack, account, events)
    described = f"{stack.api}/recordings/{recording_id}"

    def compacted() -> None:
        assert account["http"].get(described, headers=account["headers"], timeout=30).json()["compacted"], (
            "never compacted"
        )

    eventually(compacted, 60)
    blocks = account["http"].get(f"{described}/blocks", headers=account["headers"], timeout=30).json()["blocks"]
    assert len(blocks) >= 3

    held = Held()

    def later_blocks(route: Route) -> None:
        if (route.request.headers.get("range") or "bytes=0-").startswith("bytes=0-"):
            route.continue_()
        else:
            held(route)

    page.route(f"{stack.aws}/**", later_blocks)
    signed_in(page, stack, account)
    loads_in_parts(page, stack, recording_id, len(events), held)
