// What the badge and the demo page say, and the bookmarklet's loader telling its failures apart.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bookmarkletHref } from "../src/bookmarklet-page.js";
import { describeStatus } from "../src/recorder/status.js";

const NOW = 1_700_000_000_000;
const status = (fields) => ({
  state: "recording",
  id: "rec_0123456789",
  acknowledged: 4,
  pending: 0,
  pendingEvents: 0,
  handedOff: 0,
  gaveUp: 0,
  dropped: 0,
  paused: false,
  retryAt: null,
  lastError: null,
  live: false,
  ...fields,
});
const problem = (reason, code = null) => ({ reason, status: code, message: `${reason} (HTTP ${code})` });

test("Saved only when the state is saved", () => {
  assert.deepEqual(describeStatus(status({ state: "saved" }), NOW), { text: "Saved", tone: "ok", saved: true });
  for (const state of ["recording", "sending", "unsaved", "failed", "stopped"]) {
    assert.equal(describeStatus(status({ state, pending: 1 }), NOW).saved, false, state);
  }
});

test("a healthy recording says Recording; a backlog says how many batches wait and when they are retried", () => {
  assert.deepEqual(describeStatus(status({}), NOW), { text: "Recording", tone: "ok", saved: false });
  const behind = status({ pending: 3, retryAt: NOW + 7200, lastError: problem("backing_off", 503) });
  assert.equal(describeStatus(behind, NOW).text, "Recording · Saving… 3 batches waiting, the API asked to wait, retrying in 8 s");
  const sending = status({ state: "sending", pending: 3, retryAt: NOW + 8000, lastError: problem("unreachable") });
  assert.equal(describeStatus(sending, NOW).text, "Saving… 3 batches waiting, the API is unreachable, retrying in 8 s");
  assert.equal(describeStatus(status({ state: "sending", pending: 1 }), NOW).text, "Saving… 1 batch waiting");
});

test("a failure says why it is not saved", () => {
  const says = (reason, code) => describeStatus(status({ state: "failed", gaveUp: 1, acknowledged: 0, lastError: problem(reason, code) }), NOW).text;
  assert.equal(says("key_refused", 403), "Not saved: the ingest key was refused");
  assert.equal(says("blocked"), "Not saved: blocked by this page's Content-Security-Policy");
  assert.equal(says("recording_gone", 404), "Not saved: the recording no longer exists");
  assert.equal(says("too_large", 413), "Not saved: a batch was too large for the API");
  assert.equal(describeStatus(status({ state: "failed", gaveUp: 2, lastError: problem("refused", 400) }), NOW).text, "Not saved: the API refused a batch (2 batches lost)");
});

test("unsaved after stop says what still waits", () => {
  const unsaved = status({ state: "unsaved", pending: 2, retryAt: NOW + 30_000, lastError: problem("backing_off", 429) });
  assert.equal(describeStatus(unsaved, NOW).text, "Not saved yet: 2 batches waiting, the API asked to wait, retrying in 30 s");
  assert.equal(describeStatus(status({ state: "stopped" }), NOW).text, "Stopped: nothing was recorded");
});

/** Runs the bookmarklet in a page stub; `load` decides how its script tag ends. */
async function click(href, load) {
  const listeners = {};
  const appended = [];
  const element = (tag) => ({ tag, dataset: {}, style: {}, attributes: {}, setAttribute(name, value) { this.attributes[name] = value; }, remove() {} });
  const document = {
    head: { appendChild: (node) => (appended.push(node), load(node, listeners)) },
    body: { appendChild: (node) => appended.push(node) },
    createElement: element,
    addEventListener: (type, fn) => (listeners[type] = fn),
    removeEventListener: (type) => delete listeners[type],
  };
  const code = decodeURIComponent(href.slice("javascript:".length));
  new Function("window", "document", code)({}, document);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return appended;
}

test("the bookmarklet tells a Content-Security-Policy refusal from an unreachable site", async () => {
  const href = bookmarkletHref({ siteOrigin: "https://rec.example.test", ingestUrl: "https://api.example.test/", key: "rrk_abc" });
  assert.match(href, /^javascript:/);
  const [script] = await click(href, () => {});
  assert.equal(script.src, "https://rec.example.test/assets/bookmarklet.js");
  assert.deepEqual(script.dataset, { key: "rrk_abc", ingest: "https://api.example.test/", site: "https://rec.example.test" });

  const [, csp] = await click(href, (node, listeners) => {
    node.onerror();
    // The violation event comes after the error event, as it may in a browser.
    setTimeout(() => listeners.securitypolicyviolation({ blockedURI: "https://rec.example.test/assets/bookmarklet.js" }), 20);
  });
  assert.equal(csp.id, "rrweb-s3-csp-banner");
  assert.match(csp.textContent, /Content-Security-Policy does not allow scripts from https:\/\/rec\.example\.test/);
  assert.equal(csp.attributes.role, "alert");

  const [, down] = await click(href, (node) => node.onerror());
  assert.equal(down.id, "rrweb-s3-unreachable-banner");
  assert.match(down.textContent, /https:\/\/rec\.example\.test is unreachable/);

  const [, other] = await click(href, (node, listeners) => {
    listeners.securitypolicyviolation({ blockedURI: "https://elsewhere.example.test/x.js" });
    listeners.securitypolicyviolation({ blockedURI: "https://rec.example.test/assets/bookmarklet.js", disposition: "report" });
    node.onerror();
  });
  assert.equal(other.id, "rrweb-s3-unreachable-banner", "another script's violation, or a report-only one, is not ours");
});
