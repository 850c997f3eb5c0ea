"""Page assets: bytes stored per recording, uploads, requests, the recorder's main thread, the replay.

``python -m bench.assets`` records a small shop (tests/support/asset_site.py: two pages
sharing an image, a CSS background, a web font, an inline logo and a 500 KB stylesheet)
ten times, as ten visitors (each a fresh browser context: two page views), in Debian's
Chromium with the real recorder against the local stack; once with the asset store
(the recorder's default) and once without (`captureAssets: false`, how recordings were
kept before), each on a fresh stack. For each run it reads the bucket: bytes stored per
extra recording (everything the second to tenth visitors added: their events, and any
asset objects), and counts, from the browser's own requests, the asset uploads per
visitor, the asset questions per page view (riding on a batch, or alone as
`POST /assets/missing`), the requests of their own they cost, and the other API requests.

Then: the longest main-thread stall (the worst of five starts) while the recorder starts
on a page with a 2 MB photo and the 500 KB stylesheet (a MessageChannel ping-pong measures every gap the page's
main thread could not answer in), against the same page without the recorder; and the
replay frame after the site changed every asset, then after the site is gone, against the
replay while it was unchanged (share of equal pixels).

Writes the figures under ``assets`` in bench/results.json.
"""

from __future__ import annotations

import gzip
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from bench.results_file import merge
from tests.e2e.test_assets_replay import replay_frame
from tests.support.accounts import PASSWORD, sign_up_and_in
from tests.support.asset_site import HEAVY, PAGES, AssetSite, equal_pixels
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, add_recorder_script, signed_in
from tests.support.local_stack import RunningStack, start_stack
from tests.support.waiting import eventually

VISITORS = 10
PAGE_SECONDS = 3.0
STARTS = 5

# The page's main thread answers a message posted to itself at once unless a task holds it:
# the longest gap between a post and its answer is the longest stall.
STALL_PROBE = """() => {
    window.__stalls = [];
    const channel = new MessageChannel();
    let sent = performance.now();
    channel.port1.onmessage = () => {
        const now = performance.now();
        window.__stalls.push(now - sent);
        sent = performance.now();
        setTimeout(() => channel.port2.postMessage(0), 1);
    };
    channel.port2.postMessage(0);
}"""


def _account(stack: RunningStack) -> dict[str, Any]:
    http = requests.Session()
    email, headers = sign_up_and_in(stack.api, http)
    tokens = http.post(f"{stack.api}/auth/signin", json={"email": email, "password": PASSWORD}, timeout=30).json()
    key = http.post(f"{stack.api}/keys", json={"name": "bench shop"}, headers=headers, timeout=30).json()["key"]
    return {"headers": headers, "tokens": tokens, "http": http, "key": key}


def _inject(page: Page, stack: RunningStack, key: str, *, assets: bool) -> None:
    add_recorder_script(page, stack, key, screenshot="false", captureAssets="true" if assets else "false")


def _s3(stack: RunningStack, data_dir: Path) -> tuple[Any, str]:
    saved = json.loads((data_dir / "aws-credentials.json").read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id=saved["accessKeyId"],
        aws_secret_access_key=saved["secretAccessKey"],
    )
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("-recordings")]
    return s3, bucket


def _stored(s3: Any, bucket: str) -> dict[str, int]:
    """Bytes under recordings/ and assets/ now."""
    totals = {"recordings": 0, "assets": 0}
    for prefix in totals:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            totals[prefix] += sum(item["Size"] for item in page.get("Contents", []))
    return totals


