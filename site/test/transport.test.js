// The recorder's queue and transport: order, retries, give-ups, status, stop, backlog, exit.
import assert from "node:assert/strict";
import { randomBytes, webcrypto } from "node:crypto";
import { test } from "node:test";

import { strFromU8 } from "fflate";

import { END_TAG, describeStatus } from "../src/recorder.js";
import { SNAPSHOT_TAG } from "../src/end-tag.js";
import { LIMITS } from "../src/recorder/limits.js";
import { armour } from "../src/recorder/transport.js";
import {
  INGEST,
  MemoryStorage,
  PAGE,
  START,
  advance,
  click,
  consoleRecord,
  fakeApi,
  fullSnapshot,
  hide,
  json,
  meta,
  mutation,
  openPage,
  refused,
  settle,
  show,
  useClock,
} from "./fake-browser.js";

const states = (statuses) => statuses.map((s) => s.state).filter((state, i, all) => state !== all[i - 1]);

test("the first flush creates the recording with the page's fields; later batches follow in seq order", async (t) => {
  useClock(t);
  const page = openPage();
  await advance(999);
  assert.equal(page.api.requests.length, 0, "nothing leaves before firstFlushMs");
  await advance(1);
  assert.equal(page.api.requests.length, 1, "a new recording's first batch leaves after firstFlushMs");
  page.record.emit(click());
  await page.recorder.flush();
  page.record.emit(click());
  await page.recorder.flush();

  const [create, second, third] = page.api.requests;
  assert.equal(create.path, "/recordings");
  assert.equal(create.key, "rrk_test_key");
  const { events, ...fields } = create.body;
  assert.deepEqual(fields, {
    id: page.recorder.id,
    url: PAGE,
    title: "Cart · Shop",
    referrer: null,
    viewport: { width: 1280, height: 800 },
    view: START,
    seq: START * 1000,
  });
  assert.deepEqual(
    events.map((e) => e.type),
    [4, 2],
  );
  assert.equal(second.path, `/recordings/${page.recorder.id}/events`);
  assert.deepEqual(Object.keys(second.body), ["seq", "events"], "no errors or user unless there are some");
  assert.deepEqual(page.api.seqs, [START * 1000, START * 1000 + 1, START * 1000 + 2]);
  assert.equal(third.body.events.length, 1);
  const status = page.recorder.status();
  assert.equal(status.state, "recording");
  assert.equal(status.acknowledged, 3);
  assert.equal(status.pending, 0);
  assert.equal(status.lastError, null);
});

test("after a new recording's early first batch, events wait flushIntervalMs: a minute holds one flush per interval", async (t) => {
  useClock(t);
  const page = openPage();
  const sentAt = [];
  page.api.answer = (request, api) => {
    sentAt.push(Date.now() - START);
    return api.acknowledge(request);
  };
  for (let at = 0; at < 60_000; at += 500) {
    await advance(500);
    page.record.emit(click());
  }
  assert.equal(sentAt[0], 1000);
  assert.deepEqual(
    sentAt.slice(1).map((at, i) => at - sentAt[i]),
    Array(sentAt.length - 1).fill(10_000),
    "then a flush every 10 s, counted from the first event after the previous one",
  );
  assert.equal(sentAt.length, 6, "six requests in the first minute, as with no early batch");
});

test("408, 429, 5xx and no answer are retried with the same seq, after Retry-After or a growing backoff", async (t) => {
  useClock(t);
  const page = openPage();
  const answers = [refused(503, "unavailable", { "Retry-After": "2" }), refused(429, "rate_limited"), "abort", refused(408, "timeout")];
  page.api.answer = (request, api) => (answers.length ? answers.shift() : api.acknowledge(request));
  page.recorder.flush();
  await settle();

  let status = page.recorder.status();
  assert.equal(page.api.requests.length, 1);
  assert.deepEqual(status.lastError, { reason: "backing_off", status: 503, message: "the API asked to wait (HTTP 503: refused with unavailable)" });
  assert.equal(status.retryAt, Date.now() + 2000, "Retry-After: 2 waits 2 s");
  assert.match(describeStatus(status).text, /^Recording · Saving… 1 batch waiting, the API asked to wait, retrying in 2 s$/);
  await advance(1999);
  assert.equal(page.api.requests.length, 1);
  await advance(1);
  assert.equal(page.api.requests.length, 2);
  status = page.recorder.status();
  assert.equal(status.lastError.status, 429);
  assert.equal(status.retryAt, Date.now() + 500, "no Retry-After: exponential backoff (2nd attempt)");
  await advance(500);
  assert.equal(page.api.requests.length, 3);
  await advance(50); // no answer: a moment for a CSP violation event to tell it apart
  status = page.recorder.status();
  assert.deepEqual(status.lastError, { reason: "unreachable", status: null, message: "the API is unreachable" });
  assert.equal(status.retryAt, Date.now() + 1000);
  await advance(1000);
  assert.equal(page.recorder.status().lastError.status, 408);
  await advance(2000);

  status = page.recorder.status();
  assert.equal(page.api.requests.length, 5);
  assert.deepEqual(new Set(page.api.seqs), new Set([START * 1000]));
  assert.ok(page.api.requests.every((r) => r.path === "/recordings"));
  assert.equal(status.acknowledged, 1);
  assert.equal(status.gaveUp, 0);
  assert.equal(status.lastError, null, "trouble clears once a batch is acknowledged");
  assert.equal(status.retryAt, null);
  assert.deepEqual(page.errors, []);
});

