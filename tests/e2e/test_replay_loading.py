"""A long recording in Chromium: its first frame shows with its first page of events, the rest joins as it loads."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.e2e.test_replay_page import CART, as_finished, post_recording, shop_page
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

MINUTES = 10


def long_visit(start: int, events: int) -> list[dict[str, Any]]:
    """``events`` events over ten minutes on the cart page: pointer moves, then a click in the last second.

    Each move carries eight positions (as rrweb batches them): about 500 bytes an event.
    """
    gap = MINUTES * 60_000 // events
    out = [
        {"type": 4, "data": {"href": CART, "width": 1280, "height": 800}, "timestamp": start},
        shop_page("Cart", start + 1),
    ]
    for i in range(events - 3):
        positions = [{"x": (i * 7 + k) % 1280, "y": (i + k) % 800, "id": 7, "timeOffset": -k * 20} for k in range(8)]
        out.append({"type": 3, "data": {"source": 1, "positions": positions}, "timestamp": start + 2 + i * gap})
    out.append(
        {
            "type": 3,
            "data": {"source": 2, "type": 2, "id": 10, "x": 60, "y": 120},
            "timestamp": start + MINUTES * 60_000,
        }
    )
    return out


class Held:
    """A route handler that holds the requests it is given until released, then lets them all through."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.holding = True

    def __call__(self, route: Route) -> None:
        if self.holding:
            self.routes.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        """Let the held requests and every later one through."""
        self.holding = False
        for route in self.routes:
            route.continue_()


def loads_in_parts(page: Page, stack: RunningStack, recording_id: str, total: int, held: Held) -> None:
    """Open the replay while later parts are held: it plays its first part, then takes the rest once let through."""
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#heading")).to_have_text("Cart", timeout=30_000)  # the first frame

    def asked_for_later_part() -> None:
        assert held.routes, "no later part was asked for"

    # Waiting through the page lets its requests reach the route handler.
    eventually(asked_for_later_part, interval=0.1, sleep=lambda seconds: page.wait_for_timeout(seconds * 1000))
    loading = page.locator("#loading")
    expect(loading).to_be_visible()
    expect(page.locator("#progress-label")).to_have_text(re.compile(r"^Loading \d{1,2}%$"))
    loaded = page.evaluate("window.__player.getMetaData().totalTime")
    assert loaded < MINUTES * 60_000 * 0.8
    assert page.evaluate("window.__replayEvents") is None
    # Loading never stands in the way of playing.
    page.keyboard.press("Space")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'playing'")

    held.release()
    page.wait_for_function(f"window.__replayEvents === {total}", timeout=60_000)
    expect(loading).to_be_hidden()
    assert page.evaluate("window.__player.getMetaData().totalTime") == MINUTES * 60_000
    assert page.evaluate("window.__player.getReplayer().service.state.value") == "playing"
    # The timeline grew with it: the last second's click is on it.
    expect(page.locator(".rr-progress .replay-mark.click")).to_have_attribute("title", re.compile(r"· 10:00$"))
    assert page.locator("#moment-list .moment").count() == 1


def test_a_long_recording_plays_from_its_first_page_while_the_rest_loads(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    # About 30 MB: more than two of the API's largest pages.
    events = long_visit(int(time.time() * 1000) - 20 * 60_000, 60_000)
    recording_id = post_recording(stack, account, events)
    held = Held()
    # The first page (no cursor) goes through; every later one waits.
    page.route(lambda url: f"/recordings/{recording_id}/events?" in url and "after=" in url, held)
    signed_in(page, stack, account)
    loads_in_parts(page, stack, recording_id, len(events), held)
