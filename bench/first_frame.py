"""``python -m bench.first_frame``: click a long recording in the list, time its first frame.

One recording of 30 minutes and 120,000 events (a documentation page's snapshot, then
mouse moves, scrolls, clicks, DOM mutations, masked typing and a few console errors,
in rrweb's proportions) is posted over HTTP to a local stack in recorder-sized
batches. In headless Chromium (1280x800, a fresh profile each run) the owner's
recordings page is opened and the recording clicked; the figure is the time from the
click to the first animation frame in which the replayer's iframe shows the snapshot's
page (that frame is then painted). Measured first as the consumer stored it (chunk
objects, read through GET /events), then once the stack has compacted it (blocks
straight from the bucket); p50 over a few runs of each, also the time until every
event is in the player.

``--baseline <replay.js>`` measures another build of the replay page's script (the
previous one, say) against the same recording, runs interleaved with the current
build's, served in place of ``assets/replay.js``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, Route, sync_playwright

from bench import results_file
from bench.rrweb import EventType, IncrementalSource, MouseInteractions, NodeType
from bench.stats import percentile
from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.local_stack import LOAD_ENV, RunningStack, start_stack
from tests.support.rrweb_stream import StreamBuilder

EVENTS = 120_000
MINUTES = 30
RUNS = 5
TARGET_S = 1.5
# The recorder's batch limits (site/src/recorder.js: maxBatchEvents, maxBatchBytes).
BATCH_EVENTS = 1000
BATCH_BYTES = 128 * 1024
# A recording is live for a minute after its last batch (the replay page then follows
# it instead of replaying it); compaction waits this long, leaving time to measure the
# recording as chunks between the two.
COMPACT_IDLE_S = 200
LIVE_S = 60
# What the replayer's iframe holds once the snapshot is on screen (the page's sections).
PAINTED = "body.body > section"

# Runs in every page of the measuring context: the list page notes the click, the replay
# page watches each animation frame for the snapshot's content in the replayer's iframe.
PROBE = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  if (location.pathname.endsWith("/replay.html")) {
    const look = () => {
      const frame = document.querySelector(".replayer-wrapper iframe");
      const doc = frame && frame.style.display !== "none" && frame.contentDocument;
      if (doc && doc.querySelector(PAINTED)) window.__benchFirstFrameAt = now();
      else requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  } else {
    addEventListener("click", () => sessionStorage.setItem("benchClickAt", String(now())), true);
  }
})();
""".replace("PAINTED", json.dumps(PAINTED))


def _element_ids(node: dict[str, Any], into: list[int]) -> list[int]:
    if node.get("type") == NodeType.Element and node.get("tagName") in {"p", "section", "a", "pre", "h2", "h3", "h4"}:
        into.append(node["id"])
    for child in node.get("childNodes", []):
        _element_ids(child, into)
    return into