test("batches queued behind a retried one keep their seq order", async (t) => {
  useClock(t);
  const page = openPage();
  let down = true;
  page.api.answer = (request, api) => (down ? refused(503) : api.acknowledge(request));
  page.recorder.flush();
  for (let i = 0; i < 3; i += 1) {
    page.record.emit(click());
    page.recorder.flush();
    await advance(300);
  }
  assert.equal(page.recorder.status().pending, 4);
  down = false;
  await advance(30000);
  const delivered = page.api.requests.filter((_, i, all) => i === all.length - 1 || all[i + 1].body.seq !== all[i].body.seq);
  assert.deepEqual(
    delivered.slice(-4).map((r) => r.body.seq - START * 1000),
    [0, 1, 2, 3],
  );
  assert.equal(page.recorder.status().pending, 0);
});

for (const [status, code] of [
  [401, "unauthorized"],
  [403, "origin_not_allowed"],
]) {
  test(`HTTP ${status} ${code}: a refused key stops the page's recording with one warning, and the tab's next pages start none`, async (t) => {
    useClock(t);
    const storage = new MemoryStorage();
    const page = openPage({}, { storage });
    page.api.answer = () => refused(status, code);
    await advance(1000);
    assert.equal(page.api.requests.length, 1);
    for (let i = 0; i < 5; i += 1) page.record.emit(click());
    await advance(60_000);
    assert.equal(page.api.requests.length, 1, "nothing more is sent with a refused key");
    assert.equal(page.record.running, false, "rrweb stopped");
    assert.equal(page.warnings.length, 1);
    assert.match(page.warnings[0], /the ingest key was refused .*recording stopped/);
    assert.equal(page.errors.length, 1, "onError hears it once");
    const state = page.recorder.status();
    assert.equal(state.state, "failed");
    assert.equal(state.lastError.reason, "key_refused");
    // Stopping it afterwards (the bookmarklet's badge still offers Stop) sends nothing
    // either: not the recording's end event.
    const stopping = page.recorder.stop();
    await advance(60_000);
    await stopping;
    assert.equal(page.api.requests.length, 1, "stop() after a refusal sends nothing");
    // The next page of the tab, with the same key: nothing at all.
    const next = openPage({}, { storage, snapshot: false });
    assert.equal(next.record.options, undefined, "rrweb is not even started");
    await advance(60_000);
    assert.equal(next.api.requests.length, 0);
    assert.equal(next.recorder.status().lastError.reason, "key_refused");
    // Another key is not held back by it.
    const other = openPage({ ingestKey: "rrk_other_key" }, { storage });
    await advance(1000);
    assert.equal(other.api.requests.length, 1);
  });
}

for (const [status, code, reason] of [
  [404, "not_found", "recording_gone"],
  [409, "conflict", "recording_gone"],
  [409, "recording_full", "recording_full"],
  [413, "payload_too_large", "too_large"],
  [400, "invalid_batch", "refused"],
]) {
  test(`HTTP ${status} ${code} gives the batch up as ${reason}, loudly, and later batches still go`, async (t) => {
    useClock(t);
    const page = openPage();
    await page.recorder.flush();
    const answers = [refused(status, code)];
    page.api.answer = (request, api) => (answers.length ? answers.shift() : api.acknowledge(request));
    page.record.emit(click());
    await page.recorder.flush();

    const state = page.recorder.status();
    assert.equal(state.state, "failed");
    assert.equal(state.gaveUp, 1);
    assert.equal(state.pending, 0);
    assert.deepEqual(state.lastError, { reason, status, message: state.lastError.message });
    assert.match(state.lastError.message, new RegExp(`HTTP ${status}: refused with ${code}`));
    assert.equal(page.errors.length, 1);
    assert.match(page.errors[0], /^gave up on batch \d+ \(1 events\): /);
    assert.match(describeStatus(state).text, /^Not saved: /);

    page.record.emit(click());
    await page.recorder.flush();
    assert.equal(page.api.requests.length, 3);
    assert.equal(page.recorder.status().acknowledged, 2);
    assert.equal(page.recorder.status().lastError.reason, reason, "a give-up stays the reported trouble");
    const result = await stopNow(page);
    assert.equal(result.drained, false, "a batch given up: not drained");
    assert.equal(result.state, "failed");
  });
}

test("a report-only policy's violation does not make a network failure a CSP refusal", async (t) => {
  useClock(t);
  const page = openPage();
  page.document.dispatchEvent(Object.assign(new Event("securitypolicyviolation"), { blockedURI: INGEST, disposition: "report" }));
  page.api.answer = () => "abort";
  page.recorder.flush();
  await settle();
  await advance(50);
  assert.equal(page.recorder.status().lastError.reason, "unreachable");
  assert.equal(page.recorder.status().state, "recording");
});

