"""The recordings list in Chromium: what a card shows, deleting, search and filters."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from playwright.sync_api import Page, Request, Route, expect

from tests.support.browser import artifact, signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def post(account: dict[str, Any], url: str, body: dict[str, Any], user_agent: str) -> dict[str, Any]:
    """An ingest request the way a recorder on a visitor's browser sends it."""
    headers = {**account["headers"], "User-Agent": user_agent, "Content-Type": "text/plain"}
    response = account["http"].post(url, data=json.dumps(body), headers=headers, timeout=30)
    assert response.status_code in (200, 201, 202), response.text
    return response.json() if response.content else {}


def console_error(at: int) -> dict[str, Any]:
    return {
        "type": 6,
        "timestamp": at,
        "data": {"plugin": "rrweb/console@1", "payload": {"level": "error", "payload": ['"boom"'], "trace": []}},
    }


def meta(url: str, at: int) -> dict[str, Any]:
    return {"type": 4, "timestamp": at, "data": {"href": url, "width": 390, "height": 844}}


def a_shopping_session(stack: RunningStack, account: dict[str, Any]) -> str:
    """Two pages on a phone, an identified user, one console error, 65 s long, no screenshot."""
    recording_id = f"shop-{uuid.uuid4().hex[:12]}"
    start = int(time.time() * 1000)
    first = {
        "id": recording_id,
        "url": "https://shop.example/cart",
        "title": "Your cart",
        "view": start,
        "referrer": "https://search.example/?q=shoes",
        "viewport": {"width": 390, "height": 844},
        "user": {"id": "user-42", "traits": {"plan": "team"}},
        "seq": 0,
        "events": [meta("https://shop.example/cart", start)],
    }
    post(account, f"{stack.api}/recordings", first, IPHONE)
    post(
        account,
        f"{stack.api}/recordings/{recording_id}/events",
        {"seq": 1, "events": [console_error(start + 1000)], "errors": 1},
        IPHONE,
    )
    second = {"id": recording_id, "url": "https://shop.example/checkout", "title": "Checkout", "view": start + 5000}
    post(account, f"{stack.api}/recordings", second, IPHONE)
    later = [meta("https://shop.example/checkout", start + 5000), {"type": 3, "timestamp": start + 65000, "data": {}}]
    post(account, f"{stack.api}/recordings/{recording_id}/events", {"seq": 2, "events": later}, IPHONE)
    return recording_id


def a_blog_visit(stack: RunningStack, account: dict[str, Any], page: Page) -> str:
    """One page on a desktop, short, with a screenshot."""
    recording_id = f"blog-{uuid.uuid4().hex[:12]}"
    start = int(time.time() * 1000)
    body = {"id": recording_id, "url": "https://blog.example/post", "title": "A post", "view": start, "seq": 0}
    body["events"] = [meta("https://blog.example/post", start), {"type": 3, "timestamp": start + 3000, "data": {}}]
    created = post(account, f"{stack.api}/recordings", body, DESKTOP)
    upload = created["screenshotUpload"]
    jpeg = base64.b64decode(
        page.evaluate(
            """() => {
                const canvas = Object.assign(document.createElement("canvas"), { width: 64, height: 40 });
                const context = canvas.getContext("2d");
                context.fillStyle = "#4488cc";
                context.fillRect(0, 0, 64, 40);
                return canvas.toDataURL("image/jpeg").split(",")[1];
            }"""
        )
    )
    uploaded = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("screenshot.jpg", jpeg, "image/jpeg")}, timeout=30
    )
    assert uploaded.ok, uploaded.text
    return recording_id


def listed(stack: RunningStack, account: dict[str, Any], **query: str) -> dict[str, dict[str, Any]]:
    response = account["http"].get(f"{stack.api}/recordings", params=query, headers=account["headers"], timeout=30)
    assert response.ok, response.text
    return {recording["id"]: recording for recording in response.json()["recordings"]}


