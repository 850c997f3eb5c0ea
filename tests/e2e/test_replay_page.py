"""The replay page in Chromium: fitting the window, keys, the moments timeline, links to a moment, and errors."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

CART = "https://shop.example/cart"
CHECKOUT = "https://shop.example/checkout"
ERROR = "TypeError: cart is undefined"
TOLERANCE_MS = 400


def shop_page(heading: str, at: int, title: str | None = None) -> dict[str, Any]:
    """A full snapshot of a small page: a heading, a Buy button (node 10), a counter (text node 13).

    Also an icon button (node 14, named by its aria-label) whose icon's path is node 16,
    and the page's <title> when one is given.
    """

    def element(node_id: int, tag: str, children: list[dict[str, Any]], **attributes: str) -> dict[str, Any]:
        return {"type": 2, "tagName": tag, "attributes": attributes, "childNodes": children, "id": node_id}

    def text(node_id: int, content: str) -> dict[str, Any]:
        return {"type": 3, "textContent": content, "id": node_id}

    style = element(5, "style", [text(6, "body { font: 16px sans-serif; margin: 40px }") | {"isStyle": True}])
    body = element(
        7,
        "body",
        [
            element(8, "h1", [text(9, heading)], id="heading"),
            element(10, "button", [text(11, "Buy")], id="buy"),
            element(12, "p", [text(13, "0")], id="count"),
            element(14, "button", [element(15, "svg", [element(16, "path", [], d="M0 0h8v8H0z")])], id="fav")
            | {"attributes": {"id": "fav", "aria-label": "Save for later"}},
        ],
    )
    head = [style, *([element(17, "title", [text(18, title)])] if title else [])]
    html = element(3, "html", [element(4, "head", head), body])
    doctype = {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": 2}
    return {
        "type": 2,
        "data": {"node": {"type": 0, "childNodes": [doctype, html], "id": 1}, "initialOffset": {"left": 0, "top": 0}},
        "timestamp": at,
    }


def shop_visit(start: int) -> list[dict[str, Any]]:
    """A minute on two pages: the cart (a click at 5 s, a console error at 20 s), then the checkout.

    The checkout opens at 30 s (a click at 45 s). The pointer moves every second, so
    nothing is skipped as inactive.
    """

    def meta(href: str, at: int) -> dict[str, Any]:
        return {"type": 4, "data": {"href": href, "width": 1280, "height": 800}, "timestamp": at}

    def click(at: int) -> dict[str, Any]:
        return {"type": 3, "data": {"source": 2, "type": 2, "id": 10, "x": 60, "y": 120}, "timestamp": at}

    events = [meta(CART, start), shop_page("Cart", start + 1)]
    events += [
        {
            "type": 3,
            "data": {"source": 1, "positions": [{"x": 100 + second, "y": 200, "id": 7, "timeOffset": 0}]},
            "timestamp": start + second * 1000,
        }
        for second in range(1, 61)
    ]
    events += [
        click(start + 5000),
        {
            "type": 3,
            "data": {"source": 0, "texts": [{"id": 13, "value": "1"}], "attributes": [], "removes": [], "adds": []},
            "timestamp": start + 5010,
        },
        {
            "type": 6,
            "data": {
                "plugin": "rrweb/console@1",
                "payload": {"level": "log", "payload": ['"cart loaded"', '{"items":2}'], "trace": []},
            },
            "timestamp": start + 8000,
        },
        {
            "type": 6,
            "data": {
                "plugin": "rrweb/console@1",
                "payload": {"level": "warn", "payload": ['"<img src=x onerror=alert(1)> slow coupon"'], "trace": []},
            },
            "timestamp": start + 12000,
        },
        {
            "type": 6,
            "data": {
                "plugin": "rrweb/console@1",
                "payload": {"level": "error", "payload": [f'"{ERROR}"'], "trace": ["at checkout (cart.js:12:5)"]},
            },
            "timestamp": start + 20000,
        },
        meta(CHECKOUT, start + 30000),
        shop_page("Payment", start + 30001, title="Payment · Shop"),
        # Nothing answers this click: a dead click.
        click(start + 45000),
        # Three clicks on the icon within a second, then the page answers: a rage burst.
        *(
            {"type": 3, "data": {"source": 2, "type": 2, "id": 16, "x": 200, "y": 300}, "timestamp": start + at}
            for at in (50000, 50300, 50600)
        ),
        {
            "type": 3,
            "data": {"source": 0, "texts": [{"id": 13, "value": "2"}], "attributes": [], "removes": [], "adds": []},
            "timestamp": start + 50700,
        },
    ]
    return sorted(events, key=lambda event: event["timestamp"])


def post_recording(stack: RunningStack, account: dict[str, Any], events: list[dict[str, Any]], **fields: Any) -> str:
    """A recording of ``events`` posted through the API in batches of 1000; returns its id once all are readable."""
    http, headers = account["http"], account["headers"]
    created = http.post(
        f"{stack.api}/recordings",
        json={"url": CART, "title": "Shop visit", **fields, "seq": 0, "events": events[:1000]},
        headers=headers,
        timeout=60,
    )
    assert created.status_code == 201, created.text
    recording_id = created.json()["recording"]["id"]
    for seq, at in enumerate(range(1000, len(events), 1000), start=1):
        answer = http.post(
            f"{stack.api}/recordings/{recording_id}/events",
            json={"seq": seq, "events": events[at : at + 1000]},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
    described = f"{stack.api}/recordings/{recording_id}"

    def all_stored() -> None:
        assert http.get(described, headers=headers, timeout=30).json()["eventCount"] >= len(events), (
            "the events were never all stored"
        )

    eventually(all_stored, 120)
    return recording_id


def as_finished(page: Page, stack: RunningStack, recording_id: str) -> None:
    """The recording as its owner sees it a minute after its last batch: no longer live.

    A recording posted moments ago is live (the page would follow it); these tests are
    about replaying one that has ended, which the API says a minute later.
    """

    def finished(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "live": False})

    page.route(lambda url: url == f"{stack.api}/recordings/{recording_id}", finished)


def open_replay(page: Page, stack: RunningStack, recording_id: str, query: str = "") -> None:
    """Open the replay page and wait until every event is in the player."""
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}{query}")
    page.wait_for_function("window.__replayEvents > 0", timeout=60_000)


def now_ms(page: Page) -> float:
    """Where the player is, in ms from the recording's start."""
    return page.evaluate("window.__player.getReplayer().getCurrentTime()")


