// On-error mode: nothing is sent until the page logs at a chosen level; then the buffer
// (from a full snapshot on, at least onErrorBufferMs of it) and everything after.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryStorage, advance, click, consoleRecord, fullSnapshot, meta, openPage, useClock } from "./fake-browser.js";

const types = (page) => page.api.requests.flatMap((request) => request.body.events).map((event) => event.type);

test("on-error mode sends nothing without an error, and rrweb takes a snapshot every onErrorBufferMs", async (t) => {
  useClock(t);
  const page = openPage({ onErrorBufferMs: 30_000 });
  assert.equal(page.record.options.checkoutEveryNms, 30_000);
  for (let second = 0; second < 120; second += 5) {
    page.record.emit(click());
    page.record.emit(consoleRecord("warn", '"only a warning"'));
    await advance(5_000);
  }
  assert.equal(page.api.requests.length, 0);
  const off = openPage();
  assert.equal(off.record.options.checkoutEveryNms, undefined, "a page recorded as usual takes no extra snapshots");
});

test("an error sends the buffer from a snapshot at least onErrorBufferMs old, then everything after", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const page = openPage({ onErrorBufferMs: 30_000 }, { storage });
  // 100 s of a page, with rrweb's checkout snapshots every 30 s.
  for (let second = 5; second <= 100; second += 5) {
    await advance(5_000);
    if (second % 30 === 0) {
      page.record.emit(meta());
      page.record.emit(fullSnapshot());
    }
    page.record.emit(click());
  }
  assert.equal(page.api.requests.length, 0);
  page.record.emit(consoleRecord("error", '"payment failed"'));
  await advance(1_000);
  page.record.emit(click());
  await advance(11_000);
  const sent = page.api.requests.flatMap((request) => request.body.events);
  // From the snapshot at 60 s (the newest one 30 s or more before the error at 100 s).
  assert.deepEqual(sent.slice(0, 2).map((event) => event.type), [4, 2]);
  assert.equal(sent[0].timestamp, sent.find((event) => event.type === 4).timestamp);
  const clicks = sent.filter((event) => event.type === 3).length;
  assert.equal(clicks, 9 + 1, "the clicks from 60 s to 100 s, and the one after the error");
  assert.ok(sent.some((event) => event.type === 6 && event.data.payload.level === "error"));
  assert.equal(types(page)[0], 4);
  // The session's next page records from its start.
  const next = openPage({ onErrorBufferMs: 30_000 }, { storage });
  assert.equal(next.record.options.checkoutEveryNms, undefined);
  await advance(11_000); // a page continuing a listed recording waits the usual interval
  assert.ok(next.api.requests.length >= 1);
});

test("onErrorLevels chooses the levels that send the recording", async (t) => {
  useClock(t);
  const page = openPage({ onErrorBufferMs: 30_000, onErrorLevels: ["warn", "error"] });
  page.record.emit(consoleRecord("warn", '"slow checkout"'));
  await advance(2_000);
  assert.ok(page.api.requests.length >= 1);
});