test("a request refused by the page's Content-Security-Policy stops the page's recording: one warning, one report, no retries", async (t) => {
  useClock(t);
  const reports = [];
  const page = openPage({}, { deps: { report: (url) => reports.push(url) } });
  page.api.answer = () => {
    // Chrome dispatches the violation as a task of its own, after the fetch has failed.
    setTimeout(() => page.document.dispatchEvent(Object.assign(new Event("securitypolicyviolation"), { blockedURI: INGEST, effectiveDirective: "connect-src" })), 10);
    return "abort";
  };
  page.recorder.flush();
  await settle();
  await advance(50);
  const status = page.recorder.status();
  assert.equal(status.state, "failed");
  assert.deepEqual(status.lastError, { reason: "blocked", status: null, message: "blocked by this page's Content-Security-Policy" });
  assert.equal(describeStatus(status).text, "Not saved: blocked by this page's Content-Security-Policy");
  assert.equal(status.retryAt, null);
  assert.equal(page.warnings.length, 1);
  assert.match(page.warnings[0], /Add https:\/\/api\.example\.test to the policy's connect-src/);
  assert.equal(reports.length, 1, "the key's owner hears of it, once");
  const report = new URL(reports[0]);
  assert.equal(report.pathname, "/blocked");
  assert.deepEqual(Object.fromEntries(report.searchParams), { ingestKey: "rrk_test_key", directive: "connect-src", uri: "https://api.example.test" });
  // Nothing more is sent from this page, however much it records.
  const sent = page.api.requests.length;
  page.record.emit(click());
  await advance(20_000);
  assert.equal(page.api.requests.length, sent);
  assert.equal(page.errors.filter((message) => /Content-Security-Policy/.test(message)).length, 1);
});

async function stopNow(page) {
  const stopping = page.recorder.stop();
  await advance(0);
  return stopping;
}

test("stop() drains and resolves saved only when every batch was acknowledged", async (t) => {
  useClock(t);
  const page = openPage();
  page.record.emit(click());
  const result = await stopNow(page);
  assert.equal(result.drained, true);
  assert.equal(result.state, "saved");
  assert.equal(result.acknowledged, 1);
  assert.equal(result.pending, 0);
  assert.equal(result.pendingEvents, 0);
  assert.equal(result.gaveUp, 0);
  assert.equal(result.id, page.recorder.id);
  assert.deepEqual(states(page.statuses), ["recording", "sending", "saved"]);
  assert.equal(page.record.running, false);
  assert.deepEqual(describeStatus(result), { text: "Saved", tone: "ok", saved: true });
  page.record.emit(click());
  assert.equal(page.recorder.stats.emitted, 4, "nothing is taken after stop() (its own end event is the last)");
});

test("stop() ends the recording: its last batch says end and holds the end event, none before it does", async (t) => {
  useClock(t);
  const page = openPage();
  await advance(1000);
  page.record.emit(click());
  await page.recorder.flush();
  page.record.emit(click());
  await stopNow(page);
  const bodies = page.api.requests.map((request) => request.body);
  assert.deepEqual(
    bodies.map((body) => body.end === true),
    [false, false, true],
  );
  const last = bodies.at(-1).events;
  assert.deepEqual(last.at(-1).data, { tag: END_TAG, payload: {} });
  assert.equal(last.at(-1).type, 5);
  assert.equal(last.length, 2, "the click that waited goes with it");
});

test("stop() through an outage resolves unsaved after stopTimeoutMs, then turns saved when the API answers", async (t) => {
  useClock(t);
  const page = openPage({ stopTimeoutMs: 2000 });
  let down = true;
  page.api.answer = (request, api) => (down ? "abort" : api.acknowledge(request));
  const stopping = page.recorder.stop();
  await advance(0);
  await advance(2000);
  const result = await stopping;
  assert.equal(result.drained, false);
  assert.equal(result.state, "unsaved");
  assert.equal(result.pending, 1);
  assert.equal(result.pendingEvents, 3, "the snapshot's two events and the end");
  assert.equal(result.lastError.reason, "unreachable");
  assert.ok(page.errors.some((message) => /3 events not sent yet after 2 s/.test(message)));
  assert.match(describeStatus(result, Date.now()).text, /^Not saved yet: 1 batch waiting, the API is unreachable, retrying in \d+ s$/);

  down = false;
  await advance(30000);
  assert.equal(page.recorder.status().state, "saved");
  assert.equal(page.statuses.at(-1).state, "saved", "onStatus tells");
});

test("stop() before anything was recorded is stopped: nothing to replay", async (t) => {
  useClock(t);
  const page = openPage({}, { snapshot: false });
  const result = await stopNow(page);
  assert.equal(result.state, "stopped");
  assert.equal(result.drained, true);
  assert.equal(page.api.requests.length, 0);
});

test("over maxPendingBytes recording pauses, and resumes below half of it with a full snapshot", async (t) => {
  useClock(t);
  const page = openPage({ maxPendingBytes: 10_000, maxBatchBytes: 4000 });
  let down = true;
  page.api.answer = (request, api) => (down ? refused(503) : api.acknowledge(request));
  for (let i = 0; i < 4; i += 1) page.record.emit(mutation(3000));
  page.record.emit(click());
  page.record.emit(click());
  let status = page.recorder.status();
  assert.equal(status.paused, true);
  assert.equal(status.dropped, 2);
  assert.equal(page.errors.filter((m) => /not recorded/.test(m)).length, 1);
  assert.match(describeStatus(status).text, / · 2 events not recorded while the API was behind$/);
  assert.equal(page.recorder.stats.emitted, 6, "the event crossing the budget is kept");

  down = false;
  await advance(30000);
  await advance(0); // the resume runs in a task of its own
  status = page.recorder.status();
  assert.equal(status.paused, false);
  assert.equal(page.record.snapshots, 1, "the replay gets the whole page again after the gap");
  await page.recorder.flush();
  const types = page.api.requests.filter((r, i, all) => all.findIndex((o) => o.body.seq === r.body.seq) === i).flatMap((r) => r.body.events.map((e) => e.type));
  // The resumed snapshot comes marked (a custom event first): the replay's moments know it is no page view.
  assert.deepEqual(types, [4, 2, 3, 3, 3, 3, 5, 4, 2]);
});

test("a pause in which nothing was dropped resumes without a new snapshot", async (t) => {
  useClock(t);
  const page = openPage({ maxPendingBytes: 10_000, maxBatchBytes: 4000 });
  let down = true;
  page.api.answer = (request, api) => (down ? refused(503) : api.acknowledge(request));
  for (let i = 0; i < 4; i += 1) page.record.emit(mutation(3000));
  assert.equal(page.recorder.status().paused, true);
  down = false;
  await advance(30000);
  await advance(0);
  assert.equal(page.recorder.status().paused, false);
  assert.equal(page.record.snapshots, 0);
  assert.equal(page.recorder.status().dropped, 0);
});

test("a full snapshot larger than maxPendingBytes is sent once, alone, without pausing or losing what follows", async (t) => {
  useClock(t);
  const page = openPage({ maxPendingBytes: 100_000 }, { snapshot: false });
  let release;
  const slow = new Promise((resolve) => (release = resolve));
  page.api.answer = async (request, api) => {
    if (request.body.events.some((e) => e.type === 2)) await slow; // a large upload takes a while
    return api.acknowledge(request);
  };
  page.record.emit(meta());
  page.record.emit(fullSnapshot(300_000));
  await settle();
  for (let i = 0; i < 40; i += 1) page.record.emit(click());
  page.record.emit(mutation(20_000));
  let status = page.recorder.status();
  assert.equal(status.paused, false);
  assert.equal(status.dropped, 0);
  release();
  await page.recorder.flush();
  status = page.recorder.status();
  assert.equal(status.pending, 0);
  assert.equal(page.record.snapshots, 0, "no snapshot taken again");
  const [create, snapshot, rest] = page.api.requests;
  assert.deepEqual(
    create.body.events.map((e) => e.type),
    [4],
  );
  assert.equal(create.path, "/recordings");
  assert.deepEqual(
    snapshot.body.events.map((e) => e.type),
    [2],
  );
  assert.equal(rest.body.events.length, 41);
  assert.equal(page.api.requests.length, 3);
});

test("a batch over the API's 16 MiB inflated limit is given up as too_large without being sent", async (t) => {
  useClock(t);
  const page = openPage({}, { snapshot: false });
  page.record.emit(meta());
  page.record.emit(fullSnapshot(17 * 1024 * 1024));
  await page.recorder.flush();
  const status = page.recorder.status();
  assert.equal(page.api.requests.length, 1, "only the Meta event's create went out");
  assert.equal(status.state, "failed");
  assert.equal(status.lastError.reason, "too_large");
  assert.equal(status.lastError.status, null);
  assert.match(status.lastError.message, /17 MiB of JSON; the API takes 16 MiB/);
  assert.equal(describeStatus(status).text, "Not saved: a batch was too large for the API (1 batch lost)");
});

test("a batch over the API's 4 MiB on the wire is given up as too_large without being sent", async (t) => {
  useClock(t);
  const page = openPage({}, { snapshot: false });
  page.record.emit(meta());
  const noise = randomBytes(4_600_000).toString("base64"); // barely compressible
  const snapshot = fullSnapshot(0);
  snapshot.data.node.childNodes[0].childNodes[0].childNodes[0].textContent = noise;
  page.record.emit(snapshot);
  await page.recorder.flush();
  assert.equal(page.api.requests.length, 1);
  assert.match(page.recorder.status().lastError.message, /MiB compressed, as base64; the API takes 4 MiB/);
});

test("hiding the page hands what waits to sendBeacon (no acknowledgement); shown again, it is confirmed", async (t) => {
  useClock(t);
  const page = openPage();
  page.record.emit(click());
  hide(page);
  assert.equal(page.api.requests.length, 0);
  assert.equal(page.api.beacons.length, 1);
  assert.equal(page.api.beacons[0].path, "/recordings", "not created yet: the create route, which is idempotent");
  const [beacon] = await page.api.beaconBodies();
  assert.equal(beacon.id, page.recorder.id);
  assert.equal(beacon.view, START);
  assert.equal(beacon.events.length, 3);
  let status = page.recorder.status();
  assert.equal(status.handedOff, 1);
  assert.equal(status.pending, 1);
  assert.equal(status.acknowledged, 0);

  show(page);
  await settle();
  status = page.recorder.status();
  assert.equal(page.api.requests.length, 1);
  assert.equal(page.api.requests[0].body.seq, beacon.seq, "the same seq: the API stores it once");
  assert.equal(status.handedOff, 0);
  assert.equal(status.acknowledged, 1);
});

test("stop() after the exit path handed batches to sendBeacon is not saved", async (t) => {
  useClock(t);
  const page = openPage();
  hide(page);
  const result = await stopNow(page);
  assert.equal(result.drained, false);
  assert.equal(result.state, "unsaved");
  assert.equal(result.handedOff, 1);
  assert.equal(describeStatus(result).text, "Not saved yet: 1 batch waiting");
});

test("a batch the browser takes neither as a beacon nor as a keepalive fetch stays queued", async (t) => {
  useClock(t);
  const page = openPage();
  page.api.takeBeacons(false);
  // The budget a refused beacon ran into is the keepalive fetch's too: the browser rejects it.
  page.api.answer = (request) => (request.keepalive ? "abort" : new Promise(() => {})); // nothing answers while the page is hidden
  hide(page);
  await settle();
  assert.equal(page.recorder.status().handedOff, 0);
  assert.equal(page.recorder.status().pending, 1);
});

/** Three batches waiting when the page is hidden: the API did not answer the first. */
async function threeWaiting(page) {
  page.api.answer = () => "abort";
  page.recorder.flush();
  await settle();
  await advance(50); // no answer: the first batch waits to be retried, off the wire
  page.record.emit(click());
  page.recorder.flush();
  page.record.emit(click());
  page.recorder.flush();
  assert.equal(page.recorder.status().pending, 3);
}

test("a beacon the browser refuses does not hold back the batches after it", async (t) => {
  useClock(t);
  const page = openPage();
  await threeWaiting(page);
  const offered = [];
  page.api.sendBeacon = (url, blob) => {
    offered.push(url);
    if (offered.length === 1) return false; // over the budget, say; the next ones fit
    page.api.beacons.push({ url, path: new URL(url).pathname, blob });
    return true;
  };
  page.api.answer = (request) => (request.keepalive ? "abort" : new Promise(() => {}));
  const requestsBefore = page.api.requests.length;
  hide(page);
  await settle();

  assert.equal(offered.length, 3, "every waiting batch is offered to sendBeacon");
  const first = START * 1000;
  assert.deepEqual(
    (await page.api.beaconBodies()).map((b) => b.seq),
    [first + 1, first + 2],
    "the batches after the refused one leave",
  );
  const fallback = page.api.requests.slice(requestsBefore);
  assert.equal(fallback.length, 1, "the refused one is tried as a keepalive fetch");
  assert.equal(fallback[0].keepalive, true);
  assert.equal(fallback[0].body.seq, first);
  let status = page.recorder.status();
  assert.equal(status.handedOff, 2);
  assert.equal(status.pending, 3, "the refused one is still waiting, with the two handed off");

  // The page lives on: the refused batch is sent as usual, the others confirmed when shown.
  const stored = [];
  page.api.answer = (request, api) => {
    stored.push(request.body.seq);
    return api.acknowledge(request);
  };
  show(page);
  await advance(30_000);
  status = page.recorder.status();
  assert.equal(status.pending, 0);
  assert.equal(status.handedOff, 0);
  assert.equal(status.acknowledged, 3);
  assert.deepEqual(stored, [first, first + 1, first + 2], "each stored once, in seq order");
});

test("a beacon the browser refuses goes out as a keepalive fetch where one fits", async (t) => {
  useClock(t);
  const page = openPage();
  await threeWaiting(page);
  let refusals = 1;
  page.api.sendBeacon = (url, blob) => {
    if (refusals-- > 0) return false;
    page.api.beacons.push({ url, path: new URL(url).pathname, blob });
    return true;
  };
  page.api.answer = (request) => (request.keepalive ? page.api.acknowledge(request) : new Promise(() => {}));
  const requestsBefore = page.api.requests.length;
  hide(page);
  await settle();

  const fallback = page.api.requests.slice(requestsBefore);
  assert.deepEqual(
    fallback.map((r) => [r.path, r.keepalive, r.body.seq]),
    [["/recordings", true, START * 1000]],
    "not created yet: the create route, which is idempotent",
  );
  assert.equal(page.api.beacons.length, 2);
  const status = page.recorder.status();
  assert.equal(status.handedOff, 3, "all three left; none is acknowledged by an exit send");
  assert.equal(status.acknowledged, 0);
});

test("a batch being sent without keepalive when the page is hidden is beaconed too, and not acknowledged", async (t) => {
  useClock(t);
  const page = openPage();
  page.api.answer = () => "abort"; // the browser cancels the request with the page
  page.recorder.flush();
  hide(page);
  assert.equal(page.api.beacons.length, 1);
  await settle();
  await advance(50);
  const status = page.recorder.status();
  assert.equal(status.handedOff, 1);
  assert.equal(status.pending, 1);
  assert.equal(status.acknowledged, 0);
});

test("each batch carries errors, the count of error-level console records in it", async (t) => {
  useClock(t);
  const page = openPage();
  page.record.emit(consoleRecord("error", "boom"));
  page.record.emit(consoleRecord("warn", "careful"));
  page.record.emit(consoleRecord("error", "again"));
  await page.recorder.flush();
  page.record.emit(consoleRecord("log", "fine"));
  await page.recorder.flush();
  const [create, later] = page.api.requests;
  assert.equal(create.body.errors, 2);
  assert.equal("errors" in later.body, false);
});

test("console records are cut to a bounded size", async (t) => {
  useClock(t);
  const page = openPage();
  page.record.emit(consoleRecord("log", ...Array.from({ length: 30 }, () => "x".repeat(10_000))));
  await page.recorder.flush();
  const logged = page.api.requests[0].body.events.at(-1).data.payload.payload;
  assert.equal(logged.length, 20);
  assert.ok(logged.every((item) => item.length <= 2001));
});

test("rrweb gets the console plugin with the recorded levels and bounded stringify options, unless recordConsole is false", (t) => {
  useClock(t);
  const { record } = openPage();
  const [plugin, network] = record.options.plugins;
  assert.equal(plugin.name, "rrweb/console@1");
  assert.deepEqual(plugin.options.level, ["error", "warn", "info", "log"]);
  assert.equal(plugin.options.stringifyOptions.stringLengthLimit, 1000);
  assert.equal(network.name, "rrweb/network@1", "the network plugin, by default");
  assert.deepEqual(
    openPage({ recordConsole: false }).record.options.plugins.map((p) => p.name),
    ["rrweb/network@1"],
  );
  assert.deepEqual(openPage({ recordConsole: false, recordNetwork: false }).record.options.plugins, []);
});

test("maskAllText masks every text node but inside [data-rr-unmask], and the title it is listed under; blockMedia blocks media", async (t) => {
  useClock(t);
  const plain = openPage();
  assert.equal(plain.record.options.maskTextSelector, undefined, "text is recorded by default");
  assert.equal(plain.record.options.blockSelector.includes("img"), false, "and media");
  const page = openPage({ maskAllText: true, blockMedia: true });
  const { options } = page.record;
  assert.equal(options.maskTextSelector, "*");
  const inside = (unmasked) => ({ closest: (selector) => (selector === "[data-rr-unmask]" && unmasked ? {} : null) });
  assert.equal(options.maskTextFn("Jane Doe,\n12 Baker St", inside(false)), "**** ****\n** ***** **");
  assert.equal(options.maskTextFn("Opening hours", inside(true)), "Opening hours");
  for (const medium of ["img", "video", "audio", "picture", "object", "embed"]) assert.ok(options.blockSelector.includes(medium), medium);
  await advance(1000);
  assert.equal(page.api.requests[0].body.title, "**** * ****", "the page's title (Cart · Shop) masked too");
});

test("maskAllText masks the text attributes too (alt, title, placeholder, aria-label), in snapshots and mutations, but inside [data-rr-unmask]", async (t) => {
  useClock(t);
  const page = openPage({ maskAllText: true }, { snapshot: false });
  const { mirror } = page.record;
  const unmaskedBox = { nodeType: 1, closest: (selector) => (selector === "[data-rr-unmask]" ? {} : null) };
  const plainBox = { nodeType: 1, closest: () => null };
  mirror.add(plainBox, 3);
  mirror.add(unmaskedBox, 70);
  page.record.emit(meta());
  const image = { type: 2, tagName: "img", id: 20, attributes: { src: "/p.png", alt: "Red shoes size 42", title: "Jane's order" }, childNodes: [] };
  const field = { type: 2, tagName: "input", id: 21, attributes: { placeholder: "Search orders", "aria-label": "Search" }, childNodes: [] };
  const open = { type: 2, tagName: "div", id: 22, attributes: { "data-rr-unmask": "" }, childNodes: [{ type: 2, tagName: "img", id: 23, attributes: { alt: "Logo" }, childNodes: [] }] };
  const more = [
    { type: 2, tagName: "input", id: 24, attributes: { type: "submit", value: "Pay Jane" }, childNodes: [] },
    { type: 2, tagName: "option", id: 25, attributes: { label: "Jane's address", value: "Jane home" }, childNodes: [] },
    { type: 2, tagName: "meta", id: 26, attributes: { name: "description", content: "Orders of Jane" }, childNodes: [] },
    { type: 2, tagName: "meta", id: 27, attributes: { name: "viewport", content: "width=device-width" }, childNodes: [] },
    { type: 2, tagName: "iframe", id: 28, attributes: { srcdoc: "<p>Jane</p>" }, childNodes: [] },
    { type: 2, tagName: "a", id: 29, attributes: { "data-original-title": "Jane's profile", "xlink:title": "Jane" }, childNodes: [] },
  ];
  mirror.add({ nodeType: 1, tagName: "INPUT", type: "submit", closest: () => null }, 24);
  page.record.emit(fullSnapshot(10, [image, field, open, ...more]));
  page.record.emit({
    type: 3,
    timestamp: Date.now(),
    data: {
      source: 0,
      texts: [],
      removes: [],
      adds: [
        { parentId: 3, nextId: null, node: { type: 2, tagName: "button", id: 30, attributes: { "aria-label": "Delete Jane" }, childNodes: [] } },
        { parentId: 70, nextId: null, node: { type: 2, tagName: "button", id: 31, attributes: { "aria-label": "Help" }, childNodes: [] } },
      ],
      attributes: [
        { id: 3, attributes: { title: "Jane Doe", class: "card" } },
        { id: 70, attributes: { title: "Opening hours" } },
        { id: 24, attributes: { value: "Pay Jane now" } },
      ],
    },
  });
  await page.recorder.flush();
  const events = page.api.requests.flatMap((r) => r.body.events);
  const text = JSON.stringify(events);
  for (const secret of ["Red shoes", "Jane", "Search orders", "Search"]) assert.ok(!text.includes(secret), secret);
  const snap = events.find((e) => e.type === 2).data.node.childNodes[0].childNodes;
  assert.equal(snap[1].attributes.alt, "*** ***** **** **", "same length, whitespace kept");
  assert.equal(snap[1].attributes.src, "/p.png", "other attributes as they were");
  assert.equal(snap[3].childNodes[0].attributes.alt, "Logo", "inside [data-rr-unmask] in the snapshot");
  const mutation = events.find((e) => e.type === 3).data;
  assert.equal(mutation.adds[1].node.attributes["aria-label"], "Help", "added under an unmasked node");
  assert.equal(mutation.attributes[0].attributes.class, "card");
  assert.equal(mutation.attributes[1].attributes.title, "Opening hours");
  assert.equal(mutation.attributes[2].attributes.value, "*** **** ***", "a button's new label, its tag from the page");
  assert.equal(snap[4].attributes.value, "*** ****", "a submit button's label");
  assert.equal(snap[7].attributes.content, "width=device-width", "a meta the layout needs, kept");
  assert.equal(snap[8].attributes.srcdoc, "", "a frame's inline document, dropped");
});

test("excluded elements leave nothing in the recording: no placeholder, no mutation, no pointer target", async (t) => {
  useClock(t);
  const page = openPage({ excludeSelector: "#badge" }, { snapshot: false });
  const { mirror, options } = page.record;
  assert.equal(options.blockSelector, ".html2canvas-container, #badge");
  const badge = { matches: (selector) => selector.includes("#badge") };
  const other = { matches: () => false };
  mirror.add(page.document.documentElement, 2);
  mirror.add(badge, 50);
  mirror.add(other, 61);
  page.document.excluded = [badge];
  page.record.emit(meta());
  page.record.emit(fullSnapshot(100, [{ type: 2, tagName: "div", id: 50, attributes: { rr_width: "90px", rr_height: "30px" }, childNodes: [] }]));
  const banner = { matches: () => true };
  mirror.add(banner, 60);
  const adds = [
    { parentId: 2, nextId: null, node: { type: 2, tagName: "div", id: 60, attributes: {}, childNodes: [] } },
    { parentId: 3, nextId: 50, node: { type: 2, tagName: "p", id: 61, attributes: {}, childNodes: [] } },
  ];
  page.record.emit({ type: 3, data: { source: 0, adds, removes: [], texts: [], attributes: [] }, timestamp: Date.now() });
  page.record.emit({ type: 3, data: { source: 0, adds: [], removes: [{ parentId: 2, id: 50 }], texts: [], attributes: [] }, timestamp: Date.now() });
  page.record.emit({ type: 3, data: { source: 1, positions: [{ x: 5, y: 5, id: 50, timeOffset: 0 }] }, timestamp: Date.now() });
  // Inside the badge's shadow root targets were never serialised: rrweb says id -1.
  page.record.emit({ type: 3, data: { source: 1, positions: [{ x: 6, y: 6, id: -1, timeOffset: 0 }] }, timestamp: Date.now() });
  page.record.emit({ type: 3, data: { source: 2, type: 2, id: -1, x: 6, y: 6 }, timestamp: Date.now() });
  await page.recorder.flush();

  const events = page.api.requests.flatMap((r) => r.body.events);
  const text = JSON.stringify(events);
  assert.doesNotMatch(text, /"id":(50|60)[,}]/);
  assert.doesNotMatch(text, /rr_width/);
  assert.equal(events.length, 5, "the mutation that only removed the badge, and the click in it, are gone");
  assert.equal(events[2].data.adds.length, 1);
  assert.equal(events[2].data.adds[0].nextId, null);
  assert.equal(events[3].data.positions[0].id, 2);
  assert.equal(events[4].data.positions[0].id, 2);
});