def recording_events(*, events: int = EVENTS, minutes: int = MINUTES, seed: int = 11) -> list[dict[str, Any]]:
    """A visitor's half hour on one long page: Meta, full snapshot, then incremental events.

    Mouse moves dominate, then scrolls, DOM mutations (spans added and removed,
    classes and texts changed), pointer interactions (mousedown, mouseup, click),
    masked typing into a search field, and a console error now and then.
    """
    builder = StreamBuilder(seed, start=int(time.time() * 1000) - (minutes + 5) * 60_000)
    r = random.Random(seed)
    meta, snapshot = builder.full_snapshot(60)
    html = snapshot["data"]["node"]["childNodes"][1]
    body = html["childNodes"][1]
    search = {
        "type": NodeType.Element,
        "tagName": "input",
        "attributes": {"type": "search", "name": "q"},
        "childNodes": [],
    }
    search["id"] = builder._id()
    body["childNodes"].insert(0, search)
    targets = _element_ids(body, [])
    added: list[tuple[int, int, int]] = []  # (span id, its text node id, its parent id)
    gap = minutes * 60_000 / events
    now = float(snapshot["timestamp"])
    out = [meta, snapshot]
    while len(out) < events:
        now += gap * r.uniform(0.2, 1.8)
        at = int(now)
        pick = r.random()
        if pick < 0.62:
            data: dict[str, Any] = {
                "source": IncrementalSource.MouseMove,
                "positions": [
                    {"x": r.randint(0, 1280), "y": r.randint(0, 800), "id": r.choice(targets), "timeOffset": -i * 50}
                    for i in range(r.randint(1, 8))
                ],
            }
        elif pick < 0.78:
            data = {"source": IncrementalSource.Scroll, "id": 1, "x": 0, "y": r.randint(0, 20_000)}
        elif pick < 0.90:
            data = {"source": IncrementalSource.Mutation, "texts": [], "attributes": [], "removes": [], "adds": []}
            choice = r.random()
            if choice < 0.5 or not added:
                span = builder._id()
                text = builder._id()
                parent = r.choice(targets)
                node = {"type": NodeType.Text, "textContent": builder.text(r.randint(1, 6)), "id": text}
                data["adds"].append(
                    {
                        "parentId": parent,
                        "nextId": None,
                        "node": {
                            "type": NodeType.Element,
                            "tagName": "span",
                            "attributes": {},
                            "childNodes": [],
                            "id": span,
                        },
                    }
                )
                data["adds"].append({"parentId": span, "nextId": None, "node": node})
                added.append((span, text, parent))
            elif choice < 0.7:
                span, _, parent = added.pop(r.randrange(len(added)))
                data["removes"].append({"parentId": parent, "id": span})
            elif choice < 0.85:
                data["texts"].append({"id": r.choice(added)[1], "value": builder.text(r.randint(1, 6))})
            else:
                data["attributes"].append(
                    {"id": r.choice(targets), "attributes": {"class": r.choice(["highlighted", "reference"])}}
                )
        elif pick < 0.93:
            target = r.choice(targets)
            x, y = r.randint(0, 1280), r.randint(0, 800)
            for kind in (MouseInteractions.MouseDown, MouseInteractions.MouseUp, MouseInteractions.Click):
                out.append(
                    {
                        "type": EventType.IncrementalSnapshot,
                        "data": {
                            "source": IncrementalSource.MouseInteraction,
                            "type": kind,
                            "id": target,
                            "x": x,
                            "y": y,
                        },
                        "timestamp": at,
                    }
                )
                at += r.randint(40, 120)
            now = at
            continue
        elif pick < 0.9999:
            data = {
                "source": IncrementalSource.Input,
                "text": "*" * r.randint(1, 24),
                "isChecked": False,
                "id": search["id"],
            }
        else:
            out.append(
                {
                    "type": EventType.Plugin,
                    "data": {
                        "plugin": "rrweb/console@1",
                        "payload": {"level": "error", "payload": [f'"TypeError: x is undefined ({at})"'], "trace": []},
                    },
                    "timestamp": at,
                }
            )
            continue
        out.append({"type": EventType.IncrementalSnapshot, "data": data, "timestamp": at})
    out = out[:events]
    # Click sequences take their own time: stretch or squeeze the whole to ``minutes``.
    first, last = out[0]["timestamp"], out[-1]["timestamp"]
    scale = minutes * 60_000 / (last - first)
    for event in out:
        event["timestamp"] = first + round((event["timestamp"] - first) * scale)
    return out


def batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut as the recorder cuts: at most 1000 events or about 128 KB of JSON per batch."""
    cut: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        batch.append(event)
        size += len(json.dumps(event, separators=(",", ":")))
        if len(batch) >= BATCH_EVENTS or size >= BATCH_BYTES:
            cut.append(batch)
            batch, size = [], 0
    if batch:
        cut.append(batch)
    return cut


def post_recording(stack: RunningStack, http: requests.Session, events: list[dict[str, Any]]) -> str:
    """Post the recording as its recorder would (gzip bodies, seqs in order); returns its id."""
    parts = batches(events)
    headers = {"Content-Type": "text/plain"}

    def body(payload: dict[str, Any]) -> bytes:
        return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)

    created = http.post(
        f"{stack.api}/recordings",
        data=body(
            {"url": "https://docs.example.com/whatsnew.html", "title": "What's new", "seq": 0, "events": parts[0]}
        ),
        headers=headers,
        timeout=60,
    )
    assert created.status_code == 201, created.text
    recording_id = created.json()["recording"]["id"]
    for seq, part in enumerate(parts[1:], start=1):
        answer = http.post(
            f"{stack.api}/recordings/{recording_id}/events",
            data=body({"seq": seq, "events": part}),
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
    return recording_id


def described(stack: RunningStack, http: requests.Session, recording_id: str) -> dict[str, Any]:
    """GET /recordings/{id}."""
    answer = http.get(f"{stack.api}/recordings/{recording_id}", timeout=30)
    answer.raise_for_status()
    return answer.json()


def wait_until(check: Any, *, timeout: float, what: str) -> dict[str, Any]:
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def one_run(browser: Browser, site: str, tokens: dict[str, Any], recording_id: str, asset: Path | None) -> dict:
    """A fresh profile signs in, opens the list, clicks the recording: ms to first frame and to all events."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(PROBE)
        if asset is not None:
            script = asset.read_bytes()

            def serve(route: Route) -> None:
                route.fulfill(status=200, body=script, headers={"Content-Type": "text/javascript"})

            context.route("**/assets/replay.js", serve)
        page = context.new_page()
        page.goto(f"{site}/index.html")
        page.evaluate("t => localStorage.setItem('rrweb.tokens', JSON.stringify(t))", tokens)
        page.goto(f"{site}/index.html")
        link = page.locator(f'a[href="replay.html?id={recording_id}"]').first
        link.wait_for(timeout=30_000)
        link.click()
        page.wait_for_function("window.__benchFirstFrameAt", timeout=60_000, polling=50)
        page.wait_for_function("window.__replayEvents > 0", timeout=120_000, polling=50)
        loaded_at = page.evaluate("performance.timeOrigin + performance.now()")
        clicked = float(page.evaluate("sessionStorage.getItem('benchClickAt')"))
        first = page.evaluate("window.__benchFirstFrameAt")
        in_player = page.evaluate("window.__replayEvents")
    finally:
        context.close()
    return {"first_frame_ms": first - clicked, "all_events_ms": loaded_at - clicked, "events": in_player}