def state(page: Page) -> str:
    """The replayer's state: playing or paused."""
    return page.evaluate("window.__player.getReplayer().service.state.value")


def wait_near(page: Page, ms: float) -> None:
    """Wait until the player is within TOLERANCE_MS of ``ms``."""
    page.wait_for_function(
        f"Math.abs(window.__player.getReplayer().getCurrentTime() - {ms}) < {TOLERANCE_MS}", timeout=10_000
    )


@pytest.fixture(scope="module")
def visit(stack: RunningStack) -> dict[str, Any]:
    """One account and its recorded shop visit, shared by this module's tests."""
    http = requests.Session()
    email, headers = sign_up_and_in(stack.api, http)
    tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
    account = {"email": email, "headers": headers, "tokens": tokens, "http": http}
    start = int(time.time() * 1000) - 120_000
    return {"account": account, "id": post_recording(stack, account, shop_visit(start))}


def test_the_player_and_its_controls_fit_the_window_at_the_recordings_aspect_ratio(
    page: Page, stack: RunningStack, visit: dict[str, Any]
) -> None:
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, visit["id"])
    assert page.locator('head link[rel="icon"]').get_attribute("href") == "favicon.svg"
    frame = page.locator(".rr-player__frame")
    for width, height in ((1280, 800), (1024, 640), (1440, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function(
            """([w, h]) => {
                const box = document.querySelector(".rr-player__frame").getBoundingClientRect();
                return Math.abs(box.width / box.height - 1.6) < 0.02 && box.width > w * 0.6;
            }""",
            arg=[width, height],
        )
        controls = page.locator(".rr-controller").bounding_box()
        assert controls is not None
        assert controls["y"] + controls["height"] <= height, (width, height, controls)
        assert page.evaluate("document.documentElement.scrollHeight") <= height
        box = frame.bounding_box()
        # The recording fills the frame, scaled: nothing cut off, nothing left over.
        wrapper = page.locator(".replayer-wrapper").bounding_box()
        assert box is not None
        assert wrapper is not None
        assert abs(wrapper["width"] - box["width"]) <= 2
        assert abs(wrapper["height"] - box["height"]) <= 2
        # The moments list sits beside it, within the window too.
        moments = page.locator("#moments").bounding_box()
        assert moments is not None
        assert moments["x"] >= box["x"] + box["width"]
        assert moments["x"] + moments["width"] <= width


def test_on_a_phone_the_moments_list_below_the_player_shows_ten_rows_or_more(
    browser: Browser, stack: RunningStack, visit: dict[str, Any]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        signed_in(page, stack, visit["account"])
        open_replay(page, stack, visit["id"])
        expect(page.locator("#moment-list li").first).to_be_visible()
        player = page.locator(".rr-player").bounding_box()
        panel = page.locator("#moments").bounding_box()
        assert player is not None
        assert panel is not None
        assert panel["y"] >= player["y"] + player["height"]  # below it, the page scrolls
        # A moment row is 26 px: the list keeps room for ten beside the tabs and comments (it
        # had three and a half when the panel was 320 px high).
        assert page.locator("#moment-list").evaluate("list => list.clientHeight") >= 10 * 26
        # No keyboard on a touch screen: the shortcuts' line is not shown.
        expect(page.locator(".replay-keys")).to_be_hidden()
    finally:
        context.close()


def test_space_plays_and_pauses_and_arrows_seek_unless_typing_in_a_field(
    page: Page, stack: RunningStack, visit: dict[str, Any]
) -> None:
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, visit["id"], "&t=10")
    wait_near(page, 10_000)
    assert state(page) == "paused"
    page.keyboard.press("Space")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'playing'")
    page.keyboard.press("Space")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'paused'")
    paused_at = now_ms(page)
    page.keyboard.press("ArrowRight")
    wait_near(page, paused_at + 5000)
    page.keyboard.press("Shift+ArrowRight")
    wait_near(page, paused_at + 35_000)
    page.keyboard.press("ArrowLeft")
    wait_near(page, paused_at + 30_000)
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    wait_near(page, 0)
    assert state(page) == "paused"

    # With the player's own play button focused, Space still toggles once, not twice.
    page.click(".rr-controller__btns button >> nth=0")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'playing'")
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert state(page) == "paused"
    page.evaluate("window.__player.goto(0, false)")

    # Typing in a form field types: the player keeps still.
    page.evaluate(
        "document.querySelector('.replay-head').append(Object.assign(document.createElement('input'), {id: 'typing'}))"
    )
    page.focus("#typing")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    assert state(page) == "paused"
    assert now_ms(page) < TOLERANCE_MS
    assert page.input_value("#typing") == " "

    # Focus inside the replayed page (an element of the recording, or a click on the
    # frame) does not take the keys away: it comes back to the page, and Space plays.
    page.evaluate("document.querySelector('#typing').remove()")
    page.evaluate(
        "(() => { const frame = document.querySelector('.replayer-wrapper iframe');"
        " frame.focus(); frame.contentDocument.body.tabIndex = 0; frame.contentDocument.body.focus(); })()"
    )
    page.wait_for_function("document.activeElement.tagName !== 'IFRAME'")
    page.keyboard.press("Space")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'playing'")
    page.keyboard.press("Space")
    page.wait_for_function("window.__player.getReplayer().service.state.value === 'paused'")


def test_the_timeline_marks_page_views_clicks_and_console_errors_and_seeks_to_them(
    page: Page, stack: RunningStack, visit: dict[str, Any]
) -> None:
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, visit["id"])
    bar = page.locator(".rr-progress")
    pages, clicks, errors = (bar.locator(f".replay-mark.{kind}") for kind in ("page", "click", "error"))
    expect(pages).to_have_count(1)  # the first page is the start, not a page view
    expect(clicks).to_have_count(4)
    expect(errors).to_have_count(1)
    expect(bar.locator(".replay-mark.dead")).to_have_count(1)
    expect(bar.locator(".replay-mark.rage")).to_have_count(1)
    expect(pages).to_have_attribute("title", f"Page view: Payment · Shop — {CHECKOUT} · 0:30")
    expect(errors).to_have_attribute("title", f"Console error: {ERROR} · 0:20")
    expect(clicks.first).to_have_attribute("title", 'Click on button#buy "Buy" · 0:05')
    # Each mark sits where its moment is on the bar: the page view half way along.
    track, mark = bar.bounding_box(), pages.bounding_box()
    assert track is not None
    assert mark is not None
    assert abs((mark["x"] + mark["width"] / 2 - track["x"]) / track["width"] - 0.5) < 0.02

    errors.click()
    wait_near(page, 20_000)
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#heading")).to_have_text("Cart")
    expect(frame.locator("#count")).to_have_text("1")

    # The list names them, and seeks too.
    listed = page.locator("#moment-list .moment")
    expect(listed).to_have_text(
        [
            '0:05Click on button#buy "Buy"',
            f"0:20{ERROR}",
            "0:30Payment · Shop",
            '0:45Dead click on button#buy "Buy"',
            # The icon's path is what the pointer hit; the button it belongs to is named.
            *['0:50Click on button#fav "Save for later"'] * 3,
            '0:50Rage clicks on button#fav "Save for later"',
        ]
    )
    page.locator("#moment-list .moment.page button").click()
    wait_near(page, 30_000)
    expect(frame.locator("#heading")).to_have_text("Payment")
    expect(page.locator("#moment-summary")).to_have_text(
        "1 page view · 4 clicks · 1 error · 1 rage click · 1 dead click"
    )


def test_t_opens_a_moment_and_copy_link_makes_a_link_to_the_moment_shown(
    page: Page, browser: Browser, stack: RunningStack, visit: dict[str, Any]
) -> None:
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, visit["id"], "&t=0:45")
    wait_near(page, 45_000)
    assert state(page) == "paused"
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#heading")).to_have_text("Payment")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.site)
    page.evaluate("window.__player.goto(21500, false)")
    wait_near(page, 21_500)
    page.click("#copy-moment")
    expect(page.locator("#copy-moment")).to_have_text("Link copied")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == f"{stack.site}/replay.html?id={visit['id']}&t=21"

    open_replay(page, stack, visit["id"], "&t=21")
    wait_near(page, 21_000)
    expect(frame.locator("#heading")).to_have_text("Cart")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("", "No recording selected: pick one from your recordings."),
        ("?id=NoSuchRecording0000000", "No such recording (it may have been deleted): pick one from your recordings."),
    ],
    ids=["no-id", "unknown-id"],
)
def test_the_page_without_a_recording_says_so_and_links_to_the_recordings(
    page: Page, stack: RunningStack, visit: dict[str, Any], query: str, says: str
) -> None:
    signed_in(page, stack, visit["account"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.site}/replay.html{query}")
    message = page.locator("#message")
    expect(message).to_have_text(says)
    expect(message.get_by_role("link", name="your recordings")).to_have_attribute("href", "index.html")
    expect(page.locator("#loading")).to_be_hidden()
    assert page.locator(".rr-player").count() == 0
    assert errors == []


def test_an_unreachable_api_is_said_in_words(page: Page, stack: RunningStack, visit: dict[str, Any]) -> None:
    signed_in(page, stack, visit["account"])
    page.route(f"{stack.api}/**", lambda route: route.abort("connectionrefused"))
    page.goto(f"{stack.site}/replay.html?id={visit['id']}")
    message = page.locator("#message")
    expect(message).to_have_text(f"The API ({stack.api}) is unreachable: check the connection, then try again")
    expect(message.get_by_role("button", name="try again")).to_be_visible()
    expect(page.locator("#loading")).to_be_hidden()


def test_the_console_panel_lists_every_level_filters_follows_the_playback_and_seeks(
    page: Page, stack: RunningStack, visit: dict[str, Any]
) -> None:
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, visit["id"])
    page.click("#tab-console")
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#moments-view")).to_be_hidden()
    rows = page.locator("#console-list li")
    expect(rows).to_have_count(3)
    expect(page.locator("#console-count")).to_have_text("3")
    expect(rows.nth(0)).to_contain_text('cart loaded {"items":2}')
    # Page text is text here: markup in a console message is shown, never run.
    expect(rows.nth(1)).to_contain_text("<img src=x onerror=alert(1)> slow coupon")
    expect(page.locator("#console-list img")).to_have_count(0)
    expect(rows.nth(2).locator("summary")).to_have_text("Stack trace")
    rows.nth(2).locator("summary").click()
    expect(rows.nth(2).locator("pre")).to_have_text("at checkout (cart.js:12:5)")

    # Filters: by level, and by text.
    page.click("#console-filters [data-kind=error]")
    expect(page.locator("#console-list li:visible")).to_have_count(2)
    page.fill("#console-search", "COUPON")
    expect(page.locator("#console-list li:visible")).to_have_count(1)
    page.click("#console-filters [data-kind=warn]")
    expect(page.locator("#console-empty")).to_have_text("No console record matches the filters.")
    page.click("#console-filters [data-kind=warn]")
    page.click("#console-filters [data-kind=error]")
    page.fill("#console-search", "")
    expect(page.locator("#console-list li:visible")).to_have_count(3)

    # A row seeks to its moment; the rows up to the moment shown are marked, the newest current.
    rows.nth(1).locator("button").click()
    wait_near(page, 12_000)
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(rows.nth(2)).not_to_have_class(re.compile(r"\bpast\b"))
    page.evaluate("window.__player.goto(25000, false)")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bcurrent\b"))


