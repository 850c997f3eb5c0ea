"""The recorder in a real browser: requests and bytes per recorded minute, and live replay.

A scripted 60-second session on the demo page in headless Chromium (Debian's), against
the local stack. Requests are counted from the stack's own request log, so CORS
preflights count too (the page cannot see them); bytes on the wire are the request
bodies the browser sent, compared with the same events as uncompressed JSON (as the
API returns them). The baseline is the original prototype's one request per event.
The recorder's own measure of the longest any event waited before its batch left shows
what the request count costs in latency. Unwatched, the steady rate is the ingest
requests the page sent during the scripted minute (the create and the stop's final
flush are once per recording, and counted in the total from the log).

Then a second recording is watched live from another browser context (the owner's
replay page): the recorder's request rate while watched, and how long a click on the
recorded page takes to show on the watcher's screen, from the click event's own
timestamp to the moment the watcher's player casts it (one machine, one clock).

Last, recordings in progress that nobody watched are opened: each trial records a fresh
visit unwatched for 12 to 22 s, clicks, and at once opens the replay page; the figure is
the time from opening it until the watcher's screen shows that click (the page's latest
event), with prod's own windows (the local stack runs prod's event source mapping
settings: ``--stack prod``). The recorder hears it is watched with its next batch's
answer and sends a full snapshot the watched way; the batches before it wait out the
unwatched consumer's window.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

import local  # noqa: F401  (puts api/ on the import path)
from bench.stats import percentile
from infra.settings import StackSettings
from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.local_stack import start_stack

SESSION_S = 60
# Enough clicks that the p95 is not simply the slowest one (with 10 it was the maximum).
LIVE_CLICKS = 30
# Recordings opened while nobody watched them, each at another phase of the 10 s flush.
# The stack whose settings the local stack runs (``python -m local --stack``).
STACK = "prod"
WINDOW_S = StackSettings.from_stack_file(Path(__file__).parents[1], STACK).consumer_unwatched_window_seconds
OPENED_TRIALS = 8
OPENED_TIMEOUT_S = 40
INGEST = "ingestKey="


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


def _busy(page: Any, seconds: float, *, until: str | None = None) -> None:
    """Pointer movement and typing (never the like counter), so batches keep coming."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        page.mouse.move(200 + (i * 67) % 700, 200 + (i * 41) % 400, steps=4)
        if i % 5 == 0:
            page.type("#search", "abcdefghij"[i % 10], delay=10)
        page.wait_for_timeout(200)
        i += 1
        if until and page.evaluate(until):
            return


def _watched(browser: Any, stack: Any, tokens: dict[str, Any]) -> dict[str, Any]:
    """Record the demo page while its owner watches live; requests and click-to-screen latency."""
    recorder_context = browser.new_context(viewport={"width": 1280, "height": 800})
    watcher_context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = recorder_context.new_page()
        sent: list[float] = []
        page.on("request", lambda r: sent.append(time.monotonic()) if r.method == "POST" and INGEST in r.url else None)
        page.goto(f"{stack.site}/index.html")
        page.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
        page.goto(f"{stack.site}/demo.html")
        page.wait_for_function("window.__recorder")
        # The create itself (the page's question about its assets also carries the key).
        with page.expect_response(lambda r: "/recordings?" in r.url and r.request.method == "POST", timeout=20_000):
            page.evaluate("window.__recorder.flush()")  # a recording is live once it took a batch
        recording_id = page.evaluate("window.__recorder.id")

        watcher = watcher_context.new_page()
        watcher.goto(f"{stack.site}/index.html")
        watcher.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
        opened = time.monotonic()
        watcher.goto(f"{stack.site}/replay.html?id={recording_id}")
        watcher.wait_for_function("window.__player", timeout=30_000)
        watcher.evaluate(
            """() => {
                window.__shown = [];
                window.__player.getReplayer().on("event-cast", (e) => {
                    if (e.type === 3 && e.data.source === 2 && e.data.type === 2)
                        window.__shown.push({ at: e.timestamp, shown: Date.now() });
                });
            }"""
        )
        # The recorder hears it is watched in the answer to its next batch.
        _busy(page, 30, until="window.__recorder.live")
        switched_s = time.monotonic() - opened
        live = page.evaluate("window.__recorder.live")
        start, first = time.monotonic(), len(sent)
        for i in range(LIVE_CLICKS):
            # Uneven spacing, so the clicks fall at every phase of the 2 s flush clock.
            _busy(page, 1.5 + (i * 0.37) % 1.0)
            page.click("#like")
        _busy(page, 8)  # the last click's batch, delivery and a poll
        watched_minutes = (time.monotonic() - start) / 60
        watched_requests = len(sent) - first
        shown = watcher.evaluate("window.__shown")
        likes = watcher.frame_locator(".replayer-wrapper iframe").locator("#likes").inner_text()
        badge = watcher.locator("#live-state").inner_text()
    finally:
        watcher_context.close()
        recorder_context.close()
    latencies = [(entry["shown"] - entry["at"]) / 1000 for entry in shown]
    return {
        "recorder_heard_watched_after_s": round(switched_s, 1),
        "recorder_live": live,
        "watcher_badge": badge,
        "requests_per_minute_watched": round(watched_requests / watched_minutes, 1),
        "clicks": LIVE_CLICKS,
        "clicks_shown": len(latencies),
        "likes_on_watcher_screen": likes,
        "click_to_screen_s_p50": round(percentile(latencies, 0.5), 2) if latencies else None,
        "click_to_screen_s_p95": round(percentile(latencies, 0.95), 2) if latencies else None,
        "click_to_screen_s_max": round(max(latencies), 2) if latencies else None,
    }