test("while someone watches live, batches leave every liveFlushMs", async (t) => {
  useClock(t);
  const api = fakeApi();
  api.answer = (request) => (request.create ? json(201, { recording: {}, screenshotUpload: null, firstBatch: { live: true } }) : json(202, { live: true }));
  const page = openPage({}, { api });
  await page.recorder.flush();
  assert.equal(page.recorder.live, true);
  await advance(0);
  assert.equal(page.api.requests.length, 2);
  page.record.emit(click());
  await advance(LIMITS.liveFlushMs - 1);
  assert.equal(page.api.requests.length, 2);
  await advance(1);
  assert.equal(page.api.requests.length, 3);
});

test("a new watcher gets a full snapshot at once, and only batches after it ask for the watched path", async (t) => {
  useClock(t);
  const api = fakeApi();
  let watched = false;
  api.answer = (request) => (request.create ? json(201, { recording: {}, screenshotUpload: null, firstBatch: { live: false } }) : json(202, { live: watched }));
  const page = openPage({}, { api });
  await page.recorder.flush();
  page.record.emit(click());
  await page.recorder.flush();
  const before = page.record.snapshots;
  assert.equal(page.api.requests[1].body.live, undefined, "nobody watches: the batch does not ask");
  // Someone opens the recording: the next answer says so.
  watched = true;
  page.record.emit(click());
  await page.recorder.flush();
  assert.equal(page.api.requests[2].body.live, undefined, "taken before the recorder knew");
  await advance(0);
  assert.equal(page.record.snapshots, before + 1, "a full snapshot for the watcher");
  const snapshot = page.api.requests[3].body;
  assert.equal(snapshot.live, true);
  assert.ok(snapshot.events.some((event) => event.type === 2), "the batch holds the full snapshot");
  // Marked first, so the replay does not take the snapshot's Meta for a page view.
  assert.deepEqual(
    snapshot.events.slice(0, 3).map((event) => [event.type, event.data?.tag]),
    [[5, SNAPSHOT_TAG], [4, undefined], [2, undefined]],
  );
  // The watcher leaves: batches stop asking, and no snapshot is taken.
  watched = false;
  page.record.emit(click());
  await advance(LIMITS.liveFlushMs);
  assert.equal(page.api.requests[4].body.live, true, "taken while live");
  page.record.emit(click());
  await page.recorder.flush();
  await advance(0);
  assert.equal(page.api.requests[5].body.live, undefined);
  assert.equal(page.record.snapshots, before + 1);
});

