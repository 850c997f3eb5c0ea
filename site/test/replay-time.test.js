// Times the replay page writes: a moment within a recording, and a live recording's length.
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatMoment, liveDurationMs } from "../src/replay-time.js";

const at = (...timestamps) => timestamps.map((timestamp) => ({ type: 3, timestamp }));

test("a moment reads m:ss, and h:mm:ss from an hour on", () => {
  assert.equal(formatMoment(0), "0:00");
  assert.equal(formatMoment(61_500), "1:01");
  assert.equal(formatMoment(3_725_000), "1:02:05");
  assert.equal(formatMoment(-5), "0:00");
});

test("a live recording runs from its creation while its first batches are still on their way", () => {
  // Opened 40 s in: the page holds only the snapshot taken for it and what followed.
  const recording = { createdAt: 1_000_000, firstEventAt: null };
  assert.equal(liveDurationMs(recording, at(1_040_000, 1_045_000)), 45_000);
});

test("a live recording runs from its first counted event, or the first seen, when earlier", () => {
  assert.equal(liveDurationMs({ createdAt: 1_000_500, firstEventAt: 1_000_000 }, at(1_010_000, 1_020_000)), 20_000);
  assert.equal(liveDurationMs({ createdAt: 1_000_500, firstEventAt: null }, at(999_000, 1_020_000)), 21_000);
  // Once an event is counted, the stack's clock (creation) no longer counts.
  assert.equal(liveDurationMs({ createdAt: 900_000, firstEventAt: 1_000_000 }, at(1_010_000, 1_020_000)), 20_000);
});

test("no events is 0, and a recorder's clock behind the stack's never makes it negative", () => {
  assert.equal(liveDurationMs({ createdAt: 1_000_000 }, []), 0);
  assert.equal(liveDurationMs({ createdAt: 2_000_000, firstEventAt: null }, at(1_000_000)), 0);
});
