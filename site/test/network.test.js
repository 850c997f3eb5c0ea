// The network plugin: the page's fetch calls as plugin events, secrets redacted, the
// recorder's own requests left out. (XHR runs in the browser: tests/e2e/test_recorder_controls.py.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { networkPlugin, redactBody, redactUrl } from "../src/recorder/network.js";

function page(answer) {
  const calls = [];
  const win = {
    performance: { now: () => 0 },
    fetch: async (input, init) => {
      calls.push([input, init]);
      return answer(input, init);
    },
  };
  return { win, calls };
}

test("a fetch is recorded once it finishes: method, URL, status and size; the page gets its answer", async () => {
  const { win } = page(() => new Response('{"ok":true}', { status: 404, headers: { "content-length": "11" } }));
  const entries = [];
  const undo = networkPlugin({ ignore: () => false }).observer((entry) => entries.push(entry), win);
  const response = await win.fetch("https://shop.test/api/cart?session=abc&page=2", { method: "post", body: "q=1" });
  assert.equal(response.status, 404);
  assert.equal(entries.length, 1);
  const [entry] = entries;
  assert.deepEqual(
    { type: entry.type, method: entry.method, status: entry.status, responseBytes: entry.responseBytes, requestBytes: entry.requestBytes },
    { type: "fetch", method: "POST", status: 404, responseBytes: 11, requestBytes: 3 },
  );
  assert.equal(entry.url, "https://shop.test/api/cart?session=%5Bredacted%5D&page=2", "a secret-named parameter is redacted");
  assert.equal(entry.requestHeaders, undefined, "no headers unless the site opts in");
  assert.equal(entry.responseBody, undefined, "no bodies unless the site opts in");
  undo();
});

test("headers and bodies, where the site opts in, come with every secret redacted", async () => {
  const { win } = page(
    () => new Response('{"user":{"name":"Ada","accessToken":"t0k"}}', { status: 200, headers: { "set-cookie": "s=1", "x-trace": "7" } }),
  );
  const entries = [];
  networkPlugin({ ignore: () => false, options: { headers: true, bodies: true, redact: ["X-Shop-Pin"] } }).observer(
    (entry) => entries.push(entry),
    win,
  );
  await win.fetch("https://shop.test/login", {
    method: "POST",
    headers: { Authorization: "Bearer abc", "X-Shop-Pin": "1234", Accept: "application/json" },
    body: JSON.stringify({ email: "ada@example.com", password: "hunter2" }),
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  const [entry] = entries;
  assert.equal(entry.requestHeaders.authorization, "[redacted]");
  assert.equal(entry.requestHeaders["x-shop-pin"], "[redacted]", "the site's own names too");
  assert.equal(entry.requestHeaders.accept, "application/json");
  assert.equal(JSON.parse(entry.requestBody).password, "[redacted]");
  assert.equal(JSON.parse(entry.requestBody).email, "ada@example.com");
  assert.equal(JSON.parse(entry.responseBody).user.accessToken, "[redacted]");
  assert.equal(entry.responseHeaders["set-cookie"], "[redacted]");
  assert.equal(entry.responseHeaders["x-trace"], "7");
});

test("a network error is recorded as status 0 and still reaches the page; the recorder's own requests are not recorded", async () => {
  const { win } = page((input) => {
    if (String(input).includes("down")) throw new TypeError("Failed to fetch");
    return new Response("", { status: 202 });
  });
  const entries = [];
  networkPlugin({ ignore: (url) => url.startsWith("https://api.test/") }).observer((entry) => entries.push(entry), win);
  await assert.rejects(win.fetch("https://shop.test/down"), /Failed to fetch/);
  await win.fetch("https://api.test/recordings/x/events", { method: "POST", body: "{}" });
  assert.deepEqual(
    entries.map((entry) => [entry.status, entry.error]),
    [[0, "Failed to fetch"]],
  );
});

test("redaction keeps what is not a secret, and cuts what is too long", () => {
  assert.equal(redactUrl("https://a.test/p?q=shoes&api_key=k"), "https://a.test/p?q=shoes&api_key=%5Bredacted%5D");
  assert.equal(redactBody("card=4242&amount=5&csrf_token=x"), "card=4242&amount=5&csrf_token=%5Bredacted%5D");
  assert.equal(redactBody("plain text"), "plain text");
  assert.equal(redactBody("x".repeat(20_000)).length, 10_000);
});