// A page showing one image: the recorder keeps its bytes in the asset store.
async function pageWithImage(t, { storage = new MemoryStorage(), clock = true } = {}) {
  if (clock) useClock(t);
  const api = fakeApi();
  const image = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
  const uploads = [];
  const fetch = async (url, init) => {
    if (url === "https://shop.example.test/hero.png") return new Response(image, { headers: { "Content-Type": "image/png" } });
    if (url.startsWith("https://s3.example.test/")) {
      uploads.push(url);
      return new Response("", { status: 200 });
    }
    return api.fetch(url, init);
  };
  const missing = (asked) => ({ held: 0, missing: asked.map((a) => ({ sha256: a.sha256, upload: { method: "PUT", url: `https://s3.example.test/${a.sha256}`, headers: {} } })) });
  api.answer = (request) => {
    const answer = request.body.assets ? { assets: missing(request.body.assets) } : {};
    return request.create
      ? json(201, { recording: { id: request.body.id }, screenshotUpload: null, firstBatch: { live: false }, ...answer })
      : json(202, { live: false, ...answer });
  };
  const page = openPage({}, { api, storage, snapshot: false, deps: { fetch, crypto: webcrypto, location: { href: PAGE, origin: "https://shop.example.test" } } });
  page.record.emit(meta());
  page.record.emit(fullSnapshot(100, [{ type: 2, tagName: "img", id: 9, attributes: { src: "https://shop.example.test/hero.png" }, childNodes: [] }]));
  // The image is read and hashed (crypto.subtle works off the event loop) before the
  // snapshot goes on to the transport.
  for (let round = 0; round < 5000 && page.recorder.assets().kept === 0; round += 1) await new Promise((resolve) => setImmediate(resolve));
  await settle(20);
  return { page, api, uploads };
}

