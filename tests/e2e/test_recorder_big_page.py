"""A page whose first snapshot is larger than the recorder's backlog budget, recorded end to end.

Shaped like Python's genindex-all.html: 1.7 MB of HTML, an index of links in nested
lists, whose rrweb snapshot is several MB of JSON. Generated when the test runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request, expect

from chalicelib import settings
from tests.e2e import test_recorder_status
from tests.e2e.test_browser import bookmarklet_code
from tests.e2e.test_recorder_status import BADGE, PagesSite, described, stored_events
from tests.support.browser import recorder_body
from tests.support.local_stack import RunningStack

pages_site = test_recorder_status.pages_site

# What the API takes in one request.
MAX_BODY_BYTES = settings.MAX_BODY_BYTES
MODULES = ["asyncio", "collections", "email", "functools", "http.client", "importlib", "os", "pathlib", "typing"]
KINDS = ["function", "method", "class", "attribute", "exception", "module", "data"]


def genindex_html(target_bytes: int = 1_700_000) -> str:
    """An index page like docs.python.org's genindex-all.html, about ``target_bytes`` long."""
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Index — Python documentation</title>'
        "<style>table.indextable td { vertical-align: top } ul { margin: 0 }</style></head>\n"
        '<body><div class="document"><div class="body" role="main"><h1 id="index">Index</h1>\n'
    )
    parts = [head]
    size = len(head)
    letters = "_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    per_letter = 0
    entry = 0
    while size < target_bytes:
        letter = letters[(entry // 500) % len(letters)]
        if per_letter == 0:
            parts.append(f'<h2 id="{letter}">{letter}</h2>\n<table class="indextable genindextable"><tr><td><ul>\n')
        module = MODULES[entry % len(MODULES)]
        name = f"{letter.lower()}{entry:05d}_{module.replace('.', '_')}"
        kind = KINDS[entry % len(KINDS)]
        item = (
            f'<li><a href="library/{module}.html#{module}.{name}"><code class="xref">{name}()</code></a> '
            f"({kind} in {module})\n<ul><li>"
            f'<a href="library/{module}.html#index-{entry}">[{module}] {kind}</a></li></ul></li>\n'
        )
        parts.append(item)
        size += len(item)
        entry += 1
        per_letter += 1
        if per_letter == 500:
            parts.append("</ul></td></tr></table>\n")
            per_letter = 0
    parts.append("</ul></td></tr></table>\n</div></div></body></html>\n")
    return "".join(parts)


def write_genindex(directory: Path) -> str:
    """Writes genindex-all.html into the pages' folder; returns its HTML."""
    page = genindex_html()
    (directory / "genindex-all.html").write_text(page, encoding="utf-8")
    return page


def test_a_page_larger_than_the_backlog_budget_is_recorded_once_and_whole(
    page: Page, stack: RunningStack, account: dict[str, Any], pages_site: PagesSite
) -> None:
    html = write_genindex(pages_site.directory)
    assert 1_650_000 < len(html.encode()) < 1_800_000
    code = bookmarklet_code(page, stack, account)
    sent: list[tuple[str, int, int]] = []

    def ingest(request: Request) -> None:
        if request.method == "POST" and request.url.startswith(f"{stack.ingest}/recordings"):
            body = request.post_data_buffer or b""
            sent.append((request.url.split("?")[0], len(body), len(recorder_body(body))))

    page.on("request", ingest)
    page.goto(f"{pages_site.url}/genindex-all.html")
    page.evaluate(code)
    page.wait_for_function("window.__rrwebS3", timeout=30_000)
    recording_id = page.evaluate("window.__rrwebS3.id")
    # The snapshot is far over maxBatchBytes: it leaves at once, in a request of its own.
    page.wait_for_function("window.__rrwebS3.status().acknowledged >= 2", timeout=60_000)
    page.mouse.move(200, 300)
    page.mouse.wheel(0, 4000)
    page.hover("a >> nth=40")
    page.wait_for_timeout(500)
    status = page.evaluate("window.__rrwebS3.status()")
    assert (status["state"], status["paused"], status["dropped"], status["gaveUp"]) == ("recording", False, 0, 0)

    page.locator(BADGE).locator("button").click()
    expect(page.locator(BADGE)).to_contain_text("Saved · Replay", timeout=60_000)
    stats = page.evaluate("window.__rrwebS3.stats")
    result = page.evaluate("window.__rrwebS3.status()")
    assert (result["state"], result["dropped"], result["gaveUp"]) == ("saved", 0, 0)

    # One create, then the snapshot once, within the API's limits; no loop of snapshots.
    assert sent[0][0] == f"{stack.ingest}/recordings"
    assert max(wire for _, wire, _ in sent) <= MAX_BODY_BYTES
    big = [inflated for _, _, inflated in sent if inflated > 1_000_000]
    assert len(big) == 1
    assert big[0] > 5_000_000
    assert len(sent) == stats["requests"] <= 6

    assert described(account, stack.api, recording_id)["url"] == f"{pages_site.url}/genindex-all.html"
    events = stored_events(account, stack.api, recording_id, at_least=stats["emitted"])
    assert len(events) == stats["emitted"]
    snapshots = [e for e in events if e["type"] == 2]
    assert len(snapshots) == 1
    snapshot = json.dumps(snapshots[0])
    assert len(snapshot) > 5_000_000
    names = re.findall(r'<code class="xref">([^<]+)\(\)</code>', html)
    assert names[0] in snapshot
    assert names[-1] in snapshot, "the snapshot holds the whole page"
    assert [e["type"] for e in events[:2]] == [4, 2]
