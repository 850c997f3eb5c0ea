"""The recorder tells the truth: the bookmarklet's badge says Saved only once the API acknowledged everything.

Also: the badge itself never appears in what is recorded, and the bookmarklet tells a page
whose Content-Security-Policy refuses our script from a site it cannot reach.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.e2e.test_backpressure import ingest_route
from tests.e2e.test_browser import bookmarklet_code
from tests.support.local_stack import RunningStack, free_port
from tests.support.waiting import eventually

PAGES = Path(__file__).parent / "pages"
# Path prefixes under which the pages come with a Content-Security-Policy.
POLICIES = {
    "/csp-connect/": "connect-src 'self'",  # scripts from anywhere, requests only to this origin
    "/csp-scripts/": "script-src 'self' 'unsafe-inline'",  # no outside scripts
}
BADGE = "#rrweb-s3-badge"


@dataclass(frozen=True)
class PagesSite:
    """A second origin serving the test pages from a folder tests may add generated pages to."""

    url: str
    directory: Path


class _PagesHandler(SimpleHTTPRequestHandler):
    policy: str | None = None

    def do_GET(self) -> None:
        for prefix, policy in POLICIES.items():
            if self.path.startswith(prefix):
                self.policy = policy
                self.path = "/" + self.path[len(prefix) :]
        super().do_GET()

    def end_headers(self) -> None:
        if self.policy:
            self.send_header("Content-Security-Policy", self.policy)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def pages_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesSite]:
    """The pages of tests/e2e/pages on an origin of their own, with CSP variants under /csp-*/."""
    directory = tmp_path_factory.mktemp("pages")
    shutil.copytree(PAGES, directory, dirs_exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_PagesHandler, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield PagesSite(url=f"http://127.0.0.1:{server.server_address[1]}", directory=directory)
    server.shutdown()
    server.server_close()


def stored_events(account: dict[str, Any], api: str, recording_id: str, *, at_least: int) -> list[Any]:
    """Every stored event of a recording, read with the account's token page by page.

    Asks for gzip pages (the binary type first), which is how an event larger than one
    uncompressed page (a big page's snapshot) can be read. Polled until at least
    ``at_least`` events are there (delivery is asynchronous).
    """
    headers = {**account["headers"], "Accept": "application/x-ndjson", "Accept-Encoding": "gzip"}
    events: list[Any] = []

    def caught_up() -> bool:
        events.clear()
        after: str | None = None
        while True:
            response = account["http"].get(
                f"{api}/recordings/{recording_id}/events",
                params={"after": after} if after else None,
                headers=headers,
                timeout=60,
            )
            if response.status_code == 404:  # not created yet
                break
            response.raise_for_status()
            events.extend(json.loads(line) for line in response.content.splitlines() if line)
            after = response.headers.get("X-Next-Cursor")
            if not after:
                break
        assert len(events) >= at_least, f"{len(events)} of {at_least} events stored"
        return True

    eventually(caught_up, 60)
    return events


def described(account: dict[str, Any], api: str, recording_id: str) -> Any:
    """GET /recordings/{id} with the account's token: the recording, or None if there is none."""
    response = account["http"].get(f"{api}/recordings/{recording_id}", headers=account["headers"], timeout=30)
    return response.json() if response.ok else None


def ingest_key(account: dict[str, Any], api: str, name: str) -> dict[str, Any]:
    """A new named ingest key of the account: {id, key, ...}."""
    response = account["http"].post(f"{api}/keys", headers=account["headers"], json={"name": name}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def load_bookmarklet_script(page: Page, stack: RunningStack, key: str) -> None:
    """What the bookmarklet link does, with a key of the test's choosing."""
    page.evaluate(
        """([src, key, ingest, site]) => {
            const s = document.createElement("script");
            Object.assign(s.dataset, { key, ingest, site });
            s.src = src;
            document.head.append(s);
        }""",
        [f"{stack.site}/assets/bookmarklet.js", key, stack.api, stack.site],
    )
    page.wait_for_function("window.__rrwebS3", timeout=10_000)


def badge_label(page: Page) -> Locator:
    return page.locator(BADGE).locator("[role=status]")


def node_ids(node: dict[str, Any]) -> Iterator[int]:
    """The ids of a serialised node and all of its descendants."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current["id"]
        stack.extend(current.get("childNodes", []))


def test_the_badge_says_saved_only_once_acknowledged_and_is_never_recorded(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    code = bookmarklet_code(page, stack, account)
    page.goto(f"{pages_site.url}/article.html")
    page.evaluate(code)
    badge = page.locator(BADGE)
    expect(badge).to_contain_text("Recording")
    page.hover(BADGE)  # pointer moves over the badge: recorded against the page instead
    page.click("#clap")
    page.type("#comment", "nice page", delay=20)
    page.hover(BADGE)
    recording_id = page.evaluate("window.__rrwebS3.id")

    # The API has not answered yet: Saving…, never Saved.
    held: list[Route] = []
    holding = {"on": True}

    def hold(route: Route) -> None:
        if route.request.method == "POST" and holding["on"]:
            held.append(route)
        else:
            route.fallback()

    page.route(ingest_route(stack), hold)
    badge.locator("button").click()
    expect(badge_label(page)).to_contain_text("Saving…")
    page.wait_for_timeout(1000)
    expect(badge).not_to_contain_text("Saved")
    expect(badge.locator("a")).to_be_hidden()
    assert held, "the last batch waits for the API"
    holding["on"] = False
    for route in held:
        route.fallback()
    expect(badge).to_contain_text("Saved · Replay", timeout=20_000)
    expect(badge.locator("a")).to_have_attribute("href", f"{stack.site}/replay.html?id={recording_id}")
    result = page.evaluate("window.__rrwebS3.status()")
    assert (result["state"], result["pending"], result["gaveUp"]) == ("saved", 0, 0)

    # Nothing of the badge is in the recording: no element, no placeholder, no text, and
    # no event pointing at a node the replay would not have.
    emitted = page.evaluate("window.__rrwebS3.stats.emitted")
    events = stored_events(account, stack.api, recording_id, at_least=emitted)
    assert len(events) == emitted
    text = json.dumps(events)
    for trace in ("rrweb-s3-badge", "rr_width", "● Recording", "Saving…", "Replay"):
        assert trace not in text, trace
    snapshot = next(e for e in events if e["type"] == 2)
    html = next(n for n in snapshot["data"]["node"]["childNodes"] if n.get("tagName") == "html")
    assert [n["tagName"] for n in html["childNodes"] if n["type"] == 2] == ["head", "body"]
    known = set(node_ids(snapshot["data"]["node"]))
    for event in events:
        data = event.get("data", {})
        if event["type"] == 3 and data.get("source") == 0:
            for add in data["adds"]:
                known.update(node_ids(add["node"]))
    moves = [e["data"] for e in events if e["type"] == 3 and e["data"].get("source") in (1, 6, 12)]
    positions = [p for move in moves for p in move["positions"]]
    assert positions, "the pointer moves were recorded"
    assert all(p["id"] in known for p in positions)
    interactions = [e["data"]["id"] for e in events if e["type"] == 3 and e["data"].get("source") == 2]
    assert interactions
    assert all(i in known for i in interactions)


def test_a_page_whose_csp_refuses_the_api_says_so_instead_of_saved(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    code = bookmarklet_code(page, stack, account)
    page.goto(f"{pages_site.url}/csp-connect/article.html")
    page.evaluate(code)  # our script may load here; requests to the API may not
    badge = page.locator(BADGE)
    expect(badge).to_contain_text("Recording")
    page.click("#clap")
    page.evaluate("() => { window.__rrwebS3.flush(); }")
    expect(badge_label(page)).to_have_text("Not saved: blocked by this page's Content-Security-Policy")
    status = page.evaluate("window.__rrwebS3.status()")
    assert status["state"] == "failed"
    assert status["lastError"]["reason"] == "blocked"
    assert status["acknowledged"] == 0

    badge.locator("button").click()
    expect(badge_label(page)).to_have_text("Not saved: blocked by this page's Content-Security-Policy")
    expect(badge.locator("a")).to_be_hidden()
    result = page.evaluate("window.__rrwebS3.stop()")
    assert (result["drained"], result["state"]) == (False, "failed")
    assert described(account, stack.api, result["id"]) is None
    # The key's owner hears of it: the recorder's report arrived as an image, which this
    # page's policy (connect-src only) lets through.
    http, headers = account["http"], account["headers"]

    def reported() -> dict[str, Any]:
        keys = http.get(f"{stack.api}/keys", headers=headers, timeout=30).json()["keys"]
        (key,) = [key for key in keys if key["purpose"] == "bookmarklet" and not key["revoked"]]
        assert key["blockedDirective"] == "connect-src", key
        return key

    assert eventually(reported)["blockedUri"] == stack.api.rstrip("/").lower()


def test_a_revoked_key_says_the_key_was_refused(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    key = ingest_key(account, stack.api, "revoked before use")
    revoked = account["http"].delete(f"{stack.api}/keys/{key['id']}", headers=account["headers"], timeout=30)
    assert revoked.status_code == 204
    page.goto(f"{pages_site.url}/article.html")
    load_bookmarklet_script(page, stack, key["key"])
    page.click("#clap")
    page.evaluate("() => { window.__rrwebS3.flush(); }")
    expect(badge_label(page)).to_contain_text("Not saved: the ingest key was refused")
    page.locator(BADGE).locator("button").click()
    expect(badge_label(page)).to_contain_text("Not saved: the ingest key was refused")
    expect(page.locator(BADGE)).not_to_contain_text("Saved")
    status = page.evaluate("window.__rrwebS3.status()")
    assert status["state"] == "failed"
    assert status["lastError"]["reason"] == "key_refused"
    assert status["lastError"]["status"] in (401, 403)
    # The page is not kept busy by a dead key: no request after the refusal, one warning.
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.url.startswith(stack.api) else None)
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    for _ in range(3):
        page.click("#clap")
    page.evaluate("() => { window.__rrwebS3.flush(); }")
    page.wait_for_timeout(3000)
    assert sent == []
    page.reload()
    load_bookmarklet_script(page, stack, key["key"])
    page.click("#clap")
    page.wait_for_timeout(2000)
    assert sent == [], "the tab's next page does not try the refused key again"


def test_the_bookmarklet_tells_a_csp_refusal_from_an_unreachable_site(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    code = bookmarklet_code(page, stack, account)

    page.goto(f"{pages_site.url}/csp-scripts/article.html")
    page.evaluate(code)
    banner = page.locator("#rrweb-s3-csp-banner")
    expect(banner).to_have_text(
        f"Recording is blocked on this page: its Content-Security-Policy does not allow scripts from {stack.site}."
    )
    expect(page.locator("#rrweb-s3-unreachable-banner")).to_have_count(0)
    assert page.evaluate("window.__rrwebS3 === undefined")

    page.route(f"{stack.site}/assets/bookmarklet.js", lambda route: route.abort("connectionrefused"))
    page.goto(f"{pages_site.url}/article.html")
    page.evaluate(code)
    expect(page.locator("#rrweb-s3-unreachable-banner")).to_contain_text(f"{stack.site} is unreachable")
    expect(page.locator("#rrweb-s3-csp-banner")).to_have_count(0)
    assert re.search(r"try again later", page.locator("#rrweb-s3-unreachable-banner").inner_text(), re.IGNORECASE)


def test_while_the_api_does_not_answer_the_badge_shows_the_backlog_and_the_next_retry(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    code = bookmarklet_code(page, stack, account)
    outage = {"on": True}

    def handle(route: Route) -> None:
        if route.request.method == "POST" and outage["on"]:
            route.abort("connectionrefused")
        else:
            route.fallback()

    page.route(ingest_route(stack), handle)
    page.goto(f"{pages_site.url}/article.html")
    page.evaluate(code)
    # The bookmarklet loads the recorder from the site before it starts.
    page.wait_for_function("window.__rrwebS3", timeout=10_000)
    for _ in range(2):
        page.click("#clap")
        page.evaluate("() => { window.__rrwebS3.flush(); }")
    expect(badge_label(page)).to_have_text(
        re.compile(r"^● Recording · Saving… 2 batches waiting, the API is unreachable, retrying in \d+ s$")
    )
    expect(page.locator(BADGE).locator("button")).to_be_visible()

    outage["on"] = False
    expect(badge_label(page)).to_have_text("● Recording", timeout=40_000)
    page.locator(BADGE).locator("button").click()
    expect(page.locator(BADGE)).to_contain_text("Saved · Replay", timeout=20_000)
