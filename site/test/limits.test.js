// The recorder checks what the API checks with the API's own numbers: the JSON written
// from api/chalicelib/settings.py (python -m ops.site_limits), never a copy by hand.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { LIMITS, startRecording } from "../src/recorder.js";
import { advance, click, fakeApi, json, openPage, useClock } from "./fake-browser.js";

const generated = JSON.parse(readFileSync(new URL("../src/generated/limits.json", import.meta.url), "utf8"));

test("the recorder's limits are the generated ones, every one of them", () => {
  assert.deepEqual({ ...LIMITS }, generated);
});

test("a recording id is checked with the API's pattern", () => {
  const pattern = new RegExp(generated.recordingIdPattern);
  const options = { ingestUrl: "https://api.example", ingestKey: "k" };
  for (const id of ["a".repeat(7), "a".repeat(65), "abc.defgh", "abcdefg/h"]) {
    assert.equal(pattern.test(id), false, id);
    assert.throws(() => startRecording({ ...options, recordingId: id }, { record: () => () => {} }), /recordingId/, id);
  }
});

test("a watched recording's batches leave every liveFlushMs of the API's", async (t) => {
  useClock(t);
  const api = fakeApi();
  api.answer = (request) => (request.create ? json(201, { recording: {}, screenshotUpload: null, firstBatch: { live: true } }) : json(202, { live: true }));
  const page = openPage({}, { api });
  await page.recorder.flush();
  await advance(0); // the full snapshot a new watcher gets, sent at once
  assert.equal(page.api.requests.length, 2);
  page.record.emit(click());
  await advance(generated.liveFlushMs - 1);
  assert.equal(page.api.requests.length, 2);
  await advance(1);
  assert.equal(page.api.requests.length, 3);
});
