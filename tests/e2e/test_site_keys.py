"""The site's ingest keys in Chromium: tied to whoever is signed in, and the keys page's snippet."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from playwright.sync_api import Page, Request, Route, expect

from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import artifact, signed_in, stopped_demo
from tests.support.local_stack import RunningStack
from tests.support.waiting import eventually


def another_account(stack: RunningStack) -> dict[str, Any]:
    """A second confirmed account, shaped like the ``account`` fixture."""
    http = requests.Session()
    email, headers = sign_up_and_in(stack.api, http)
    return {"email": email, "headers": headers, "http": http}


def sign_in_with_the_form(page: Page, stack: RunningStack, email: str) -> None:
    """Sign in the way a person does, on the recordings page."""
    page.goto(f"{stack.site}/index.html")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#recordings-section")).to_be_visible()


def site_storage(page: Page, storage: str = "localStorage") -> list[str]:
    """The names of the site's entries in one of this browser's storages."""
    return page.evaluate(f"Object.keys({storage}).filter(name => name.startsWith('rrweb.')).sort()")


def recording_ids(stack: RunningStack, account: dict[str, Any]) -> list[str]:
    listed = account["http"].get(f"{stack.api}/recordings", headers=account["headers"], timeout=30)
    assert listed.ok, listed.text
    return [recording["id"] for recording in listed.json()["recordings"]]


def demo_keys(stack: RunningStack, account: dict[str, Any]) -> list[dict[str, Any]]:
    listed = account["http"].get(f"{stack.api}/keys", headers=account["headers"], timeout=30)
    assert listed.ok, listed.text
    return [key for key in listed.json()["keys"] if key.get("purpose") == "demo"]


class IngestKeys:
    """The ingest keys the page sends with its recording requests, collected per visit."""

    def __init__(self, page: Page, stack: RunningStack) -> None:
        self.seen: list[str] = []
        # The site's snippet and demo post to the ingest door (its function URL; /ingest locally).
        prefixes = (f"{stack.api}/recordings", f"{stack.ingest}/recordings")

        def collect(request: Any) -> None:
            if request.url.startswith(prefixes):
                self.seen.extend(parse_qs(urlsplit(request.url).query).get("ingestKey", []))

        page.on("request", collect)


def record_demo(page: Page, stack: RunningStack, owner: dict[str, Any], keys: IngestKeys) -> tuple[str, str]:
    """Open the demo page, make it send, and wait until its recording is in ``owner``'s list.

    Returns the recording id and the one ingest key the visit used.
    """
    # Leave any recording page first: its exit beacon carries that page's key.
    page.goto(f"{stack.site}/index.html")
    page.wait_for_load_state("load")
    keys.seen.clear()
    page.goto(f"{stack.site}/demo.html")
    expect(page.locator("#status")).to_contain_text("Recording", timeout=20_000)
    recording_id = page.evaluate("window.__recorder.id")
    page.click("#like")
    page.evaluate("window.__recorder.flush()")

    def listed() -> None:
        assert recording_id in recording_ids(stack, owner), (
            f"recording {recording_id} never reached {owner['email']}'s list"
        )

    eventually(listed)
    used = set(keys.seen)
    assert len(used) == 1, used
    return recording_id, used.pop()


def test_demo_records_into_whoever_is_signed_in_with_one_key_per_account(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    second = another_account(stack)
    keys = IngestKeys(page, stack)

    sign_in_with_the_form(page, stack, account["email"])
    first_recording, first_key = record_demo(page, stack, account, keys)
    # Nothing but the tokens is kept in the browser, key included.
    assert site_storage(page) == ["rrweb.tokens"]
    # What older versions of the site kept; signing out must not leave it for the next person.
    page.evaluate("key => localStorage.setItem('rrweb.key.demo page', key)", first_key)
    page.goto(f"{stack.site}/index.html")
    page.click("#sign-out")
    expect(page.locator("#auth")).to_be_visible()
    assert site_storage(page) == []
    assert site_storage(page, "sessionStorage") == []

    sign_in_with_the_form(page, stack, second["email"])
    second_recording, second_key = record_demo(page, stack, second, keys)
    assert second_key != first_key
    assert second_recording in recording_ids(stack, second)
    assert recording_ids(stack, account) == [first_recording], "the second account's recording went to the first"

    # Every visit asks the API again and gets the same key: one demo key per account.
    _, again = record_demo(page, stack, second, keys)
    assert again == second_key
    active = demo_keys(stack, second)
    assert [key["revoked"] for key in active] == [False], active
    assert second_key.startswith(f"rrk_{active[0]['id']}_")
    assert site_storage(page) == ["rrweb.tokens"]

    # Revoked on the keys page, it is never handed out again: the next visit gets a new one.
    page.goto(f"{stack.site}/keys.html")
    item = page.locator(f'#keys li[data-id="{active[0]["id"]}"]')
    expect(item).to_contain_text("demo page")
    page.once("dialog", lambda dialog: dialog.accept())
    item.locator(".revoke").click()
    expect(item).to_contain_text("Revoked")
    page.evaluate("key => localStorage.setItem('rrweb.key.demo', key)", second_key)
    renewed_recording, renewed_key = record_demo(page, stack, second, keys)
    assert renewed_key != second_key
    assert renewed_recording in recording_ids(stack, second)
    assert sorted(key["revoked"] for key in demo_keys(stack, second)) == [False, True]


def site_config(stack: RunningStack) -> dict[str, Any]:
    return requests.get(f"{stack.site}/config.json", timeout=30).json()


def snippet_for(stack: RunningStack, ingest_url: str, key: str) -> str:
    return (
        f'<script src="{stack.site}/assets/recorder.js" async\n'
        f'        data-ingest-url="{ingest_url}" data-ingest-key="{key}"></script>'
    )


def create_key(page: Page, name: str) -> str:
    page.fill("#key-name", name)
    page.click("#create-key button")
    value = page.locator("#new-key-value")
    expect(value).to_have_text(re.compile(r"^rrk_[0-9a-f]{16}_"))
    return value.inner_text()


def test_keys_page_snippet_has_the_real_addresses_and_the_new_key_and_copies(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.site)
    # A deployment serving the API under the site's own domain writes a relative ingestUrl.
    config = {**site_config(stack), "ingestUrl": "/ingest/"}
    page.route(f"{stack.site}/config.json", lambda route: route.fulfill(json=config))
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")

    snippet = page.locator("#snippet")
    expect(snippet).to_contain_text("CREATE_A_KEY_ABOVE")
    expect(page.locator("#snippet-needs-key")).to_be_visible()
    expect(page.locator("#copy-snippet")).to_be_disabled()
    expect(page.locator("#identify-snippet")).to_contain_text('RrwebS3.identify("')

    key = create_key(page, f"site {uuid.uuid4().hex[:6]}")
    # The scheme the site is served on (http here), never a hard-coded https.
    expected = snippet_for(stack, f"{stack.site}/ingest", key)
    expect(snippet).to_have_text(expected)
    expect(page.locator("#snippet-needs-key")).to_be_hidden()
    page.click("#copy-snippet")
    expect(page.locator("#copy-snippet")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    artifact(page, "keys-page")


def test_the_create_form_does_nothing_until_the_page_script_runs_then_makes_one_key(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    # A slow connection: the page is shown while its script is still on the way.
    held: list[Route] = []
    page.route(f"{stack.site}/assets/keys.js", lambda route: held.append(route))
    submissions: list[str] = []

    def note(request: Request) -> None:
        if request.url.startswith(f"{stack.site}/keys.html?"):
            submissions.append(request.url)

    page.on("request", note)
    signed_in(page, stack, account)
    name = f"early {uuid.uuid4().hex[:6]}"
    with page.expect_request(f"{stack.site}/assets/keys.js"):
        page.goto(f"{stack.site}/keys.html", wait_until="commit")
    page.fill("#key-name", name)
    create = page.locator("#create-key button")
    create.click(force=True)
    page.press("#key-name", "Enter")
    # Time for a form submission, had there been one, to leave (it starts at once).
    page.wait_for_timeout(500)
    assert submissions == []
    expect(create).to_be_disabled()
    assert held, "the script was held"

    held[0].continue_()
    create.click()  # waits for the script to enable it
    expect(page.locator("#new-key-value")).to_have_text(re.compile(r"^rrk_[0-9a-f]{16}_"))
    assert page.url == f"{stack.site}/keys.html"
    assert submissions == []
    listed = account["http"].get(f"{stack.api}/keys", headers=account["headers"], timeout=30)
    assert listed.ok, listed.text
    assert [key["name"] for key in listed.json()["keys"]].count(name) == 1


def test_copy_falls_back_to_selecting_the_snippet_without_the_clipboard_api(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined })")
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")
    key = create_key(page, "fallback")
    page.click("#copy-snippet")
    expect(page.locator("#copy-snippet")).to_have_text("Copied")
    selected = page.evaluate("String(getSelection())")
    assert selected == snippet_for(stack, site_config(stack)["ingestUrl"].rstrip("/"), key)


def test_the_copied_snippet_records_a_page_on_another_origin(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")
    create_key(page, "pasted")
    snippet = page.locator("#snippet").inner_text()
    # Pasted into a page of another site (a fragment's scripts run when inserted).
    page.goto(f"{other_origin}/article.html")
    page.evaluate("html => document.body.append(document.createRange().createContextualFragment(html))", snippet)
    page.wait_for_function("window.RrwebS3 && window.RrwebS3.recorder")
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    page.evaluate("window.RrwebS3.recorder.flush()")

    def arrived() -> None:
        assert recording_id in recording_ids(stack, account), "the pasted snippet's recording never arrived"

    eventually(arrived)


def test_a_stopped_demo_opens_as_a_replay_at_once_never_live(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    stopped_demo(page, stack, account)
    # Straight away, as a newcomer follows "Saved · Replay": a replay with its controls,
    # not a live view, and it holds everything up to the stop.
    page.locator("#status a", has_text="Replay").click()
    expect(page.locator(".rr-controller")).to_be_visible(timeout=30_000)
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#moment-list")).to_contain_text("Recording ended", timeout=20_000)
    expect(page.locator("#moment-list")).to_contain_text("Click")
    page.goto(f"{stack.site}/index.html")
    card = page.locator("#recordings > article").first
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".badge.live")).to_have_count(0)


def test_the_keys_page_tells_when_a_key_was_used_and_that_a_revoked_one_is_still_sent(
    page: Page, stack: RunningStack, account: dict[str, Any]
) -> None:
    http, headers = account["http"], account["headers"]
    key = http.post(f"{stack.api}/keys", json={"name": "old landing page"}, headers=headers, timeout=30).json()
    used = requests.post(
        f"{stack.api}/recordings?ingestKey={key['key']}", data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert used.status_code == 201, used.text
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")
    row = page.locator(f"#keys li[data-id='{key['id']}']")
    expect(row.locator(".key-used")).to_contain_text("last used")
    assert http.delete(f"{stack.api}/keys/{key['id']}", headers=headers, timeout=30).status_code == 204
    refused = requests.post(
        f"{stack.api}/recordings?ingestKey={key['key']}", data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert refused.status_code == 401
    page.reload()
    expect(row.locator(".key-used")).to_contain_text("Still sent by a page: refused once")


def test_controls_set_on_a_key_in_the_site_rule_the_pages_whose_snippet_reads_them(
    page: Page, stack: RunningStack, account: dict[str, Any], other_origin: str
) -> None:
    signed_in(page, stack, account)
    page.goto(f"{stack.site}/keys.html")
    key = create_key(page, "private pages")
    page.check("#snippet-key-controls")
    snippet = page.locator("#snippet").inner_text()
    assert "data-key-controls" in snippet
    row = page.locator("#keys li", has_text="private pages")
    row.locator(".key-controls summary").click()
    form = row.locator(".key-controls-form")
    # Values the API would refuse are said next to their fields, all at once, and nothing is sent.
    form.locator("[name=sampleRate]").fill("150")
    form.locator("[name=urlAllow]").fill("not a pattern with spaces")
    form.locator("[name=minimumDurationMs]").press_sequentially("5e")
    form.locator("button[type=submit]").click()
    expect(form.locator(".key-controls-status")).to_have_text("Not saved: 3 fields to correct.")
    expect(form.locator(".field-error[data-for=sampleRate]")).to_have_text("Sample rate: a number from 0 to 100.")
    expect(form.locator(".field-error[data-for=minimumDurationMs]")).to_have_text("Minimum visit: not a number.")
    expect(form.locator(".field-error[data-for=urlAllow]")).to_contain_text("line 1: a pattern starts with https://")
    expect(form.locator("[name=sampleRate]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[name=sampleRate]")).to_be_focused()
    form.locator("[name=urlAllow]").fill("")
    form.locator("[name=minimumDurationMs]").fill("")
    form.locator("[name=sampleRate]").fill("100")
    form.locator("[name=urlDeny]").fill("*/account*")
    form.locator("[name=maskAllText]").check()
    form.locator("button[type=submit]").click()
    expect(form.locator(".key-controls-status")).to_contain_text("Saved")
    expect(row.locator(".controls-summary")).to_have_text("100% of visits, 1 URL rule never to record, text masked")
    page.reload()
    expect(page.locator("#keys li", has_text="private pages").locator(".controls-summary")).to_contain_text(
        "text masked"
    )

    # The pasted snippet reads them: the page's text is masked though the snippet says nothing of it.
    page.goto(f"{other_origin}/private.html")
    page.evaluate("html => document.body.append(document.createRange().createContextualFragment(html))", snippet)
    page.wait_for_function("window.RrwebS3 && window.RrwebS3.recorder")
    recording_id = page.evaluate("window.RrwebS3.recorder.id")
    page.evaluate("window.RrwebS3.recorder.flush()")
    http, headers = account["http"], account["headers"]

    def stored() -> str:
        answer = http.get(f"{stack.api}/recordings/{recording_id}/events", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert "*******" in answer.text, "the page's events arrived"
        return answer.text

    text = eventually(stored)
    assert "Welcome back" not in text
    assert "Jane" not in text
    assert key.split("_")[1] in page.evaluate("performance.getEntriesByType('resource').map((r) => r.name).join(' ')")

    # Allowed on another site only: this page's requests are refused, and the keys page says where from.
    page.goto(f"{stack.site}/keys.html")
    row = page.locator("#keys li", has_text="private pages")
    row.locator(".key-controls summary").click()
    form = row.locator(".key-controls-form")
    form.locator("[name=allowedOrigins]").fill("https://shop.example\nnot an origin")
    form.locator("button[type=submit]").click()
    expect(form.locator(".field-error[data-for=allowedOrigins]")).to_contain_text("Allowed origins, line 2")
    form.locator("[name=allowedOrigins]").fill("https://shop.example")
    form.locator("button[type=submit]").click()
    expect(row.locator(".controls-summary")).to_contain_text("only on https://shop.example")
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.goto(f"{other_origin}/article.html")
    page.evaluate("html => document.body.append(document.createRange().createContextualFragment(html))", snippet)
    page.wait_for_function("window.RrwebS3 && window.RrwebS3.recorder")
    page.evaluate("window.RrwebS3.recorder.flush()")
    expect(page.locator("body")).to_be_visible()
    eventually(lambda: assert_refused(warnings))
    page.goto(f"{stack.site}/keys.html")
    expect(page.locator("#keys li", has_text="private pages").locator(".key-trouble")).to_contain_text(
        f"Refused on {other_origin}, not one of its allowed origins"
    )


def assert_refused(warnings: list[str]) -> None:
    assert any("not allowed on" in text for text in warnings), warnings