test("the page's question about its assets rides on its first batch, costing no request of its own; the missing are uploaded", async (t) => {
  const { page, api, uploads } = await pageWithImage(t);
  await settle(40);
  await advance(1000);
  await settle(40);
  assert.equal(api.requests.length, 1, "one request: the create, carrying the question");
  const [create] = api.requests;
  assert.equal(create.path, "/recordings");
  assert.equal(create.body.assets.length, 1);
  assert.equal(create.body.assets[0].type, "image/png");
  assert.equal(create.body.assets[0].size, 7);
  assert.equal(uploads.length, 1, "the answer's upload went straight to S3");
  page.record.emit(click());
  await page.recorder.flush();
  assert.equal("assets" in api.requests[1].body, false, "asked once");
});

test("a question unanswered (a beacon, whose answer is never read) rides on the next batch", async (t) => {
  const { page, api, uploads } = await pageWithImage(t);
  await settle(40);
  hide(page);
  const [beacon] = await api.beaconBodies();
  assert.equal("assets" in beacon, false, "the exit path carries no question");
  show(page);
  await settle(40);
  const carrying = api.requests.filter((request) => request.body.assets);
  assert.equal(carrying.length, 1, "asked again by the batch sent once the page came back");
  assert.equal(uploads.length, 1);
});