def _opened(browser: Any, stack: Any, tokens: dict[str, Any]) -> dict[str, Any]:
    """Open recordings in progress that nobody watched: seconds until the latest click shows."""
    waits: list[float] = []
    for trial in range(OPENED_TRIALS):
        recorder_context = browser.new_context(viewport={"width": 1280, "height": 800})
        watcher_context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = recorder_context.new_page()
            page.goto(f"{stack.site}/index.html")
            page.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
            page.goto(f"{stack.site}/demo.html")
            page.wait_for_function("window.__recorder")
            with page.expect_response(lambda r: "/recordings?" in r.url and r.request.method == "POST", timeout=20_000):
                page.evaluate("window.__recorder.flush()")
            recording_id = page.evaluate("window.__recorder.id")
            # Unwatched for a while: the open falls at another phase of the flush clock each time.
            _busy(page, 12 + (trial * 1.3) % 10)
            page.click("#like")
            likes = page.locator("#likes").inner_text()
            watcher = watcher_context.new_page()
            watcher.goto(f"{stack.site}/index.html")
            watcher.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
            opened = time.monotonic()
            watcher.goto(f"{stack.site}/replay.html?id={recording_id}")
            shown = watcher.frame_locator(".replayer-wrapper iframe").locator("#likes")
            while time.monotonic() - opened < OPENED_TIMEOUT_S:
                page.mouse.move(200 + (time.monotonic() * 37) % 400, 300)  # the visitor carries on
                # Until the player's frame exists, reading it times out.
                with contextlib.suppress(PlaywrightTimeoutError):
                    if shown.inner_text(timeout=250) == likes:
                        waits.append(time.monotonic() - opened)
                        break
                page.wait_for_timeout(100)
        finally:
            watcher_context.close()
            recorder_context.close()
    return {
        "trials": OPENED_TRIALS,
        "shown": len(waits),
        "open_to_latest_s_p50": round(percentile(waits, 0.5), 2) if waits else None,
        "open_to_latest_s_p95": round(percentile(waits, 0.95), 2) if waits else None,
        "open_to_latest_s_max": round(max(waits), 2) if waits else None,
    }


