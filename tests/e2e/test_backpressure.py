"""The recorder under rate limits and outages: it keeps what it could not send yet, within a budget."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.e2e.test_browser import api_events, start_demo
from tests.support.browser import recorder_body
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

# One per rewrite of a paragraph, so each rewrite can be told apart in the events.
LETTERS = "abcdefghijkl"
# What the API sends with every ingest answer, so the page can read a refusal's Retry-After.
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}


def ingest_route(stack: RunningStack) -> re.Pattern[str]:
    """Both ingest routes, through either door (the REST API, or the function URL's /ingest locally)."""
    return re.compile(re.escape(stack.api) + r"(/ingest)?/recordings(/[^/?]+/events)?\?")


def refuse(route: Route, status: int) -> None:
    route.fulfill(
        status=status,
        headers={**CORS, "Retry-After": "1"},
        content_type="application/json",
        body=json.dumps({"error": {"code": "refused", "message": "refused by the test"}}),
    )


def sent_seq(route: Route) -> int:
    return json.loads(recorder_body(route.request.post_data_buffer))["seq"]


def created_demo(page: Page, stack: RunningStack, account: dict[str, Any]) -> str:
    """The demo page recording, its recording created (so later batches go to the events route)."""
    recording_id = start_demo(page, stack, account)
    with page.expect_response(
        lambda r: (
            r.url.startswith((f"{stack.api}/recordings?", f"{stack.ingest}/recordings?")) and r.request.method == "POST"
        ),
        timeout=20_000,
    ) as created:
        page.evaluate("() => { window.__recorder.flush(); }")
    assert created.value.ok
    return recording_id


def wait_until(page: Page, done: Callable[[], bool], timeout: float = 30) -> None:
    """Poll a condition on this side, letting the page (and its route handlers) run meanwhile."""
    eventually(done, timeout, interval=0.1, sleep=lambda seconds: page.wait_for_timeout(seconds * 1000))


def test_rate_limits_and_outages_delay_batches_but_lose_none(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = created_demo(page, stack, account)
    # More consecutive failures of one batch than the recorder used to tolerate.
    answers: list[str | int] = ["abort", 503, *[429] * 8]
    refused = len(answers)
    delivered: list[int] = []

    def handle(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
        elif answers:
            answer = answers.pop(0)
            if answer == "abort":
                route.abort("connectionreset")
            else:
                refuse(route, int(answer))
        else:
            delivered.append(sent_seq(route))
            route.fallback()

    page.route(ingest_route(stack), handle)
    for round_ in range(3):
        page.click("#like")
        page.type("#search", f"round {round_} ", delay=10)
        page.evaluate("() => { window.__recorder.flush(); }")
        page.wait_for_timeout(300)
    # Batches recorded during the outage queue behind the one being retried, and the
    # page says so while it records.
    status = page.evaluate("window.__recorder.status()")
    assert status["state"] == "recording"
    assert status["pending"] >= 3
    assert status["lastError"]["reason"] in {"backing_off", "unreachable"}
    said = page.locator("#status").inner_text()
    assert re.search(r"Saving… \d+ batches waiting", said), said
    wait_until(page, lambda: not answers)
    page.click("#share")

    result = page.evaluate("window.__recorder.stop()")
    assert (result["drained"], result["state"], result["pending"], result["pendingEvents"]) == (True, "saved", 0, 0)
    assert result["gaveUp"] == 0
    assert result["dropped"] == 0
    stats = page.evaluate("window.__recorder.stats")
    assert stats["requests"] >= refused + 4
    expect(page.locator("#status")).to_contain_text("Saved · Replay")
    assert delivered == sorted(delivered)
    assert len(set(delivered)) == len(delivered) >= 3

    events = api_events(account, stack.api, recording_id, at_least=stats["emitted"])
    assert len(events) == stats["emitted"]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    described = (
        account["http"].get(f"{stack.api}/recordings/{recording_id}", headers=account["headers"], timeout=30).json()
    )
    assert described["eventCount"] == stats["emitted"]


def test_a_definitive_refusal_gives_up_its_batch_loudly(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = created_demo(page, stack, account)
    # A batch the API refuses for itself (400): later batches still go. (A refused key
    # stops the page's recording instead: test_recorder_status.py.)
    answers = [400]
    refused_events: list[int] = []

    def handle(route: Route) -> None:
        if route.request.method == "POST" and answers:
            refused_events.append(len(json.loads(recorder_body(route.request.post_data_buffer))["events"]))
            refuse(route, answers.pop())
        else:
            route.fallback()

    page.route(ingest_route(stack), handle)
    page.click("#like")
    page.evaluate("() => { window.__recorder.flush(); }")
    page.wait_for_function("window.__recorder.status().gaveUp === 1", timeout=10_000)
    status = page.evaluate("window.__recorder.status()")
    assert status["state"] == "failed"
    assert status["lastError"]["reason"] == "refused"
    assert status["lastError"]["status"] == 400
    expect(page.locator("#status")).to_contain_text("Not saved: the API refused a batch")

    # Later batches are not held up by the refused one, but the recording is not whole:
    # stop() says so instead of "saved".
    page.click("#like")
    result = page.evaluate("window.__recorder.stop()")
    assert (result["drained"], result["state"], result["pending"], result["gaveUp"]) == (False, "failed", 0, 1)
    expect(page.locator("#status")).to_contain_text("Not saved: the API refused a batch")
    expect(page.locator("#status")).not_to_contain_text("Saved")
    stats = page.evaluate("window.__recorder.stats")
    events = api_events(account, stack.api, recording_id, at_least=stats["emitted"] - refused_events[0])
    assert len(events) == stats["emitted"] - refused_events[0]


def recorder_on_other_origin(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str, options: str
) -> None:
    """The plain-script recorder started on a page of another origin as `window.rec`, errors in `window.errors`."""
    key = (
        account["http"]
        .post(f"{stack.api}/keys", headers=account["headers"], json={"name": "backpressure"}, timeout=30)
        .json()["key"]
    )
    page.goto(f"{other_origin}/article.html")
    page.add_script_tag(url=f"{stack.site}/assets/recorder.js")
    page.evaluate(
        f"""([ingestUrl, ingestKey]) => {{
            window.errors = [];
            window.rec = window.RrwebS3.startRecording({{
                ingestUrl, ingestKey, screenshot: false, onError: (e) => window.errors.push(e.message), {options}
            }});
        }}""",
        [stack.api, key],
    )


def test_a_long_outage_pauses_recording_at_the_budget_and_resumes_with_a_snapshot(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    budget = 120_000
    outage = {"on": True}

    def handle(route: Route) -> None:
        if route.request.method == "POST" and outage["on"]:
            refuse(route, 503)
        else:
            route.fallback()

    page.route(ingest_route(stack), handle)
    recorder_on_other_origin(page, stack, account, other_origin, f"maxPendingBytes: {budget}")
    recording_id = page.evaluate("window.rec.id")
    # DOM mutations are measured: 20 KB of text each, far past the budget in all. The page
    # itself stays small, so the snapshot taken on resuming fits the budget.
    for letter in LETTERS:
        page.evaluate("letter => { document.getElementById('lead').textContent = letter.repeat(20000); }", letter)
        page.evaluate("() => { window.rec.flush(); }")
        page.wait_for_timeout(50)
    page.click("#clap")
    page.wait_for_function("window.rec.stats.droppedWhileBackedUp > 0", timeout=5_000)
    stats = page.evaluate("window.rec.stats")
    status = page.evaluate("window.rec.status()")
    assert status["paused"] is True
    assert status["dropped"] == stats["droppedWhileBackedUp"] > 0
    # Nothing queued was dropped to make room; only the event crossing the budget is over
    # it (and the page's small first snapshot, which the budget does not count).
    assert stats["gaveUp"] == 0
    assert budget < stats["pendingBytes"] <= budget + 25_000 + 10_000
    paused = page.evaluate("window.errors")
    assert len(paused) == 1
    assert "not recorded" in paused[0]

    outage["on"] = False
    page.wait_for_function("window.rec.stats.pending === 0", timeout=10_000)
    page.wait_for_function("!window.rec.status().paused", timeout=10_000)
    page.click("#clap")
    result = page.evaluate("window.rec.stop()")
    assert (result["drained"], result["state"], result["pending"], result["pendingEvents"]) == (True, "saved", 0, 0)
    stats = page.evaluate("window.rec.stats")
    assert stats["gaveUp"] == 0
    assert len(page.evaluate("window.errors")) == 1
    events = api_events(account, stack.api, recording_id, at_least=stats["emitted"])
    assert len(events) == stats["emitted"]
    # Recording resumed with a full snapshot of the page as it is now, so the replay shows
    # the last text although the mutation that wrote it was never recorded.
    snapshots = [i for i, e in enumerate(events) if e["type"] == 2]
    assert len(snapshots) == 2
    assert snapshots[0] == 1
    last = LETTERS[-1] * 20000
    assert last in json.dumps(events[snapshots[1]])
    assert not any(last in json.dumps(e) for e in events[: snapshots[1]])
    assert page.evaluate("window.rec.stats.droppedWhileBackedUp") > 0


def test_stop_returns_in_bounded_time_through_an_outage_and_sends_the_rest_later(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    outage = {"on": True}

    def handle(route: Route) -> None:
        if route.request.method == "POST" and outage["on"]:
            route.abort("connectionrefused")
        else:
            route.fallback()

    page.route(ingest_route(stack), handle)
    recorder_on_other_origin(page, stack, account, other_origin, "stopTimeoutMs: 2000")
    recording_id = page.evaluate("window.rec.id")
    page.click("#clap")
    page.type("#comment", "still here", delay=10)

    started = time.monotonic()
    result = page.evaluate("window.rec.stop()")
    assert time.monotonic() - started < 5
    emitted = page.evaluate("window.rec.stats.emitted")
    assert result["drained"] is False
    assert result["state"] == "unsaved"
    assert result["lastError"]["reason"] == "unreachable"
    assert result["pending"] >= 1
    assert result["pendingEvents"] == emitted
    assert page.evaluate("window.rec.stats.pending") == result["pending"]
    assert any("not sent yet" in message for message in page.evaluate("window.errors"))

    # The page stays open: what stop() left unsent still goes out once the API answers,
    # and the status says so.
    outage["on"] = False
    page.wait_for_function("window.rec.stats.pending === 0", timeout=20_000)
    assert page.evaluate("window.rec.stats.gaveUp") == 0
    assert page.evaluate("window.rec.status().state") == "saved"
    assert len(api_events(account, stack.api, recording_id, at_least=emitted)) == emitted
