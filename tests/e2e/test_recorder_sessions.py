"""Sessions across pages, identify() and console errors, recorded by the snippet and the bookmarklet."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Page, expect

from tests.e2e import test_recorder_status
from tests.e2e.test_browser import bookmarklet_code
from tests.e2e.test_recorder_status import BADGE, PagesSite, described, ingest_key, stored_events
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

pages_site = test_recorder_status.pages_site

RUNNING = "window.RrwebS3 && window.RrwebS3.recorder"


def visit_url(pages: PagesSite, stack: RunningStack, key: str, n: int, **options: Any) -> str:
    """A page of tests/e2e/pages/visit.html recording into the stack with `key`."""
    query = {"site": stack.site, "api": stack.api, "key": key, "n": n, **options}
    return f"{pages.url}/visit.html?{urlencode(query)}"


def page_views(account: dict[str, Any], api: str, recording_id: str, count: int) -> list[str]:
    """The hrefs of the recording's Meta events (one per page view), once `count` are stored."""
    metas: list[str] = []

    def all_views() -> bool:
        events = stored_events(account, api, recording_id, at_least=1)
        metas[:] = [e["data"]["href"] for e in events if e["type"] == 4]
        assert len(metas) >= count, f"{len(metas)} of {count} page views stored: {metas}"
        return True

    eventually(all_views, 20, interval=1)
    return metas


def test_a_visitors_pages_in_one_tab_join_one_recording_until_the_visitor_is_idle(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    key = ingest_key(account, stack.api, "sessions")["key"]
    first_url = visit_url(pages_site, stack, key, 1, snippet=1)
    page.goto(first_url)
    page.wait_for_function(RUNNING)
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    page.click("#clap")

    second_url = visit_url(pages_site, stack, key, 2, snippet=1)
    page.goto(second_url)  # the snippet on the next page starts anew, and continues the session
    page.wait_for_function(RUNNING)
    assert page.evaluate("window.RrwebS3.recorder.id") == recording_id
    page.click("#clap")

    # Idle longer than the third page's session limit: it starts a recording of its own.
    page.wait_for_timeout(2500)
    page.goto(visit_url(pages_site, stack, key, 3, idle=2000))
    page.wait_for_function(RUNNING)
    third = page.evaluate("window.RrwebS3.recorder.id")
    assert third != recording_id
    page.click("#clap")
    result = page.evaluate("window.RrwebS3.recorder.stop()")
    assert result["state"] == "saved"

    views = page_views(account, stack.api, recording_id, 2)
    assert views[0] == first_url
    assert views[-1] == second_url
    assert first_url in views
    assert all("n=3" not in href for href in views)
    assert page_views(account, stack.api, third, 1)[0].endswith("n=3&idle=2000")

    # What the API keeps of the page views (its create takes them from each page).
    recording = described(account, stack.api, recording_id)
    assert recording["pageCount"] == 2
    assert [p["url"] for p in recording["pages"]] == [first_url, second_url]
    assert recording["viewport"] == {"width": 1280, "height": 800}
    assert described(account, stack.api, third)["pageCount"] == 1


def test_identify_and_console_errors_are_recorded_and_described(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    key = ingest_key(account, stack.api, "identify")["key"]
    page.goto(visit_url(pages_site, stack, key, 1, snippet=1))
    page.wait_for_function(RUNNING)
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    refused = page.evaluate(
        "() => { try { window.RrwebS3.identify('', {}); return null; } catch (error) { return error.name; } }"
    )
    assert refused == "TypeError"
    page.evaluate(
        """() => {
            window.RrwebS3.identify("user-42", { plan: "team", seats: 3 });
            console.error("checkout failed", { code: 42 });
            console.warn("slow response");
            setTimeout(() => { throw new Error("uncaught boom"); });
        }"""
    )
    page.wait_for_timeout(300)
    result = page.evaluate("window.RrwebS3.recorder.stop()")
    assert (result["state"], result["gaveUp"]) == ("saved", 0)

    emitted = page.evaluate("window.RrwebS3.recorder.stats.emitted")
    events = stored_events(account, stack.api, recording_id, at_least=emitted)
    identify = [e for e in events if e["type"] == 5 and e["data"]["tag"] == "identify"]
    assert [e["data"]["payload"] for e in identify] == [{"id": "user-42", "traits": {"plan": "team", "seats": 3}}]
    logs = [e["data"]["payload"] for e in events if e["type"] == 6 and e["data"]["plugin"] == "rrweb/console@1"]
    errors = [log for log in logs if log["level"] == "error"]
    assert any("checkout failed" in " ".join(log["payload"]) for log in errors)
    assert any("uncaught boom" in " ".join(log["payload"]) for log in errors)
    assert any(log["level"] == "warn" and "slow response" in log["payload"][0] for log in logs)
    assert not any("rrweb recorder" in " ".join(log["payload"]) for log in logs), "the recorder's own complaints"

    recording = described(account, stack.api, recording_id)
    assert recording["userId"] == "user-42"
    assert recording["traits"] == {"plan": "team", "seats": 3}
    assert recording["errorCount"] == len(errors) == 2


def test_the_bookmarklet_clicked_again_on_the_next_page_continues_the_recording(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    code = bookmarklet_code(page, stack, account)
    page.goto(f"{pages_site.url}/article.html")
    page.evaluate(code)
    page.wait_for_function("window.__rrwebS3")
    recording_id = page.evaluate("window.__rrwebS3.id")
    page.click("#clap")

    page.goto(f"{pages_site.url}/long.html")
    page.evaluate(code)
    page.wait_for_function("window.__rrwebS3")
    assert page.evaluate("window.__rrwebS3.id") == recording_id
    page.locator(BADGE).locator("button").click()
    expect(page.locator(BADGE)).to_contain_text("Saved · Replay", timeout=20_000)

    views = page_views(account, stack.api, recording_id, 2)
    assert views == [f"{pages_site.url}/article.html", f"{pages_site.url}/long.html"]
    assert described(account, stack.api, recording_id)["pageCount"] == 2

    # Stopped: the next page's click starts a new recording.
    page.goto(f"{pages_site.url}/article.html")
    page.evaluate(code)
    page.wait_for_function("window.__rrwebS3")
    assert page.evaluate("window.__rrwebS3.id") != recording_id