def run(tmp: Path) -> dict[str, Any]:
    """Record one scripted minute and measure what went over the wire."""
    # The deployed stack's windows: prod's unwatched consumer gathers a minute of batches.
    stack = start_stack(tmp / "data", "--stack", STACK)
    try:
        http = requests.Session()
        email, headers = sign_up_and_in(stack.api, http)
        tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            bodies: list[int] = []
            screenshot_bytes: list[int] = []

            ingest_sent: list[float] = []

            def on_request(request: Any) -> None:
                if request.method != "POST":
                    return
                size = len(request.post_data_buffer or b"")
                if INGEST in request.url:
                    bodies.append(size)
                    ingest_sent.append(time.monotonic())
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
            scripted = time.monotonic() - started
            steady = sum(1 for at in ingest_sent if started <= at < started + scripted)
            page.click("#stop")
            page.wait_for_selector("text=Saved", timeout=30_000)
            stopped = time.monotonic()
            minutes = (stopped - started) / 60
            stats = page.evaluate("window.__recorder.stats")
            page.close()
            log_end = stack.log.stat().st_size  # the live phase's requests are not this minute's
            live = _watched(browser, stack, tokens)
            opened = _opened(browser, stack, tokens)
            browser.close()
        # Delivery: the last batches nobody watched wait out the unwatched consumer's window.
        time.sleep(max(2.0, WINDOW_S + 2 - (time.monotonic() - stopped)))
        log = stack.log.read_bytes()[log_start:log_end].decode()
        # Through the ingest door (/ingest on the local stack: the function URL on AWS) or the REST API.
        api_requests = len(re.findall(rf'"(POST|OPTIONS) (/ingest)?/recordings(/{recording_id}/events)?\?', log))
        preflights = len(re.findall(r'"OPTIONS (/ingest)?/recordings', log))
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
        "requests_per_minute_unwatched": round(steady / (scripted / 60), 2),
        "screenshot_uploads": len(screenshot_bytes),
        "requests_per_minute_with_screenshot": round((api_requests + len(screenshot_bytes)) / minutes, 2),
        "baseline_requests_per_minute_one_per_event": round(event_count / minutes, 1),
        "bytes_on_wire": wire,
        "events_json_bytes": json_bytes,
        "bytes_ratio": round(json_bytes / wire, 2) if wire else None,
        "bytes_on_wire_per_minute": round(wire / minutes),
        "max_event_wait_s": round(stats["maxWaitMs"] / 1000, 2),
        "recorder_gave_up": stats["gaveUp"],
        "live": live,
        "opened_unwatched": opened,
    }
    result["targets_met"] = {
        "requests_per_minute_unwatched_max_6": result["requests_per_minute_unwatched"] <= 6,
        "live_click_to_screen_p95_max_4s": live["clicks_shown"] == LIVE_CLICKS and live["click_to_screen_s_p95"] <= 4,
        "bytes_min_5x_fewer": (result["bytes_ratio"] or 0) >= 5,
        "opened_unwatched_latest_p95_max_15s": opened["shown"] == OPENED_TRIALS
        and opened["open_to_latest_s_p95"] <= 15,
    }
    print(
        f"browser: {result['session_seconds']} s on the demo page, {event_count} events: "
        f"{api_requests} API requests ({preflights} preflights) = {result['requests_per_minute']}/min "
        f"(+{len(screenshot_bytes)} screenshot upload; "
        f"baseline {result['baseline_requests_per_minute_one_per_event']}/min); "
        f"{wire} bytes on the wire vs {json_bytes} bytes of JSON = {result['bytes_ratio']}x fewer; "
        f"no event waited more than {result['max_event_wait_s']} s to be sent; "
        f"unwatched steady rate {result['requests_per_minute_unwatched']}/min"
    )
    print(
        f"browser, watched live: recorder sped up {live['recorder_heard_watched_after_s']} s after the watcher "
        f"opened the replay, then {live['requests_per_minute_watched']} requests/min; "
        f"{live['clicks_shown']} of {LIVE_CLICKS} clicks shown, click to screen "
        f"p50 {live['click_to_screen_s_p50']} s, p95 {live['click_to_screen_s_p95']} s"
    )
    print(
        f"browser, opened while unwatched: {opened['shown']} of {opened['trials']} showed the latest click, "
        f"p50 {opened['open_to_latest_s_p50']} s, p95 {opened['open_to_latest_s_p95']} s, "
        f"max {opened['open_to_latest_s_max']} s after the replay page was opened"
    )
    return result


if __name__ == "__main__":
    import tempfile

    from bench import results_file

    with tempfile.TemporaryDirectory() as tmp:
        results_file.merge("browser", run(Path(tmp)), command="python -m bench.browser")