def measure(
    browser: Browser,
    stack: RunningStack,
    tokens: dict[str, Any],
    recording_id: str,
    *,
    runs: int,
    builds: dict[str, Path | None],
) -> dict[str, dict[str, Any]]:
    """Interleaved runs of every build (so the machine's moods hit all alike); p50 per build."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
    for _ in range(runs):
        for name, asset in builds.items():
            samples[name].append(one_run(browser, stack.site, tokens, recording_id, asset))
    figures = {}
    for name, rows in samples.items():
        assert all(row["events"] == EVENTS for row in rows), rows
        firsts = [row["first_frame_ms"] for row in rows]
        figures[name] = {
            "runs": len(rows),
            "first_frame_ms_p50": round(percentile(firsts, 0.5)),
            "first_frame_ms_min": round(min(firsts)),
            "first_frame_ms_max": round(max(firsts)),
            "all_events_ms_p50": round(percentile([row["all_events_ms"] for row in rows], 0.5)),
        }
    return figures


def run(
    tmp: Path, *, runs: int = RUNS, baseline: Path | None = None, baseline_label: str | None = None
) -> dict[str, Any]:
    """Build the recording, measure it as chunks and once compacted; the figures."""
    events = recording_events()
    builds: dict[str, Path | None] = {"current": None}
    if baseline is not None:
        builds["baseline"] = baseline
    stack = start_stack(
        tmp / "data",
        "--compact-idle-seconds",
        str(COMPACT_IDLE_S),
        "--compact-every-seconds",
        "5",
        env=LOAD_ENV,
    )
    try:
        http = requests.Session()
        email, headers = sign_up_and_in(stack.api, http)
        http.headers.update(headers)
        tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
        started = time.monotonic()
        recording_id = post_recording(stack, http, events)
        posted_s = time.monotonic() - started
        wait_until(lambda: described(stack, http, recording_id)["eventCount"] == EVENTS, timeout=300, what="delivery")
        info = wait_until(
            lambda: (lambda d: d if not d["live"] else None)(described(stack, http, recording_id)),
            timeout=LIVE_S + 30,
            what="the recording to stop being live",
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                chunks = measure(browser, stack, tokens, recording_id, runs=runs, builds=builds)
                assert not described(stack, http, recording_id)["compacted"], "compacted while measured as chunks"
                wait_until(
                    lambda: described(stack, http, recording_id)["compacted"],
                    timeout=COMPACT_IDLE_S + 300,
                    what="compaction",
                )
                compacted = measure(browser, stack, tokens, recording_id, runs=runs, builds=builds)
            finally:
                browser.close()
    finally:
        stack.stop()
    result: dict[str, Any] = {
        "recording": {
            "events": EVENTS,
            "duration_s": round(info["durationMs"] / 1000),
            "events_json_mb": round(sum(len(json.dumps(e, separators=(",", ":"))) + 1 for e in events) / 1e6, 1),
            "batches": len(batches(events)),
            "posted_s": round(posted_s, 1),
        },
        "viewport": "1280x800",
        "chunks": chunks["current"],
        "compacted": compacted["current"],
    }
    if baseline is not None:
        result["baseline"] = {
            "script": baseline_label or str(baseline),
            "chunks": chunks["baseline"],
            "compacted": compacted["baseline"],
        }
    result["target_first_frame_ms_p50_max"] = round(TARGET_S * 1000)
    result["targets_met"] = {
        "p50_max_1_5s": result["chunks"]["first_frame_ms_p50"] <= TARGET_S * 1000
        and result["compacted"]["first_frame_ms_p50"] <= TARGET_S * 1000,
    }
    for name in ("chunks", "compacted"):
        line = f"first frame, {name}: p50 {result[name]['first_frame_ms_p50']} ms"
        if baseline is not None:
            line += f" (baseline {result['baseline'][name]['first_frame_ms_p50']} ms)"
        line += f"; all {EVENTS} events in the player after {result[name]['all_events_ms_p50']} ms"
        if baseline is not None:
            line += f" (baseline {result['baseline'][name]['all_events_ms_p50']} ms)"
        print(line, flush=True)
    return result


def main() -> None:
    """Measure and merge the figures into bench/results.json under ``first_frame``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per build and storage (default %(default)s)")
    parser.add_argument("--baseline", type=Path, help="another build of assets/replay.js to measure alongside")
    parser.add_argument("--baseline-label", help="what that build is, for the results (default: its path)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(Path(tmp), runs=args.runs, baseline=args.baseline, baseline_label=args.baseline_label)
    command = "python -m bench.first_frame" + (" --baseline <replay.js>" if args.baseline else "")
    results_file.merge("first_frame", figures, command=command)


if __name__ == "__main__":
    main()
