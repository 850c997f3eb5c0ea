"""Sharing in the browser: a link made on the replay page, opened in a fresh browser without an account, revoked;
and comments on the timeline."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_replay_page import as_finished
from tests.e2e.test_site_workspaces import EVENTS
from tests.support.browser import signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually


def recorded(stack: RunningStack, account: dict[str, Any]) -> str:
    """A stored recording of the account's (its events all in)."""
    http, headers = account["http"], account["headers"]
    created = http.post(f"{stack.api}/recordings", json={"title": "Shared checkout"}, headers=headers, timeout=30)
    recording_id = created.json()["recording"]["id"]
    posted = http.post(
        f"{stack.api}/recordings/{recording_id}/events",
        data=json.dumps({"seq": 0, "events": EVENTS}),
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text

    def stored() -> None:
        described = http.get(f"{stack.api}/recordings/{recording_id}", headers=headers, timeout=30).json()
        assert described["eventCount"] >= len(EVENTS), "not stored yet"

    eventually(stored, 60)
    return str(recording_id)


def test_a_share_link_opens_the_replay_alone_in_a_fresh_browser_until_it_is_revoked(
    page: Page, browser: Browser, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = recorded(stack, account)
    signed_in(page, stack, account)
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    page.wait_for_function("window.__replayEvents >= 3", timeout=30_000)
    page.click("#share")
    expect(page.locator("#share-links li")).to_have_count(1)
    link = page.locator("#share-link").input_value()
    assert "share=rrs_" in link, link

    stranger = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        viewer = stranger.new_page()
        viewer.goto(link)
        viewer.wait_for_function("window.__replayEvents >= 3", timeout=30_000)
        expect(viewer.locator("#title")).to_have_text("Shared checkout")
        expect(viewer.frame_locator(".replayer-wrapper iframe").locator("body")).to_contain_text("Team checkout page")
        expect(viewer.locator("header a")).to_have_count(4)
        assert viewer.locator("header a").first.is_hidden(), "no way into the site from a shared replay"
        assert viewer.locator("#share").is_hidden()
        assert viewer.evaluate("localStorage.getItem('rrweb.tokens')") is None

        page.locator("#share-links li button", has_text="Revoke").click()
        expect(page.locator("#share-links li")).to_have_count(0)
        viewer.reload()
        expect(viewer.locator("#message")).to_contain_text("This link does not open anything")
    finally:
        stranger.close()


def test_a_comment_at_a_moment_is_listed_marked_on_the_bar_and_seeks_there(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    recording_id = recorded(stack, account)
    signed_in(page, stack, account)
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    page.wait_for_function("window.__replayEvents >= 3", timeout=30_000)
    page.evaluate("window.__player.goto(1500, false)")
    page.fill("#comment-text", "the menu flickers here")
    page.click("#comment-form button")
    expect(page.locator("#comment-list li")).to_have_count(1)
    expect(page.locator("#comment-list li")).to_contain_text("0:01")
    expect(page.locator(".replay-mark.comment")).to_have_count(1)

    page.reload()
    page.wait_for_function("window.__replayEvents >= 3", timeout=30_000)
    expect(page.locator("#comment-list li")).to_contain_text("the menu flickers here")
    expect(page.locator(".replay-mark.comment")).to_have_count(1)
    page.evaluate("window.__player.goto(0, false)")
    page.locator("#comment-list li button").click()
    page.wait_for_function("Math.abs(window.__player.getReplayer().getCurrentTime() - 1500) < 200")