def counted(stack: RunningStack, account: dict[str, Any], ready: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The list once the stream consumer has counted what was sent (``ready``: id -> check)."""

    def all_counted() -> dict[str, dict[str, Any]]:
        recordings = listed(stack, account)
        assert all(rid in recordings and check(recordings[rid]) for rid, check in ready.items()), {
            rid: recordings.get(rid) for rid in ready
        }
        return recordings

    return eventually(all_counted, 45)


def shop_counted(recording: dict[str, Any]) -> bool:
    return recording.get("errorCount") == 1 and recording["durationMs"] == 65000


def card(page: Page, recording_id: str) -> Any:
    return page.locator(f'.recording[data-id="{recording_id}"]')


def test_a_card_shows_pages_environment_user_errors_and_a_screenshot_only_when_there_is_one(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    shop = a_shopping_session(stack, account)
    blog = a_blog_visit(stack, account, page)
    # The screenshot is noted when the bucket's notification reaches the reaper, which
    # may come after the consumer counted the events.
    recordings = counted(
        stack, account, {shop: shop_counted, blog: lambda r: r["durationMs"] == 3000 and r["screenshotUrl"]}
    )
    assert recordings[shop]["screenshotUrl"] is None
    assert recordings[blog]["screenshotUrl"]

    screenshot_requests: list[str] = []

    def note(request: Request) -> None:
        if request.url.startswith(stack.aws):
            screenshot_requests.append(request.url)

    page.on("request", note)
    page.goto(f"{stack.site}/index.html")
    shop_card, blog_card = card(page, shop), card(page, blog)
    expect(shop_card).to_be_visible()
    expect(blog_card.locator("img")).to_have_js_property("complete", True)
    assert blog_card.locator("img").evaluate("img => img.naturalWidth") > 0

    # No screenshot: a placeholder, and nothing asked of S3 for it.
    expect(shop_card.locator(".no-thumb")).to_be_visible()
    expect(shop_card.locator("img")).to_have_count(0)
    assert not [url for url in screenshot_requests if shop in url], screenshot_requests

    expect(shop_card.locator(".title")).to_have_text("Your cart")
    expect(shop_card.locator(".duration")).to_have_text("1:05")
    expect(shop_card.locator(".page-count")).to_have_text("2 pages")
    pages = shop_card.locator("details.pages")
    expect(pages).not_to_have_attribute("open", "")
    expect(pages.locator("li").first).to_be_hidden()
    pages.locator("summary").click()
    expect(pages.locator("li")).to_have_count(2)
    expect(pages.locator("li").nth(0)).to_contain_text("Your cart")
    expect(pages.locator("li").nth(1)).to_contain_text("Checkout")
    shop_listed = recordings[shop]
    environment = " · ".join(filter(None, [shop_listed["browser"], shop_listed["os"], shop_listed["device"]]))
    assert shop_listed["device"] == "mobile"
    expect(shop_card.locator(".environment")).to_have_text(environment)
    expect(shop_card.locator(".badge.user")).to_contain_text("user-42")
    expect(shop_card.locator(".badge.errors")).to_have_text("1 error")
    expect(shop_card.locator("time")).to_have_attribute(
        "datetime", re.compile("^" + time.strftime("%Y-%m-%d", time.gmtime(shop_listed["createdAt"] / 1000)))
    )
    expect(blog_card.locator(".badge.errors")).to_have_count(0)
    expect(blog_card.locator(".badge.user")).to_have_count(0)
    expect(blog_card.locator(".page-count")).to_have_text("1 page")
    artifact(page, "recordings-cards")


def test_delete_is_a_small_menu_action_and_asks_first(page: Page, stack: RunningStack, account: dict[str, Any]) -> None:
    signed_in(page, stack, account)
    blog = a_blog_visit(stack, account, page)
    page.goto(f"{stack.site}/index.html")
    blog_card = card(page, blog)
    delete = blog_card.locator("button.delete")
    expect(delete).to_be_hidden()
    trigger = blog_card.locator(".card-menu summary")
    expect(trigger).to_have_attribute("aria-label", re.compile("."))
    box, card_box = trigger.bounding_box(), blog_card.bounding_box()
    assert box is not None
    assert card_box is not None
    assert box["width"] <= 40, box
    assert box["height"] <= 40, box

    trigger.click()
    expect(delete).to_be_visible()
    assert delete.bounding_box()["width"] < card_box["width"] / 2
    expect(delete).to_have_attribute("aria-label", "Delete recording")
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.click()
    expect(blog_card).to_be_visible()
    assert blog in listed(stack, account)

    trigger.click()
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(blog_card).to_have_count(0)
    gone = account["http"].get(f"{stack.api}/recordings/{blog}", headers=account["headers"], timeout=30)
    assert gone.status_code == 404


def list_requests(page: Page, stack: RunningStack) -> list[dict[str, list[str]]]:
    """The query of every GET /recordings the page makes, as they happen."""
    seen: list[dict[str, list[str]]] = []
    prefix = f"{stack.api}/recordings?"

    def collect(request: Any) -> None:
        if request.method == "GET" and request.url.startswith(prefix):
            seen.append(parse_qs(urlsplit(request.url).query))

    page.on("request", collect)
    return seen


def test_search_and_filters_drive_the_query_and_live_in_the_url(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    shop = a_shopping_session(stack, account)
    blog = a_blog_visit(stack, account, page)
    counted(stack, account, {shop: shop_counted, blog: bool})
    sent = list_requests(page, stack)
    page.goto(f"{stack.site}/index.html")
    expect(card(page, blog)).to_be_visible()

    # A later page's title matches too.
    page.fill("#filter-q", "checkout")
    page.press("#filter-q", "Enter")
    expect(page).to_have_url(f"{stack.site}/index.html?q=checkout")
    expect(page.locator(".recording")).to_have_count(1)
    expect(card(page, shop)).to_be_visible()
    assert sent[-1]["q"] == ["checkout"]

    page.click("#more-filters summary")
    today = time.strftime("%Y-%m-%d")
    page.fill("#filter-from", today)
    page.fill("#filter-min", "60")
    page.fill("#filter-user", "user-42")
    page.check("#filter-errors")
    page.click("#more-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"\?q=checkout&from=\d{4}-\d\d-\d\d&min=60&user=user-42&errors=1$"))
    expect(card(page, shop)).to_be_visible()
    midnight = page.evaluate("day => new Date(...day.split('-').map((n, i) => i === 1 ? n - 1 : +n)).getTime()", today)
    query = sent[-1]
    assert query["from"] == [str(midnight)]
    assert query["minDurationMs"] == ["60000"]
    assert query["user"] == ["user-42"]
    assert query["errors"] == ["1"]

    # Shared or reloaded, the same list: the form holds the filters again.
    page.reload()
    expect(card(page, shop)).to_be_visible()
    expect(page.locator(".recording")).to_have_count(1)
    expect(page.locator("#more-filters")).to_have_attribute("open", "")
    expect(page.locator("#filter-user")).to_have_value("user-42")
    expect(page.locator("#filter-min")).to_have_value("60")
    expect(page.locator("#filter-errors")).to_be_checked()
    assert sent[-1] == query

    # Nothing before yesterday's end: no match, said in words.
    yesterday = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    page.fill("#filter-from", "")
    page.fill("#filter-to", yesterday)
    page.click("#more-filters button[type=submit]")
    expect(page.locator("#more")).to_contain_text("No recordings match")
    expect(page.locator(".recording")).to_have_count(0)
    page.go_back()
    expect(card(page, shop)).to_be_visible()
    page.click("#clear-filters")
    expect(page).to_have_url(f"{stack.site}/index.html")
    expect(card(page, blog)).to_be_visible()


def mocked_pages(page: Page, stack: RunningStack, answer: Any) -> list[dict[str, list[str]]]:
    """Answer the page's GET /recordings with ``answer(n, query)`` (n from 1); returns the queries."""
    # The page open before (signing in) may still be asking for its list, late on a busy
    # machine: it is left first, so that its request is not counted as one of this page's.
    page.goto("about:blank")
    seen: list[dict[str, list[str]]] = []

    def handle(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        query = parse_qs(urlsplit(route.request.url).query)
        seen.append(query)
        real = route.fetch()  # the API's own headers (CORS), another body
        route.fulfill(response=real, status=200, json=answer(len(seen), query))

    page.route(re.compile(re.escape(f"{stack.api}/recordings?")), handle)
    return seen


def test_a_narrow_filter_walks_empty_pages_a_bounded_number_of_times(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    seen = mocked_pages(page, stack, lambda n, query: {"recordings": [], "cursor": None if n == 21 else f"after-{n}"})
    page.goto(f"{stack.site}/index.html?q=nowhere")
    older = page.locator("#older")
    expect(older).to_be_visible()
    expect(older).to_have_text("Search older recordings")
    page.wait_for_timeout(500)
    assert len(seen) == 10
    # Each page asks from where the last one ended.
    assert [q.get("cursor", [None])[0] for q in seen] == [None] + [f"after-{n}" for n in range(1, 10)]
    assert all(q["q"] == ["nowhere"] for q in seen)
    older.click()
    expect(older).to_be_visible()
    expect(page.locator("#more")).not_to_have_text("Loading…")
    assert len(seen) == 20
    older.click()
    expect(page.locator("#more")).to_have_text("No recordings match. Show all recordings")
    expect(older).to_be_hidden()
    assert len(seen) == 21


def test_pages_load_until_the_window_is_full_then_on_scroll(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    signed_in(page, stack, account)
    now = int(time.time() * 1000)

    def one(n: int, _: Any) -> dict[str, Any]:
        recording = {
            "id": f"mock-{n:04d}",
            "createdAt": now - n * 60_000,
            "updatedAt": now - n * 60_000,
            "url": f"https://example.com/{n}",
            "title": f"Page {n}",
            "eventCount": 10,
            "durationMs": 1000,
            "screenshotUrl": None,
            "pageCount": 1,
            "pages": [{"url": f"https://example.com/{n}", "title": f"Page {n}", "at": now}],
            "errorCount": 0,
            "userId": None,
        }
        return {"recordings": [recording], "cursor": f"after-{n}"}

    seen = mocked_pages(page, stack, one)
    page.goto(f"{stack.site}/index.html?errors=1")
    expect(page.locator(".recording").first).to_be_visible()
    page.wait_for_timeout(1000)
    filled = len(seen)
    # Enough one-card pages to fill the window and a little more, then it waits.
    assert 4 <= filled <= 30, filled
    assert page.evaluate("document.querySelector('#more').getBoundingClientRect().top > innerHeight")
    expect(page.locator("#older")).to_be_hidden()
    page.mouse.wheel(0, 5000)
    page.wait_for_function(f"document.querySelectorAll('.recording').length > {filled}")
    assert len(seen) > filled
    # The page goes on loading as it scrolls: what it still asks for once the test is over
    # is not answered (the browser closes under it).
    page.unroute_all(behavior="ignoreErrors")
