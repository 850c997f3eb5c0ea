// The controls an admin set on a key, read before recording starts (data-key-controls).
import assert from "node:assert/strict";
import { test } from "node:test";

import { withKeyControls } from "../src/recorder.js";
import { advance, json, openPage, useClock } from "./fake-browser.js";

const OPTIONS = { ingestUrl: "https://api.example.test/", ingestKey: "rrk_a_b", sampleRate: 1, maskAllText: false, recordConsole: true };

test("the key's controls replace the page's options of the same name; nothing else is taken", async () => {
  const asked = [];
  const fetch = async (url, init) => {
    asked.push({ url, init });
    return json(200, { controls: { sampleRate: 0.1, maskAllText: true, urlDeny: ["*/account*"], recordConsole: false, ingestUrl: "https://evil.test" } });
  };
  const chosen = await withKeyControls(OPTIONS, { fetch });
  assert.equal(asked.length, 1);
  assert.equal(asked[0].url, "https://api.example.test/controls?ingestKey=rrk_a_b");
  assert.equal(asked[0].init.method, "GET", "a simple GET: no preflight, cached by the browser");
  assert.deepEqual(chosen, { ...OPTIONS, sampleRate: 0.1, maskAllText: true, urlDeny: ["*/account*"] });
});

test("controls that cannot be read leave the page's options as given, and say why", async (t) => {
  for (const answer of [() => json(503, { error: {} }), () => Promise.reject(new TypeError("Failed to fetch"))]) {
    const errors = [];
    const chosen = await withKeyControls({ ...OPTIONS, onError: (error) => errors.push(error.message) }, { fetch: answer });
    assert.equal(chosen.sampleRate, 1);
    assert.match(errors[0], /controls were not read/);
  }
  useClock(t);
  const errors = [];
  const pending = withKeyControls({ ...OPTIONS, onError: (error) => errors.push(error.message) }, { fetch: () => new Promise(() => {}) });
  await advance(2000);
  const chosen = await pending;
  assert.equal(chosen.maskAllText, false, "no answer within 2 s: recording starts with the page's options");
  assert.match(errors[0], /within 2000 ms/);
});

test("a key refused when its controls are read records nothing and sends nothing more: one warning", async () => {
  const fetch = async () => json(403, { error: { code: "origin_not_allowed", message: "this ingest key is not allowed on https://other.example" } });
  const chosen = await withKeyControls(OPTIONS, { fetch });
  assert.equal(chosen.keyRefused, "HTTP 403: this ingest key is not allowed on https://other.example");
  const page = openPage({ keyRefused: chosen.keyRefused }, { snapshot: false });
  await page.recorder.flush();
  assert.equal(page.api.requests.length, 0);
  assert.equal(page.warnings.length, 1);
  assert.match(page.warnings[0], /not recording: the ingest key was refused \(HTTP 403: this ingest key is not allowed on https:\/\/other\.example\)/);
  assert.equal(page.recorder.status().lastError.reason, "key_refused");
});
