"""The recorder in a real browser: requests and bytes per recorded minute.

A scripted 60-second session on the demo page in headless Chromium (Debian's), against
the local stack. Requests are counted from the stack's own request log, so CORS
preflights count too (the page cannot see them); bytes on the wire are the request
bodies the browser sent, compared with the same events as uncompressed JSON (as the
API returns them). The baseline is the original prototype's one request per event.
The recorder's own measure of the longest any event waited before its batch left shows
the request count is not bought with latency.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.integration.conftest import start_stack
from tests.support.accounts import PASSWORD, sign_up_and_in

SESSION_S = 60


def _script(page: Any, seconds: float) -> None:
    """A person using the page: clicks, typing, choices, scrolling, pointer movement."""
    actions = [
        lambda i: page.click("#like"),
        lambda i: page.type("#search", "abcdefghij"[i % 10], delay=30),
        lambda i: page.locator("#scroller").evaluate(f"el => el.scrollTo(0, {(i * 37) % 3000})"),
        lambda i: page.mouse.move(100 + (i * 53) % 900, 150 + (i * 29) % 500, steps=5),
        lambda i: page.click("#share"),
        lambda i: page.type("#email", "x", delay=30),
        lambda i: page.select_option("#plan", ["Free", "Team", "Enterprise"][i % 3]),
        lambda i: page.click("#newsletter"),
    ]
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        actions[i % len(actions)](i)
        i += 1
        page.wait_for_timeout(400)


def run(tmp: Path) -> dict[str, Any]:
    """Record one scripted minute and measure what went over the wire."""
    stack = start_stack(tmp / "data")
    try:
        http = requests.Session()
        email, headers = sign_up_and_in(stack.api, http)
        tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            bodies: list[int] = []
            screenshot_bytes: list[int] = []

            def on_request(request: Any) -> None:
                if request.method != "POST":
                    return
                size = len(request.post_data_buffer or b"")
                if "ingestKey=" in request.url:
                    bodies.append(size)
                elif request.url.startswith(stack.aws):
                    screenshot_bytes.append(size)

            page.on("request", on_request)
            page.goto(f"{stack.site}/index.html")
            page.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
            page.goto(f"{stack.site}/demo.html")
            page.wait_for_function("window.__recorder")
            started = time.monotonic()
            log_start = stack.log.stat().st_size
            recording_id = page.evaluate("window.__recorder.id")
            _script(page, SESSION_S)
            page.click("#stop")
            page.wait_for_selector("text=Saved", timeout=30_000)
            minutes = (time.monotonic() - started) / 60
            stats = page.evaluate("window.__recorder.stats")
            browser.close()
        time.sleep(2)  # delivery
        log = stack.log.read_text()[log_start:]
        api_requests = len(re.findall(rf'"(POST|OPTIONS) /recordings(/{recording_id}/events)?\?', log))
        preflights = len(re.findall(r'"OPTIONS /recordings', log))
        events = http.get(f"{stack.api}/recordings/{recording_id}/events", headers=headers, timeout=60).content
        event_count = len(events.splitlines())
        json_bytes = len(events)
    finally:
        stack.stop()
    wire = sum(bodies)
    result = {
        "session_seconds": round(minutes * 60, 1),
        "events": event_count,
        "events_per_minute": round(event_count / minutes, 1),
        "api_requests": api_requests,
        "cors_preflights": preflights,
        "requests_per_minute": round(api_requests / minutes, 2),
        "screenshot_uploads": len(screenshot_bytes),
        "requests_per_minute_with_screenshot": round((api_requests + len(screenshot_bytes)) / minutes, 2),
        "baseline_requests_per_minute_one_per_event": round(event_count / minutes, 1),
        "bytes_on_wire": wire,
        "events_json_bytes": json_bytes,
        "bytes_ratio": round(json_bytes / wire, 2) if wire else None,
        "bytes_on_wire_per_minute": round(wire / minutes),
        "max_event_wait_s": round(stats["maxWaitMs"] / 1000, 2),
        "recorder_gave_up": stats["gaveUp"],
    }
    print(
        f"browser: {result['session_seconds']} s on the demo page, {event_count} events: "
        f"{api_requests} API requests ({preflights} preflights) = {result['requests_per_minute']}/min "
        f"(+{len(screenshot_bytes)} screenshot upload; "
        f"baseline {result['baseline_requests_per_minute_one_per_event']}/min); "
        f"{wire} bytes on the wire vs {json_bytes} bytes of JSON = {result['bytes_ratio']}x fewer; "
        f"no event waited more than {result['max_event_wait_s']} s to be sent"
    )
    return result


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp)), indent=2))
