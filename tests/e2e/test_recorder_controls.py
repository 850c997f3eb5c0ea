"""Recording controls in Chromium, on a page of the repository's own: on-error mode, sampling, URL rules.

Each is decided in the browser, so what a control leaves out never reaches the API: the
tests watch the page's requests to the API, not only what is stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page, Request, expect

from tests.e2e.test_replay_page import as_finished
from tests.support.browser import add_recorder_script, signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually


def key_of(stack: RunningStack, account: dict[str, Any], name: str) -> str:
    created = account["http"].post(f"{stack.api}/keys", json={"name": name}, headers=account["headers"], timeout=30)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def watch_api(page: Page, stack: RunningStack) -> list[str]:
    """The URLs of the page's requests to the API, as they are made."""
    sent: list[str] = []

    def seen(request: Request) -> None:
        if request.url.startswith(stack.api):
            sent.append(request.url)

    page.on("request", seen)
    return sent


def test_on_error_mode_sends_nothing_until_an_error_then_what_led_to_it(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    page.goto(f"{other_origin}/article.html")
    sent = watch_api(page, stack)
    add_recorder_script(page, stack, key_of(stack, account, "on error"), onErrorBufferMs="20000")
    for _ in range(3):
        page.click("#clap")
    page.evaluate("window.RrwebS3.recorder.flush()")
    page.wait_for_timeout(2500)
    assert sent == [], "no error yet: nothing leaves the page"

    page.evaluate("console.error('checkout failed: card declined')")
    page.click("#clap")
    stopped = page.evaluate("window.RrwebS3.recorder.stop()")
    assert stopped["drained"], stopped
    assert sent, "the error sent the recording"
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    http, headers = account["http"], account["headers"]

    def stored() -> list[dict[str, Any]]:
        answer = http.get(f"{stack.api}/recordings/{recording_id}/events", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        events = [json.loads(line) for line in answer.text.splitlines() if line]
        assert any(event["type"] == 6 and event["data"]["payload"]["level"] == "error" for event in events)
        return events

    events = eventually(stored, 60)
    assert [event["type"] for event in events[:2]] == [4, 2], "from a whole page on"
    clicks = [event for event in events if event["type"] == 3 and event["data"].get("source") == 2]
    assert len([c for c in clicks if c["data"].get("type") == 2]) == 4, "the clicks before the error, and after it"


def test_a_visit_sampled_out_or_a_page_the_url_rules_leave_out_sends_nothing(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    key = key_of(stack, account, "controls")
    sent = watch_api(page, stack)
    page.goto(f"{other_origin}/article.html")
    add_recorder_script(page, stack, key, sampleRate="0")
    page.click("#clap")
    assert page.evaluate("window.RrwebS3.recorder.status().skipped") == "sampled_out"

    page.goto(f"{other_origin}/visit.html")
    page.evaluate("sessionStorage.clear()")
    add_recorder_script(page, stack, key, urlDeny="*/visit.html")
    assert page.evaluate("window.RrwebS3.recorder.status().skipped") == "url"
    page.wait_for_timeout(2000)
    assert sent == []

    # The same page, allowed: recorded.
    page.goto(f"{other_origin}/article.html")
    page.evaluate("sessionStorage.clear()")
    add_recorder_script(page, stack, key, urlAllow=f"{other_origin}/*", urlDeny="*/visit.html")
    page.click("#clap")
    page.evaluate("window.RrwebS3.recorder.flush()")

    def recorded() -> None:
        assert sent, "an allowed page is recorded"

    eventually(recorded, 20)


def test_the_network_panel_lists_the_pages_requests_redacted_with_failures_marked(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    page.goto(f"{other_origin}/network.html")
    add_recorder_script(page, stack, key_of(stack, account, "network"))
    page.click("#load")
    # The page's server takes no POST (501): a failed request.
    expect(page.locator("#result")).to_have_text("200 501 200")
    stopped = page.evaluate("window.RrwebS3.recorder.stop()")
    assert stopped["drained"], stopped
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    http, headers = account["http"], account["headers"]

    def stored() -> list[dict[str, Any]]:
        answer = http.get(f"{stack.api}/recordings/{recording_id}/events", headers=headers, timeout=30)
        events = [json.loads(line) for line in answer.text.splitlines() if line]
        requests = [e["data"]["payload"] for e in events if e["type"] == 6 and e["data"]["plugin"] == "rrweb/network@1"]
        assert len(requests) == 3, requests
        return requests

    recorded = eventually(stored, 60)
    text = json.dumps(recorded)
    assert "s3cret" not in text, "secrets never leave the page"
    assert "hunter2" not in text
    assert not any(stack.api in entry["url"] for entry in recorded), "the recorder's own requests are not the page's"

    signed_in(page, stack, account)
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    page.wait_for_function("window.__replayEvents > 0", timeout=60_000)
    page.click("#tab-network")
    rows = page.locator("#network-list li")
    expect(rows).to_have_count(3)
    expect(page.locator("#network-count")).to_have_text("3")
    expect(rows.nth(0)).to_contain_text("GET")
    expect(rows.nth(0)).to_contain_text("token=%5Bredacted%5D")
    expect(rows.nth(1)).to_contain_text("501")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkind-failed\b"))
    page.click("#network-filters [data-kind=ok]")
    expect(page.locator("#network-list li:visible")).to_have_count(1)
    # The failed request is a moment, and a mark on the bar.
    expect(page.locator(".rr-progress .replay-mark.failed")).to_have_count(1)
    page.click("#tab-moments")
    expect(page.locator("#moment-list")).to_contain_text("missing-orders.json → 501")
