"""End to end in Chromium: sign up, keys, record the demo page, list, replay, bookmarklet, leaving."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.support.accounts import mailed_code
from tests.support.browser import artifact, signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually


def api_events(
    account: dict[str, Any], api: str, recording_id: str, *, at_least: int, timeout: float = 30
) -> list[Any]:
    """The recording's events through the API, polled until delivery has caught up."""

    events: list[Any] = []

    def caught_up() -> bool:
        response = account["http"].get(
            f"{api}/recordings/{recording_id}/events", headers=account["headers"], timeout=30
        )
        events[:] = [json.loads(line) for line in response.content.splitlines()] if response.ok else []
        assert len(events) >= at_least, f"{len(events)} of {at_least} events stored"
        return True

    eventually(caught_up, timeout)
    return events


def start_demo(page: Page, stack: RunningStack, account: dict[str, Any]) -> str:
    """Open the demo page signed in; returns the id of the recording it starts."""
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/demo.html")
    expect(page.locator("#status")).to_contain_text("Recording")
    return page.evaluate("window.__recorder.id")


def bookmarklet_code(page: Page, stack: RunningStack, account: dict[str, Any]) -> str:
    """The script behind the signed-in account's bookmarklet link (what clicking it runs)."""
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/bookmarklet.html")
    link = page.locator("#bookmarklet")
    expect(link).to_have_attribute("href", re.compile(r"^javascript:"))
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href is not None
    return unquote(href[len("javascript:") :])


def test_sign_up_and_create_an_ingest_key_in_the_site(page: Page, stack: RunningStack) -> None:
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{stack.site}/index.html")
    page.fill("#email", email)
    page.fill("#password", "Browser-Test-42")
    page.click("#sign-up")
    expect(page.locator("#confirm-row")).to_be_visible()
    # The local stack emails nobody, and says where its mail is.
    expect(page.locator("#auth-message")).to_contain_text(f"it is written to {stack.mailbox}")
    first = mailed_code(stack.mailbox, email)
    page.fill("#code", f"{(int(first) + 1) % 1_000_000:06d}")
    page.click("#confirm")
    expect(page.locator("#auth-message")).to_have_text("The code is wrong or expired")
    expect(page.locator("#recordings-section")).to_be_hidden()
    # A lost code: a new one is sent, and it is the one that confirms.
    page.click("#resend-code")
    expect(page.locator("#auth-message")).to_contain_text(f"If {email} has an account to confirm, we emailed it")
    assert stack.mailbox.read_text().count(f"to {email}: your confirmation code is") == 2
    page.fill("#code", mailed_code(stack.mailbox, email))
    page.click("#confirm")
    expect(page.locator("#recordings-section")).to_be_visible()
    expect(page.locator("#more")).to_contain_text("No recordings yet")
    page.goto(f"{stack.site}/keys.html")
    page.fill("#key-name", "from the browser")
    page.click("#create-key button")
    expect(page.locator("#new-key-value")).to_have_text(re.compile(r"^rrk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$"))
    expect(page.locator("#keys li")).to_contain_text(["from the browser"])


