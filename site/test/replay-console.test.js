// The console panel's reading of the console plugin's records (the panel itself runs in
// the browser: tests/e2e/test_replay_page.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { consoleRecord, consoleText } from "../src/replay-console.js";

const record = (payload) => ({ type: 6, timestamp: 5, data: { plugin: "rrweb/console@1", payload } });

test("a record's arguments read as the page wrote them: strings unquoted, objects as JSON", () => {
  assert.equal(consoleText({ payload: ['"cart loaded"', '{"items":2}', "3"] }), 'cart loaded {"items":2} 3');
  assert.equal(consoleText({ payload: [] }), "(no message)");
  assert.equal(consoleText({ payload: ['"unterminated'] }), '"unterminated');
});

test("every level is kept, an unknown one reads as log, and only string trace lines are kept", () => {
  for (const level of ["error", "warn", "info", "log", "debug"]) {
    assert.equal(consoleRecord(record({ level, payload: ['"x"'] })).level, level);
  }
  assert.equal(consoleRecord(record({ level: "table", payload: [] })).level, "log");
  assert.deepEqual(consoleRecord(record({ level: "error", payload: [], trace: ["at a (b.js:1:2)", 7, null] })).trace, [
    "at a (b.js:1:2)",
  ]);
});

test("only console plugin events are records, whatever else a recording holds", () => {
  assert.equal(consoleRecord({ type: 6, timestamp: 1, data: { plugin: "rrweb/network@1", payload: {} } }), null);
  assert.equal(consoleRecord({ type: 5, timestamp: 1, data: { tag: "identify" } }), null);
  assert.equal(consoleRecord({ type: 6, timestamp: 1 }), null);
});