def test_a_moment_link_opens_with_the_window_the_visitor_had_then(
    page: Page, stack: RunningStack, visit: dict[str, Any]
) -> None:
    start = int(time.time() * 1000) - 120_000
    events = shop_visit(start)
    # The visitor narrowed the window to a phone's at 0:29 (rrweb's ViewportResize).
    events.append({"type": 3, "data": {"source": 4, "width": 390, "height": 844}, "timestamp": start + 29_000})
    events.sort(key=lambda event: event["timestamp"])
    recording_id = post_recording(stack, visit["account"], events)
    signed_in(page, stack, visit["account"])
    open_replay(page, stack, recording_id, "&t=0:25")
    wait_near(page, 25_000)
    frame = page.locator(".replayer-wrapper iframe")
    assert (frame.get_attribute("width"), frame.get_attribute("height")) == ("1280", "800")
    open_replay(page, stack, recording_id, "&t=0:29.5")
    wait_near(page, 29_500)
    page.wait_for_function(
        "document.querySelector('.replayer-wrapper iframe').getAttribute('width') === '390'", timeout=10_000
    )
    assert frame.get_attribute("height") == "844"
    # The recording keeps the phone's shape, fitted to the window and centred in a frame
    # wide enough for the controller's bar and buttons.
    shown = frame.bounding_box()
    box = page.locator(".rr-player__frame").bounding_box()
    controller = page.locator(".rr-controller").bounding_box()
    assert shown is not None
    assert box is not None
    assert controller is not None
    assert abs(shown["width"] / shown["height"] - 390 / 844) < 0.05, shown
    assert controller["width"] >= 560, controller
    assert abs((shown["x"] - box["x"]) - (box["x"] + box["width"] - shown["x"] - shown["width"])) < 4, (shown, box)
    assert shown["height"] <= box["height"] + 1, (shown, box)