def _visit(
    browser: Browser, stack: RunningStack, account: dict[str, Any], site: str, *, assets: bool
) -> dict[str, Any]:
    """One visitor: both pages, the recorder on each (one recording, continued by the session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    counted = {"uploads": 0, "questions": 0, "question_requests": 0, "ingest": 0}

    def on_request(request: Any) -> None:
        if request.method == "PUT" and request.url.startswith(stack.aws):
            counted["uploads"] += 1
        elif "/assets/missing" in request.url:
            counted["questions"] += 1
            counted["question_requests"] += 1
        elif request.method == "POST" and request.url.startswith(stack.api):
            counted["ingest"] += 1
            counted["questions"] += _carries_question(request.post_data_buffer or b"")

    page.on("request", on_request)
    recording = None
    for name in PAGES:
        page.goto(f"{site}/{name}")
        page.wait_for_function("document.fonts.status === 'loaded' && document.querySelector('#hero').complete")
        _inject(page, stack, account["key"], assets=assets)
        page.mouse.move(40, 40)
        page.wait_for_timeout(PAGE_SECONDS * 1000)
        page.mouse.move(200, 120)
        stopped = page.evaluate("window.RrwebS3.recorder.flush().then(() => window.RrwebS3.recorder.status())")
        recording = stopped["id"]
    result = page.evaluate("window.RrwebS3.recorder.stop()")
    assert result["drained"], result
    emitted = page.evaluate("window.RrwebS3.recorder.stats.emitted")
    context.close()

    def stored() -> None:
        described = (
            account["http"].get(f"{stack.api}/recordings/{recording}", headers=account["headers"], timeout=30).json()
        )
        assert described["eventCount"] >= emitted, "not all stored yet"

    eventually(stored, 60)
    return {"recording": recording, **counted}


def _run(browser: Browser, tmp: Path, site: AssetSite, *, assets: bool) -> dict[str, Any]:
    data_dir = tmp / ("with" if assets else "without") / "data"
    data_dir.parent.mkdir(parents=True)
    stack = start_stack(data_dir)
    try:
        account = _account(stack)
        s3, bucket = _s3(stack, data_dir)
        visits, totals = [], [_stored(s3, bucket)]
        for _ in range(VISITORS):
            visits.append(_visit(browser, stack, account, site.url, assets=assets))
            time.sleep(1.5)  # the consumer's window: the visit's last chunk is in the bucket
            totals.append(_stored(s3, bucket))
    finally:
        stack.stop()
    added = [sum(after.values()) - sum(before.values()) for before, after in itertools.pairwise(totals)]
    page_views = VISITORS * len(PAGES)
    return {
        "bytes_first_recording": added[0],
        "bytes_per_extra_recording": round(sum(added[1:]) / (VISITORS - 1)),
        "asset_bytes_stored": totals[-1]["assets"],
        "uploads_first_visitor": visits[0]["uploads"],
        "uploads_later_visitors": sum(v["uploads"] for v in visits[1:]),
        "questions_per_page_view": round(sum(v["questions"] for v in visits) / page_views, 2),
        "question_requests_per_page_view": round(sum(v["question_requests"] for v in visits) / page_views, 2),
        "other_api_requests_per_visitor": round(sum(v["ingest"] for v in visits) / VISITORS, 1),
    }


def _carries_question(body: bytes) -> bool:
    """Whether an ingest request's body (gzip or plain JSON) carries a question about assets."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return b'"assets":[' in body


def _stall(browser: Browser, stack: RunningStack, key: str, site: str, *, recorder: bool) -> float:
    """The longest main-thread stall (ms) over the 4 s after the recorder starts on the heavy page (or not)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{site}/{HEAVY}")
    page.wait_for_function("document.fonts.status === 'loaded' && document.querySelector('#hero').complete")
    page.evaluate(STALL_PROBE)
    page.wait_for_timeout(300)
    page.evaluate("window.__stalls = []")
    if recorder:
        _inject(page, stack, key, assets=True)
    page.wait_for_timeout(4000)
    stalls: list[float] = page.evaluate("window.__stalls")
    kept = page.evaluate("window.RrwebS3 ? window.RrwebS3.recorder.assets() : null") if recorder else None
    context.close()
    if recorder:
        assert kept, "the recorder did not start"
        assert kept["kept"] >= 3, kept
    return round(max(stalls), 1)


def run(tmp: Path) -> dict[str, Any]:
    """Every figure of the module's docstring."""
    with sync_playwright() as playwright, AssetSite.serving(tmp / "shop") as site:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        without = _run(browser, tmp, site, assets=False)
        kept = _run(browser, tmp, site, assets=True)
        data_dir = tmp / "replay" / "data"
        data_dir.parent.mkdir(parents=True)
        stack = start_stack(data_dir)
        try:
            account = _account(stack)
            # Several starts: the machine's noise is in every one; the worst is judged.
            stalls_with = sorted(_stall(browser, stack, account["key"], site.url, recorder=True) for _ in range(STARTS))
            stalls_without = sorted(
                _stall(browser, stack, account["key"], site.url, recorder=False) for _ in range(STARTS)
            )
            stall_with, stall_without = stalls_with[-1], stalls_without[-1]
            visit = _visit(browser, stack, account, site.url, assets=True)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            signed_in(page, stack, account)
            unchanged = replay_frame(page, stack, visit["recording"])
            site.change_every_asset()
            changed = equal_pixels(page, unchanged, replay_frame(page, stack, visit["recording"]))
            site.stop()
            gone = equal_pixels(page, unchanged, replay_frame(page, stack, visit["recording"]))
        finally:
            stack.stop()
        browser.close()
    ratio = without["bytes_per_extra_recording"] / max(1, kept["bytes_per_extra_recording"])
    figures: dict[str, Any] = {
        "visitors": VISITORS,
        "page_views_per_visitor": len(PAGES),
        "without_assets": without,
        "with_assets": kept,
        "bytes_per_extra_recording_ratio": round(ratio, 1),
        "longest_stall_ms_with_recorder": stall_with,
        "stalls_ms_with_recorder_each_start": stalls_with,
        "longest_stall_ms_without_recorder": stall_without,
        "replay_equal_pixels_after_site_changed": round(changed, 4),
        "replay_equal_pixels_after_site_gone": round(gone, 4),
    }
    figures["targets_met"] = {
        "bytes_per_extra_recording_min_5x_fewer": ratio >= 5,
        "no_uploads_for_shared_assets_after_first_visitor": kept["uploads_later_visitors"] == 0,
        "asset_questions_max_1_per_page_view": kept["questions_per_page_view"] <= 1,
        "asset_questions_cost_no_request": kept["question_requests_per_page_view"] == 0,
        "other_api_requests_unchanged": kept["other_api_requests_per_visitor"]
        <= without["other_api_requests_per_visitor"],
        "recorder_longest_stall_max_50ms": stall_with < 50,
        "replay_after_change_min_98pct_pixels": changed >= 0.98,
        "replay_after_site_gone_min_98pct_pixels": gone >= 0.98,
    }
    print(
        f"assets: {VISITORS} visitors x {len(PAGES)} pages; bytes stored per extra recording "
        f"{without['bytes_per_extra_recording']} without the asset store, {kept['bytes_per_extra_recording']} with "
        f"({figures['bytes_per_extra_recording_ratio']}x fewer); "
        f"uploads: first visitor {kept['uploads_first_visitor']}, "
        f"the next {VISITORS - 1} {kept['uploads_later_visitors']}; asset questions per page view "
        f"{kept['questions_per_page_view']} (requests of their own: {kept['question_requests_per_page_view']}); "
        f"other API requests per visitor {kept['other_api_requests_per_visitor']} "
        f"(without: {without['other_api_requests_per_visitor']}); longest main-thread stall with the recorder "
        f"{stall_with} ms, worst of {STARTS} starts (each: {stalls_with}; page alone {stall_without} ms) on a 2 MB "
        f"photo + 500 KB stylesheet; replay pixels equal "
        f"after the site changed {changed:.2%}, after it is gone {gone:.2%}"
    )
    return figures


def main() -> None:
    """Run alone: print the figures and merge them into bench/results.json."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(Path(tmp))
    merge("assets", figures, command="python -m bench.assets")


if __name__ == "__main__":
    main()
