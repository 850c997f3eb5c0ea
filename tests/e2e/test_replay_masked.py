"""Masked form fields in Chromium: a checkout recorded with every input masked replays masked, never as invalid.

The page (pages/masked-checkout.html) validates like Bootstrap's checkout example: once
submitted, `.was-validated .form-control:invalid ~ .invalid-feedback` shows a field's
error. The visitor filled in every field but the address, so only the address's error
ever showed; the replay must show that one, and none of the others.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_replay_page import as_finished
from tests.support.browser import add_recorder_script, signed_in
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually

TYPED = {"email": "ada@example.com", "zip": "10115", "quantity": "3", "notes": "Ring twice"}
FILLED = [*TYPED, "country"]


@pytest.fixture
def checkout(page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str) -> str:
    """The checkout recorded by the recorder script (masking every input), filled in and submitted; its id."""
    created = account["http"].post(
        f"{stack.api}/keys", json={"name": "masked checkout"}, headers=account["headers"], timeout=30
    )
    assert created.status_code == 201, created.text
    page.goto(f"{other_origin}/masked-checkout.html")
    add_recorder_script(page, stack, created.json()["key"])
    for field, value in TYPED.items():
        page.type(f"#{field}", value, delay=20)
    page.select_option("#country", "DE")
    page.click("#continue")
    # What the visitor saw: every field valid but the address, left empty.
    for field in FILLED:
        expect(page.locator(f"#{field}-feedback")).to_be_hidden()
    expect(page.locator("#address-feedback")).to_be_visible()
    page.wait_for_timeout(300)
    stopped = page.evaluate("window.RrwebS3.recorder.stop()")
    assert stopped["drained"], stopped
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    emitted = page.evaluate("window.RrwebS3.recorder.stats.emitted")
    described = f"{stack.api}/recordings/{recording_id}"

    def all_stored() -> None:
        count = account["http"].get(described, headers=account["headers"], timeout=30).json()["eventCount"]
        assert count >= emitted, "the recording's events were never all stored"

    eventually(all_stored, 60)
    return recording_id


def shows_what_the_visitor_saw(page: Page) -> None:
    """The submitted form: masked values, the address's error and no other."""
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("#checkout")).to_have_class(re.compile(r"\bwas-validated\b"))
    expect(frame.locator("#address-feedback")).to_be_visible()
    for field in FILLED:
        expect(frame.locator(f"#{field}-feedback")).to_be_hidden()
    for field, value in TYPED.items():
        expect(frame.locator(f"#{field}")).to_have_value("*" * len(value))
    # The select shows its choice masked, as the other fields do.
    country = frame.locator("#country")
    expect(country).to_have_value("**")
    assert country.evaluate("select => select.selectedOptions[0].textContent") == "**"
    invalid = frame.locator("input:invalid, select:invalid, textarea:invalid")
    assert invalid.evaluate_all("fields => fields.map((field) => field.id)") == ["address"]


def test_masked_fields_replay_masked_not_invalid_when_seeking_and_when_playing(
    page: Page, stack: RunningStack, account: dict[str, Any], checkout: str
) -> None:
    signed_in(page, stack, account)
    as_finished(page, stack, checkout)
    page.goto(f"{stack.site}/replay.html?id={checkout}")
    page.wait_for_function("window.__replayEvents > 0", timeout=30_000)

    # Seeking past the end: rrweb applies the input events to its virtual DOM, then the page.
    page.evaluate("window.__player.goto(window.__player.getMetaData().totalTime + 1, false)")
    shows_what_the_visitor_saw(page)

    # Playing from the start: each input event straight into the page, in turn.
    page.evaluate(
        """() => {
            window.__finished = false;
            window.__player.addEventListener("finish", () => (window.__finished = true));
            window.__player.goto(0, true);
        }"""
    )
    page.wait_for_function("window.__finished", timeout=60_000)
    shows_what_the_visitor_saw(page)


SECRETS = ("Jane", "Doe", "Baker", "London", "orthopedic", "portrait")


def test_mask_all_text_and_block_media_keep_page_text_and_images_out_of_storage(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    created = account["http"].post(
        f"{stack.api}/keys", json={"name": "private page"}, headers=account["headers"], timeout=30
    )
    assert created.status_code == 201, created.text
    page.goto(f"{other_origin}/private.html")
    add_recorder_script(page, stack, created.json()["key"], maskAllText="true", blockMedia="true")
    # What the visitor typed, shown again as page text: the leak maskAllText closes.
    page.type("#search", "orthopedic shoes", delay=10)
    page.click("#go")
    expect(page.locator("#results")).to_have_text("Results for orthopedic shoes")
    # The thumbnail's copy of the page is masked as the recording is.
    masked = page.evaluate(
        """() => {
            const clone = document.cloneNode(true);
            window.RrwebS3.recorder.maskClone(clone);
            return [
                clone.body.innerText,
                clone.getElementById("photo").style.visibility,
                clone.getElementById("search").getAttribute("placeholder"),
            ];
        }"""
    )
    assert not any(secret in masked[0] for secret in SECRETS), masked[0]
    assert "Shown as written" in masked[0]
    assert masked[1] == "hidden"
    assert masked[2] == "****** ****** ******", "a placeholder shows in the picture too"
    page.wait_for_timeout(300)
    stopped = page.evaluate("window.RrwebS3.recorder.stop()")
    assert stopped["drained"], stopped
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    emitted = page.evaluate("window.RrwebS3.recorder.stats.emitted")
    http, headers = account["http"], account["headers"]

    def stored() -> list[Any]:
        answer = http.get(f"{stack.api}/recordings/{recording_id}/events", headers=headers, timeout=30)
        events = [json.loads(line) for line in answer.text.splitlines() if line]
        assert len(events) >= emitted, "the recording's events were never all stored"
        return events

    events = eventually(stored, 60)
    text = json.dumps(events)
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, leaked
    assert "Shown as written: opening hours 9 to 5" in text, "unmasked where the page says so"
    assert "Our opening hours" in text, "an unmasked element's title too"
    assert "****** ****** ******" in text, "the placeholder, masked"
    assert "data:image/svg+xml" not in text, "the blocked image is not stored"
    described = http.get(f"{stack.api}/recordings/{recording_id}", headers=headers, timeout=30).json()
    assert described["title"] == "****** ** **** ***", "the title the list shows is masked too"

    # The replay shows the page's shape, in asterisks, and a blank box for the image.
    signed_in(page, stack, account)
    as_finished(page, stack, recording_id)
    page.goto(f"{stack.site}/replay.html?id={recording_id}")
    frame = page.frame_locator(".replayer-wrapper iframe")
    expect(frame.locator("h1")).to_have_text("******* ***** **** ***")
    expect(frame.locator("#notice")).to_have_text("Shown as written: opening hours 9 to 5")
    # rrweb rebuilds a blocked element as an empty box of its size: no source at all.
    expect(frame.locator("img")).to_have_count(1)
    assert frame.locator("img").get_attribute("src") is None
    # The moments list names the click by the button's accessible name: masked too.
    moments = page.locator("#moment-list")
    expect(moments).to_contain_text("Click")
    listed = moments.inner_text()
    assert not [secret for secret in SECRETS if secret in listed], listed
    assert "Orders of Jane" not in page.title()
