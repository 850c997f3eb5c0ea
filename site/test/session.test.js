// Sessions: the pages of one tab join one recording while the visitor stays active.
import assert from "node:assert/strict";
import { test } from "node:test";

import { urlRecorded } from "../src/recorder.js";
import { SESSION_KEY } from "../src/recorder/session.js";
import { MemoryStorage, START, advance, click, hide, mutation, openPage, refused, useClock } from "./fake-browser.js";

const stored = (storage) => JSON.parse(storage.getItem(SESSION_KEY));

test("a new page within sessionIdleMs continues the recording: a create with its own view, seqs after the last page's", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  await first.recorder.flush();
  first.record.emit(click());
  await first.recorder.flush();
  await advance(60_000);

  const second = openPage({}, { storage, href: "https://shop.example.test/checkout" });
  assert.equal(second.recorder.id, first.recorder.id);
  await second.recorder.flush();
  const [create] = second.api.requests;
  assert.equal(create.path, "/recordings", "each page's first flush creates (adds its page view)");
  assert.equal(create.body.id, first.recorder.id);
  assert.equal(create.body.url, "https://shop.example.test/checkout");
  assert.equal(create.body.view, START + 60_000);
  assert.ok(create.body.seq > Math.max(...first.api.seqs));
  second.record.emit(click());
  await second.recorder.flush();
  assert.equal(second.api.requests[1].path, `/recordings/${first.recorder.id}/events`);
  assert.deepEqual(
    Object.keys(stored(storage)).sort(),
    ["id", "lastActivity", "lastView", "nextSeq", "sampled", "startedAt", "triggered", "user"],
  );
});

test("activity, not DOM changes, keeps a session alive; after sessionIdleMs without it a new page starts a new recording", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const options = { sessionIdleMs: 5000 };
  const first = openPage(options, { storage });
  await advance(4000);
  first.record.emit(click());
  await advance(4000);
  const second = openPage(options, { storage });
  assert.equal(second.recorder.id, first.recorder.id, "8 s after the start, 4 s after the last click");

  for (let i = 0; i < 6; i += 1) {
    await advance(1000);
    second.record.emit(mutation(10)); // a ticking clock on the page is not the visitor
  }
  const third = openPage(options, { storage });
  assert.notEqual(third.recorder.id, first.recorder.id);
  assert.equal(stored(storage).id, third.recorder.id);
});

test("a page continuing a session waits the full interval: only a new recording sends its first batch early", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  await advance(1000);
  assert.equal(first.api.requests.length, 1, "the new recording is created after firstFlushMs");
  first.record.emit(click());
  const second = openPage({}, { storage });
  assert.equal(second.recorder.id, first.recorder.id);
  await advance(9999);
  assert.equal(second.api.requests.length, 0, "already listed: nothing to announce");
  await advance(1);
  assert.equal(second.api.requests.length, 1);
  assert.equal(second.api.requests[0].path, "/recordings", "the page view is added by its first flush");
});

test("a session older than sessionMaxMs ends even while the visitor is active", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const options = { sessionIdleMs: 5000, sessionMaxMs: 10_000 };
  const first = openPage(options, { storage });
  for (let i = 0; i < 6; i += 1) {
    await advance(2000);
    first.record.emit(click());
  }
  const second = openPage(options, { storage });
  assert.notEqual(second.recorder.id, first.recorder.id);
});

test("views and seqs never go back within a tab, even when the clock does", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  storage.setItem(
    SESSION_KEY,
    JSON.stringify({ id: "earlier_session_id", startedAt: START, lastActivity: START, lastView: START + 5000, nextSeq: (START + 5000) * 1000 + 1500, user: null }),
  );
  const page = openPage({}, { storage });
  assert.equal(page.recorder.id, "earlier_session_id");
  await page.recorder.flush();
  const [create] = page.api.requests;
  assert.equal(create.body.view, START + 5001);
  assert.equal(create.body.seq, (START + 5000) * 1000 + 1500);
});

test("a create answered 409 id_in_use (the recording was deleted) starts a new id and creates again with the same batch", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  await first.recorder.flush();
  const deleted = first.recorder.id;

  const second = openPage({}, { storage });
  second.api.answer = (request, api) => (request.create && request.body.id === deleted ? refused(409, "id_in_use") : api.acknowledge(request));
  await second.recorder.flush();
  const [refusedCreate, create] = second.api.requests;
  assert.equal(refusedCreate.body.id, deleted);
  assert.notEqual(create.body.id, deleted);
  assert.equal(create.body.seq, refusedCreate.body.seq);
  assert.equal(second.recorder.id, create.body.id);
  assert.equal(stored(storage).id, create.body.id);
  const status = second.recorder.status();
  assert.equal(status.state, "recording");
  assert.equal(status.gaveUp, 0);
  assert.equal(status.id, create.body.id);
  second.record.emit(click());
  await second.recorder.flush();
  assert.equal(second.api.requests[2].path, `/recordings/${create.body.id}/events`);
});

