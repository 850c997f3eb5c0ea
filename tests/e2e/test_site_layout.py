"""The recordings and keys pages on a phone-sized screen (390 px) and a laptop (1280 px)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.browser import artifact, signed_in
from tests.support.local_stack import RunningStack

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
LAPTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture(params=["phone", "laptop"])
def screen(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page]]:
    """A page in a browser context the size of the named screen."""
    context = browser.new_context(**(PHONE if request.param == "phone" else LAPTOP))
    yield request.param, context.new_page()
    context.close()


def no_sideways_scroll(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url}: {scroll_width} px wide in a {width} px window"


def inside(page: Page, selector: str, width: int, within: str = "body") -> None:
    """Every element matching ``selector`` is visible and inside ``within``'s content box."""
    left, right = page.locator(within).evaluate(
        """element => {
            const box = element.getBoundingClientRect(), style = getComputedStyle(element);
            return [box.left + parseFloat(style.paddingLeft), box.right - parseFloat(style.paddingRight)];
        }"""
    )
    assert right <= width
    elements = page.locator(selector)
    assert elements.count(), selector
    for index in range(elements.count()):
        element = elements.nth(index)
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box is not None
        assert box["x"] >= left - 0.5, (selector, index, box, left)
        assert box["x"] + box["width"] <= right + 0.5, (selector, index, box, right)


def left(element: Locator) -> float:
    """Where a visible element's box starts, in the page."""
    box = element.bounding_box()
    assert box is not None
    return box["x"]


def some_recordings(stack: RunningStack, account: dict[str, Any], count: int) -> None:
    for index in range(count):
        now = int(time.time() * 1000)
        body = {
            "id": f"layout-{uuid.uuid4().hex[:10]}",
            "url": f"https://www.a-rather-long-domain-name.example/a/long/path/that/goes/on/{index}?utm=phone",
            "title": f"A page whose title is long enough to wrap on a phone screen, number {index}",
            "seq": 0,
            "events": [{"type": 4, "timestamp": now, "data": {"href": "https://example.com", "width": 1, "height": 1}}],
        }
        created = account["http"].post(f"{stack.api}/recordings", json=body, headers=account["headers"], timeout=30)
        assert created.status_code == 201, created.text


def test_sign_in_form_fits(screen: tuple[str, Page], stack: RunningStack) -> None:
    name, page = screen
    assert page.viewport_size is not None  # the screen fixture's context sets one
    width = page.viewport_size["width"]
    page.goto(f"{stack.site}/index.html")
    expect(page.locator("#auth")).to_be_visible()
    no_sideways_scroll(page, width)
    inside(page, "header nav a", width)
    inside(page, "#email, #password, #sign-in, #sign-up", width, within="main")
    if name == "phone":
        page.tap("#email")
    else:
        page.click("#email")
    page.keyboard.type("someone@example.com")
    expect(page.locator("#email")).to_have_value("someone@example.com")
    artifact(page, f"sign-in-{name}")


def test_recordings_are_one_column_on_a_phone(
    screen: tuple[str, Page], stack: RunningStack, account: dict[str, Any]
) -> None:
    name, page = screen
    assert page.viewport_size is not None  # the screen fixture's context sets one
    width = page.viewport_size["width"]
    some_recordings(stack, account, 4)
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/index.html")
    cards = page.locator(".recording")
    expect(cards).to_have_count(4)
    page.click("#more-filters summary")
    expect(page.locator("#filter-from")).to_be_visible()
    no_sideways_scroll(page, width)
    inside(page, "header nav a, #sign-out", width)
    fields = "#filter-q, #filters button[type=submit], #filter-from, #filter-to, #filter-min, #filter-max, #filter-user"
    inside(page, fields, width, within="main")
    inside(page, ".recording", width, within="main")
    lefts = {round(left(cards.nth(i))) for i in range(4)}
    if name == "phone":
        assert len(lefts) == 1, lefts
    else:
        assert len(lefts) >= 3, lefts
    # The open card menu stays on screen too.
    cards.first.locator(".card-menu summary").click()
    inside(page, ".recording:first-child button.delete", width)
    no_sideways_scroll(page, width)
    artifact(page, f"recordings-{name}")


def test_keys_page_fits(screen: tuple[str, Page], stack: RunningStack, account: dict[str, Any]) -> None:
    name, page = screen
    assert page.viewport_size is not None  # the screen fixture's context sets one
    width = page.viewport_size["width"]
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")
    page.fill("#key-name", "a key with a name")
    page.click("#create-key button")
    expect(page.locator("#new-key-value")).to_be_visible()
    expect(page.locator("#keys li")).to_have_count(1)
    no_sideways_scroll(page, width)
    inside(page, "header nav a", width)
    inside(page, "#key-name, #create-key button, #copy-snippet, .snippet pre, #keys li", width, within="main")
    artifact(page, f"keys-{name}")