test("a continuing page's first batch leaves early only when it carries a question", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  await first.recorder.flush();
  const { api } = await pageWithImage(t, { storage, clock: false });
  await settle(40);
  await advance(1000);
  await settle(40);
  assert.equal(api.requests.length, 1, "the question's batch left after firstFlushMs");
  assert.equal(api.requests[0].body.id, first.recorder.id, "a page view of the same recording");
  assert.equal(api.requests[0].body.assets.length, 1);
  // The next page shows the same image, asked about already: its batch waits as usual.
  const next = await pageWithImage(t, { storage, clock: false });
  await settle(40);
  await advance(1000);
  await settle(40);
  assert.equal(next.api.requests.length, 0);
  await advance(9000);
  assert.equal(next.api.requests.length, 1);
  assert.equal("assets" in next.api.requests[0].body, false);
});

test("every batch leaves as base64 text of its gzip, which any door delivers intact", async (t) => {
  for (const length of [0, 1, 2, 3, 4, 5, 255, 256, 257, 100_000]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 7919 + length) & 255);
    assert.equal(strFromU8(armour(bytes)), Buffer.from(bytes).toString("base64"), `length ${length}`);
  }
  useClock(t);
  const page = openPage();
  await advance(1000);
  const [create] = page.api.requests;
  // gzip's magic in base64, and nothing outside base64's alphabet: plain ASCII text.
  assert.match(strFromU8(create.raw), /^H4sI[A-Za-z0-9+/]+=*$/);
});