test("session: false and an explicit recordingId keep nothing in sessionStorage", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({ session: false }, { storage });
  const second = openPage({ session: false }, { storage });
  assert.notEqual(first.recorder.id, second.recorder.id);
  const explicit = openPage({ recordingId: "my-own-recording" }, { storage });
  assert.equal(explicit.recorder.id, "my-own-recording");
  assert.equal(storage.getItem(SESSION_KEY), null);
  assert.throws(() => openPage({ recordingId: "bad id" }, { storage }), /recordingId/);
});

test("stop() ends the session: the next page starts a new recording, the visitor stays identified", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  first.recorder.identify("user-42", { plan: "team" });
  const stopping = first.recorder.stop();
  await advance(0);
  await stopping;
  await advance(1000);
  const second = openPage({}, { storage });
  assert.notEqual(second.recorder.id, first.recorder.id);
  await second.recorder.flush();
  assert.deepEqual(second.api.requests[0].body.user, { id: "user-42", traits: { plan: "team" } });
  assert.ok(second.api.requests[0].body.view > START);
});

test("a tab without sessionStorage records each page on its own", (t) => {
  useClock(t);
  const broken = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("SecurityError");
    },
  };
  const first = openPage({}, { storage: broken });
  const second = openPage({}, { storage: broken });
  assert.notEqual(first.recorder.id, second.recorder.id);
});

test("sampleRate decides once per session: a sampled-out visit records and sends nothing on any of its pages", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const out = openPage({ sampleRate: 0.25 }, { storage, snapshot: false, random: () => 0.5 });
  assert.equal(out.record.options, undefined, "rrweb never starts");
  await advance(60_000);
  assert.equal(out.api.requests.length, 0);
  assert.equal(out.recorder.status().skipped, "sampled_out");
  // The next page of the visit draws again: no, the session's decision holds.
  const next = openPage({ sampleRate: 0.25 }, { storage, snapshot: false, random: () => 0 });
  assert.equal(next.record.options, undefined);
  // A new visit (another tab) draws its own.
  const other = openPage({ sampleRate: 0.25 }, { random: () => 0.1 });
  await advance(1000);
  assert.equal(other.api.requests.length, 1);
});

test("urlAllow and urlDeny choose the pages recorded: wildcards or RegExps, deny winning", async (t) => {
  useClock(t);
  const page = (href, rules) => openPage(rules, { href, snapshot: false });
  const rules = { urlAllow: ["https://shop.example.test/*"], urlDeny: ["*/account/*", /[?&]token=/] };
  assert.ok(page("https://shop.example.test/cart", rules).record.options, "allowed");
  assert.equal(page("https://blog.example.test/post", rules).record.options, undefined, "not allowed");
  assert.equal(page("https://shop.example.test/account/orders", rules).record.options, undefined, "denied");
  assert.equal(page("https://shop.example.test/cart?token=abc", rules).record.options, undefined, "denied by RegExp");
  const skipped = page("https://blog.example.test/post", rules);
  await advance(10);
  assert.equal(skipped.recorder.status().skipped, "url");
  assert.equal(skipped.statuses.at(-1).state, "stopped", "the page's handlers hear it");
  assert.equal(urlRecorded("https://a.test/x.y", { urlAllow: ["https://a.test/x.y"] }), true);
  assert.equal(urlRecorded("https://a.test/xzy", { urlAllow: ["https://a.test/x.y"] }), false, "a dot is a dot");
});

test("minimumDurationMs: a visit sends nothing until it is that old, then everything it recorded", async (t) => {
  useClock(t);
  const page = openPage({ minimumDurationMs: 10_000 });
  page.record.emit(click());
  await advance(5_000);
  page.record.emit(click());
  await advance(4_000);
  assert.equal(page.api.requests.length, 0, "younger than the minimum: nothing sent");
  assert.equal(page.recorder.status().state, "recording");
  await advance(1_100);
  assert.ok(page.api.requests.length >= 1);
  assert.equal(page.api.requests[0].path, "/recordings", "the create first, then in seq order");
  await advance(6_000);
  const sent = page.api.requests.flatMap((request) => request.body.events);
  assert.deepEqual(
    sent.map((event) => event.type),
    [4, 2, 3, 3],
  );
});

test("minimumDurationMs: a visit stopped or left before it is never sent", async (t) => {
  useClock(t);
  const stopped = openPage({ minimumDurationMs: 10_000 });
  stopped.record.emit(click());
  await advance(2_000);
  const stopping = stopped.recorder.stop();
  await advance(0);
  await advance(100);
  const result = await stopping;
  assert.equal(result.state, "stopped");
  await advance(30_000);
  assert.equal(stopped.api.requests.length, 0);
  assert.equal(stopped.api.beacons.length, 0);

  const left = openPage({ minimumDurationMs: 10_000 });
  left.record.emit(click());
  await advance(2_000);
  hide(left);
  await advance(0);
  assert.equal(left.api.beacons.length + left.api.requests.length, 0, "leaving early sends nothing");
});