def test_demo_recording_lists_with_thumbnail_and_replays_the_dom(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = start_demo(page, stack, account)
    # Create the recording at once, so the thumbnail is painted while the page records.
    with page.expect_response(lambda r: r.url.startswith(stack.aws) and r.request.method == "POST", timeout=20_000):
        page.evaluate("window.__recorder.flush()")
    page.click("#like")
    page.click("#like")
    page.click("#share")
    page.type("#search", "hello replay", delay=20)
    page.type("#email", "secret@example.com", delay=20)
    page.select_option("#plan", "Team")
    page.check("#newsletter")
    page.check("#size-l")
    page.locator("#scroller").evaluate("el => el.scrollTo(0, 400)")
    # The thumbnail is painted from a clone masked like the recording.
    cloned = page.evaluate(
        """() => {
            const clone = document.cloneNode(true);
            for (const id of ["search", "email"]) clone.getElementById(id).value = document.getElementById(id).value;
            window.__recorder.maskFormValues(clone);
            return [clone.getElementById("search").value, clone.getElementById("email").value];
        }"""
    )
    assert cloned == ["hello replay", "*" * len("secret@example.com")]
    page.wait_for_timeout(500)
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("Saved", timeout=20_000)
    emitted = page.evaluate("window.__recorder.stats.emitted")

    events = api_events(account, stack.api, recording_id, at_least=emitted)
    assert len(events) == emitted
    # html2canvas paints from a copy of the page in an iframe of its own: the recording
    # must not carry that copy (a second snapshot of the page, and a stray replay frame).
    assert not [e for e in events if e["type"] == 3 and e["data"].get("isAttachIframe")]

    # The list shows it, newest first, with its screenshot thumbnail.
    card = page.locator(f'.recording[data-id="{recording_id}"]')

    def thumbnail_loaded() -> None:
        page.goto(f"{stack.site}/index.html")
        expect(card).to_be_visible()
        loaded = (
            card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
            if card.locator("img").count()
            else False
        )
        assert loaded, "the thumbnail never loaded"

    eventually(thumbnail_loaded, interval=1)
    assert "0:" in card.locator(".duration").inner_text()
    artifact(page, "recordings-list")

    # The replay rebuilds the recorded DOM: the typed search text, the masked email.
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    page.wait_for_function("window.__replayEvents > 0", timeout=30_000)
    page.evaluate("(() => { const r = window.__player.getReplayer(); r.pause(r.getMetaData().totalTime); })()")
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#likes")).to_have_text("2")
    expect(frame.locator("#search")).to_have_value("hello replay")
    masked = frame.locator("#email").input_value()
    assert masked == "*" * len("secret@example.com")
    assert "secret" not in json.dumps(events)
    artifact(page, "replay")


def test_bookmarklet_records_a_page_on_another_origin(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    code = bookmarklet_code(page, stack, account)
    page.goto(f"{other_origin}/article.html")
    page.evaluate(code)  # what clicking the bookmark does
    badge = page.locator("#rrweb-s3-badge")
    expect(badge).to_contain_text("Recording")
    page.click("#clap")
    page.type("#comment", "nice page", delay=20)
    page.wait_for_timeout(300)
    recording_id = page.evaluate("window.__rrwebS3.id")
    emitted = page.evaluate("window.__rrwebS3.stats.emitted")
    badge.locator("button").click()
    expect(badge).to_contain_text("Saved", timeout=20_000)
    artifact(page, "bookmarklet")

    listed = account["http"].get(f"{stack.api}/recordings", headers=account["headers"], timeout=30).json()["recordings"]
    recorded = next(r for r in listed if r["id"] == recording_id)
    assert recorded["url"] == f"{other_origin}/article.html"
    assert len(api_events(account, stack.api, recording_id, at_least=emitted)) >= emitted

    # A page whose CSP refuses outside scripts gets a clear banner instead.
    page.goto(f"{other_origin}/strict")
    page.evaluate(code)
    expect(page.locator("#rrweb-s3-csp-banner")).to_contain_text("Content-Security-Policy")


@pytest.mark.parametrize("created", [False, True], ids=["before-create", "after-create"])
def test_leaving_the_page_mid_recording_loses_no_event(
    page: Page, stack: RunningStack, account: dict[str, Any], created: bool
) -> None:
    if not created:
        # The page's timers never fire (its clock stands still from the start), so no
        # flush creates the recording: only the exit path's beacon, through the
        # idempotent create route, can save anything.
        page.clock.install()
        page.clock.pause_at(time.time() + 60)
    recording_id = start_demo(page, stack, account)
    page.evaluate(
        "addEventListener('pagehide', () => localStorage.setItem('emitted', String(window.__recorder.stats.emitted)))"
    )
    if created:
        # The recording exists before leaving (its first batch leaves after 1 s): the
        # exit batch goes to its events route.
        page.wait_for_function("window.__recorder.status().acknowledged >= 1")
        api_events(account, stack.api, recording_id, at_least=1)
    for round_ in range(3):
        page.click("#like")
        page.type("#search", f"round {round_} ", delay=10)
        page.mouse.move(100 + 50 * round_, 300)
        page.wait_for_timeout(600)
    assert page.evaluate("window.__recorder.stats.requests") == (1 if created else 0)
    # Leave before the 10 s flush: only the exit path (sendBeacon) can save these events.
    page.goto(f"{stack.site}/index.html")
    emitted = int(page.evaluate("localStorage.getItem('emitted')"))
    assert emitted > 10
    events = api_events(account, stack.api, recording_id, at_least=emitted)
    assert len(events) == emitted
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_a_long_page_sends_its_snapshot_at_once_and_leaving_loses_nothing(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    code = bookmarklet_code(page, stack, account)
    page.goto(f"{other_origin}/long.html")
    page.evaluate(code)
    page.wait_for_function("window.__rrwebS3")
    page.evaluate(
        "addEventListener('pagehide', () => localStorage.setItem('emitted', String(window.__rrwebS3.stats.emitted)))"
    )
    # Far above what a beacon may carry, so it must not wait for the 10 s flush.
    page.wait_for_function("window.__rrwebS3.stats.requests >= 1", timeout=3_000)
    # A batch above the exit budget survives leaving only once its own request is through
    # (a busy machine may still be sending it): what leaving must carry is what follows.
    page.wait_for_function("window.__rrwebS3.status().pending === 0")
    recording_id = page.evaluate("window.__rrwebS3.id")
    page.type("#filter", "item 42", delay=10)
    page.goto(f"{other_origin}/article.html")
    emitted = int(page.evaluate("localStorage.getItem('emitted')"))
    events = api_events(account, stack.api, recording_id, at_least=emitted)
    assert len(events) == emitted
    snapshot = next(e for e in events if e["type"] == 2)
    assert len(json.dumps(snapshot)) > 128 * 1024
