// Page assets: what the recorder finds in rrweb's snapshots, what it sends (Asset events,
// references in place of inline bytes, one question, uploads), and how the replay resolves it.
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { test } from "node:test";

import { LIMITS } from "../src/recorder/limits.js";
import { REFERENCE, createAssetCapture, cssUrls, replaceCssUrls, srcsetUrls, walkAssets } from "../src/recorder/assets.js";
import { AssetResolver } from "../src/replay-assets.js";

const PNG = Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "binary"), Buffer.alloc(5000, 7)]);
const FONT = Buffer.concat([Buffer.from("wOF2"), Buffer.alloc(3000, 3)]);
const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
const SITE = "https://shop.example.test";

function snapshot(extraCss = "") {
  const css = `@font-face { font-family: Shop; src: url("${SITE}/font.woff2") format("woff2"); }
    .hero { background: url(${SITE}/hero.png) }${extraCss}`;
  return {
    type: 2,
    timestamp: 1000,
    data: {
      node: {
        type: 0,
        id: 1,
        childNodes: [
          { type: 2, id: 2, tagName: "link", attributes: { rel: "stylesheet", _cssText: css }, childNodes: [] },
          { type: 2, id: 3, tagName: "img", attributes: { src: `${SITE}/hero.png` }, childNodes: [] },
          { type: 2, id: 4, tagName: "img", attributes: { src: `data:image/png;base64,${PNG.toString("base64")}` }, childNodes: [] },
          { type: 2, id: 5, tagName: "div", attributes: { rr_width: "10px" }, childNodes: [] },
        ],
      },
    },
  };
}

test("the snapshot's images, CSS url()s and fonts are found; srcset gives the chosen candidate", () => {
  const found = [];
  walkAssets(snapshot().data.node, (url, place) => found.push([url, place.attribute]));
  assert.deepEqual(found.sort(), [
    [`${SITE}/font.woff2`, "_cssText"],
    [`${SITE}/hero.png`, "_cssText"],
    [`${SITE}/hero.png`, "src"],
    [`data:image/png;base64,${PNG.toString("base64")}`, "src"],
  ].sort());
  const picture = { type: 2, id: 9, tagName: "img", attributes: { srcset: "a.png 1x, b.png 2x" }, childNodes: [] };
  const chosen = [];
  walkAssets(picture, (url) => chosen.push(url), { liveSrc: () => "b.png" });
  assert.deepEqual(chosen, ["b.png"]);
  const noImages = [];
  walkAssets(snapshot().data.node, (url) => noImages.push(url), { images: false });
  assert.deepEqual(noImages.sort(), [`${SITE}/font.woff2`, `${SITE}/hero.png`].sort(), "fonts (and their sheet's urls) only");
  assert.deepEqual(cssUrls("a{b:url('x.png')} c{d:url( y.gif )}"), ["x.png", "y.gif"]);
  assert.equal(replaceCssUrls("a{b:url('x.png')}", (url) => (url === "x.png" ? "blob:1" : null)), "a{b:url('blob:1')}");
  assert.deepEqual(srcsetUrls("a.png 1x,  b.png 2x"), ["a.png", "b.png"]);
});

function fakeFetch(routes, calls) {
  return async (url, init = {}) => {
    calls.push({ url, init });
    const route = routes(url, init);
    if (route instanceof Error) throw route;
    const { status = 200, body = "", type = "", json } = route;
    return {
      ok: status >= 200 && status < 300,
      status,
      headers: { get: (name) => (name.toLowerCase() === "content-type" ? type : name.toLowerCase() === "content-length" ? String(body.length) : null) },
      arrayBuffer: async () => new Uint8Array(body).buffer,
      json: async () => json,
    };
  };
}

const CONFIG = {
  ingestUrl: "https://api.example.test",
  ingestKey: "rrk_x_y",
  captureImages: true,
  assetMaxBytes: 8 * 1024 * 1024,
  assetPageBytes: 32 * 1024 * 1024,
  assetCssBytes: 200,
  assetWaitMs: 2000,
};

// The API's answer to a question a batch carried: everything asked is missing.
function answerAll(question) {
  return { held: 0, missing: question.entries.map((a) => ({ sha256: a.sha256, upload: { method: "PUT", url: `s3://${a.sha256}`, headers: {} } })) };
}

test("a snapshot goes on after its Asset events, inline bytes become references, one question, the missing uploaded", async () => {
  const calls = [];
  const stored = new Map();
  const fetch = fakeFetch((url, init) => {
    if (url === `${SITE}/hero.png`) return { body: PNG, type: "image/png" };
    if (url === `${SITE}/font.woff2`) return { body: FONT, type: "application/octet-stream" };
    if (url.startsWith("data:")) return { body: PNG, type: "image/png" };
    if (url.startsWith("s3://")) {
      stored.set(url.slice(5), init.body);
      return { status: 200 };
    }
    throw new Error(`unexpected ${url}`);
  }, calls);
  const sent = [];
  const storage = new Map();
  const capture = createAssetCapture({
    config: CONFIG,
    deps: { fetch, crypto: webcrypto, storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) }, now: () => 5 },
    forward: (event) => sent.push(event),
  });
  const big = ".x{color:red}".repeat(40);
  capture.pipe(snapshot(big));
  capture.pipe({ type: 3, timestamp: 1001, data: { source: 1, positions: [] } }); // a move behind it waits its turn
  await capture.settle();
  await new Promise((resolve) => setTimeout(resolve, 20));

  const stamps = sent.map((event) => event.timestamp);
  assert.deepEqual(stamps, [...stamps].sort((a, b) => a - b), "in timestamp order, as rrweb's player needs");
  const types = sent.map((event) => event.type);
  assert.deepEqual(types.slice(-2), [2, 3], "the snapshot, then what came after it, in order");
  const assets = sent.filter((event) => event.type === 7);
  const byUrl = Object.fromEntries(assets.map((event) => [event.data.url, event.data.payload]));
  assert.equal(byUrl[`${SITE}/hero.png`].sha256, sha(PNG));
  assert.ok(!assets.some((event) => event.data.url.startsWith("data:")), "no Asset event carries the inline bytes");
  assert.equal(byUrl[REFERENCE + sha(PNG)].sha256, sha(PNG));
  assert.equal(byUrl[`${SITE}/font.woff2`].type, "font/woff2", "typed by its extension when served as octet-stream");
  const snap = sent.find((event) => event.type === 2).data.node;
  const [link, , inlined] = snap.childNodes;
  assert.equal(inlined.attributes.src, REFERENCE + sha(PNG), "the data: URL's bytes are stored once, not in the event");
  assert.ok(link.attributes._cssText.startsWith(REFERENCE), "a large stylesheet becomes a reference too");
  assert.ok(capture.asking, "a question waits for the next batch");
  const question = capture.takeQuestion();
  assert.equal(question.entries.length, 3);
  assert.deepEqual(Object.keys(question.entries[0]).sort(), ["sha256", "size", "type"]);
  assert.equal(capture.takeQuestion(), null, "taken once");
  assert.equal(calls.filter((call) => !call.url.startsWith(SITE) && !call.url.startsWith("data:")).length, 0, "no request of its own");
  await capture.answered(question, answerAll(question));
  assert.equal(stored.get(sha(PNG)).size, PNG.length);
  assert.equal(stored.size, 3, "the image, the font and the stylesheet, each once");
  assert.deepEqual(capture.stats(), { kept: 4, uploaded: 3, notKept: {} });

  // The next page of the tab remembers what it asked: no question for the same assets.
  const again = createAssetCapture({
    config: CONFIG,
    deps: { fetch, crypto: webcrypto, storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) }, now: () => 5 },
    forward: () => {},
  });
  again.pipe(snapshot(big));
  await again.settle();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(again.takeQuestion(), null);
});

test("a question not answered (a spent budget, a beacon) is carried again by the next batch", async () => {
  const fetch = fakeFetch(() => ({ body: PNG, type: "image/png" }), []);
  const capture = createAssetCapture({
    config: CONFIG,
    deps: { fetch, crypto: webcrypto, storage: null, now: () => 5 },
    forward: () => {},
  });
  capture.pipe(snapshot(".x{}"));
  await capture.settle();
  const first = capture.takeQuestion();
  await capture.answered(first, null);
  await capture.answered(first, { error: { code: "rate_limited" } });
  const again = capture.takeQuestion();
  assert.deepEqual(again.entries, first.entries, "the same entries, once each");
});

test("an asset the browser cannot read keeps its URL and says why", async () => {
  const fetch = fakeFetch((url) => {
    if (url.endsWith("hero.png")) return new TypeError("Failed to fetch"); // cross-origin without CORS
    if (url.endsWith("font.woff2")) return { status: 404 };
    return { body: PNG, type: "image/png" };
  }, []);
  const sent = [];
  const capture = createAssetCapture({
    config: { ...CONFIG, assetCssBytes: 1e9 },
    deps: { fetch, crypto: webcrypto, storage: null, now: () => 5 },
    forward: (event) => sent.push(event),
  });
  capture.pipe(snapshot());
  await capture.settle();
  const failed = sent.filter((event) => event.type === 7 && event.data.failed).map((event) => event.data.failed.message);
  assert.deepEqual(failed.sort(), ["http_error", "unreadable"]);
  const snap = sent.find((event) => event.type === 2).data.node;
  assert.equal(snap.childNodes[1].attributes.src, `${SITE}/hero.png`);
  assert.deepEqual(capture.stats().notKept, { unreadable: 1, http_error: 1 });
});

test("the replay swaps every kept asset for a local copy and drops Asset events", async () => {
  const hero = sha(PNG);
  const css = sha("big css");
  const events = [
    { type: 7, timestamp: 1, data: { url: `${SITE}/hero.png`, payload: { rr_type: "Sha256", sha256: hero, size: 5, type: "image/png" } } },
    { type: 7, timestamp: 1, data: { url: `${SITE}/gone.png`, failed: { message: "unreadable" } } },
    {
      type: 2,
      timestamp: 2,
      data: {
        node: {
          type: 0,
          id: 1,
          childNodes: [
            { type: 2, id: 2, tagName: "img", attributes: { src: `${SITE}/hero.png` }, childNodes: [] },
            { type: 2, id: 3, tagName: "div", attributes: { style: `background:url("${SITE}/hero.png")` }, childNodes: [] },
            { type: 2, id: 4, tagName: "link", attributes: { _cssText: REFERENCE + css }, childNodes: [] },
            { type: 2, id: 5, tagName: "img", attributes: { src: `${SITE}/gone.png` }, childNodes: [] },
            { type: 2, id: 6, tagName: "a", attributes: { href: `${SITE}/hero.png` }, childNodes: [] },
            { type: 2, id: 7, tagName: "embed", attributes: { src: `${SITE}/hero.png` }, childNodes: [] },
            { type: 2, id: 8, tagName: "object", attributes: { data: `${SITE}/hero.png` }, childNodes: [] },
          ],
        },
      },
    },
  ];
  const asked = [];
  const resolver = new AssetResolver(
    { assetUrls: async (hashes) => (asked.push(...hashes), Object.fromEntries(hashes.map((h) => [h, `https://bucket/${h}`]))) },
    {
      fetchBlob: async (url) => ({
        type: url.endsWith(css) ? "text/css" : "image/png",
        text: async () => `.hero{background:url(${SITE}/hero.png)}`,
      }),
      createUrl: (blob) => `blob:${blob.type}`,
    },
  );
  const out = await resolver.resolve(events);
  assert.deepEqual(out.map((event) => event.type), [2]);
  const [img, div, link, gone, anchor, embed, object] = out[0].data.node.childNodes;
  assert.equal(anchor.attributes.href, `${SITE}/hero.png`, "a link the viewer could follow keeps its URL");
  assert.equal(embed.attributes.src, `${SITE}/hero.png`, "an embed could open a local copy as a document");
  assert.equal(object.attributes.data, `${SITE}/hero.png`);
  assert.equal(img.attributes.src, "blob:image/png");
  assert.equal(div.attributes.style, 'background:url("blob:image/png")');
  assert.equal(link.attributes._cssText, ".hero{background:url(blob:image/png)}", "the stylesheet's text, its urls local too");
  assert.equal(gone.attributes.src, `${SITE}/gone.png`, "not kept: the site's URL, as before");
  assert.equal(resolver.notKept, 1);
  assert.deepEqual(asked.sort(), [css, hero].sort());
  assert.equal(events[2].data.node.childNodes[0].attributes.src, `${SITE}/hero.png`, "the loaded events are not changed");
});

test("an attribute change swaps a src only on an element the snapshot named as media", async () => {
  const hero = sha(PNG);
  const asset = { type: 7, timestamp: 1, data: { url: `${SITE}/hero.png`, payload: { rr_type: "Sha256", sha256: hero, size: 5, type: "image/svg+xml" } } };
  const snapshot = {
    type: 2,
    timestamp: 2,
    data: {
      node: {
        type: 0,
        id: 1,
        childNodes: [
          { type: 2, id: 2, tagName: "img", attributes: {}, childNodes: [] },
          { type: 2, id: 3, tagName: "embed", attributes: {}, childNodes: [] },
        ],
      },
    },
  };
  const change = (id) => ({ id, attributes: { src: `${SITE}/hero.png` } });
  const mutation = { type: 3, timestamp: 3, data: { source: 0, adds: [], removes: [], texts: [], attributes: [change(2), change(3), change(99)] } };
  const resolver = new AssetResolver(
    { assetUrls: async (hashes) => Object.fromEntries(hashes.map((h) => [h, `https://bucket/${h}`])) },
    { fetchBlob: async () => ({ type: "image/svg+xml" }), createUrl: (blob) => `blob:${blob.type}` },
  );
  const [, changed] = await resolver.resolve([asset, snapshot, mutation]);
  assert.deepEqual(
    changed.data.attributes.map((entry) => entry.attributes.src),
    ["blob:image/svg+xml", `${SITE}/hero.png`, `${SITE}/hero.png`],
    "the <img> gets its local copy; the <embed>, and a node never seen, keep the site's URL",
  );
});

test("an id named with two tags gets no local copy from an attribute change", async () => {
  const hero = sha(PNG);
  const asset = { type: 7, timestamp: 1, data: { url: `${SITE}/x.svg`, payload: { rr_type: "Sha256", sha256: hero, size: 5, type: "image/svg+xml" } } };
  const snapshot = {
    type: 2,
    timestamp: 2,
    data: { node: { type: 0, id: 1, childNodes: [{ type: 2, id: 42, tagName: "iframe", attributes: {}, childNodes: [] }] } },
  };
  // A stray <img> under the iframe's id (its parent does not exist: rrweb never inserts it).
  const stray = { type: 3, timestamp: 3, data: { source: 0, adds: [{ parentId: 99999, node: { type: 2, id: 42, tagName: "img", attributes: {}, childNodes: [] } }], removes: [], texts: [], attributes: [] } };
  const change = { type: 3, timestamp: 4, data: { source: 0, adds: [], removes: [], texts: [], attributes: [{ id: 42, attributes: { src: `${SITE}/x.svg` } }] } };
  const resolver = new AssetResolver(
    { assetUrls: async (hashes) => Object.fromEntries(hashes.map((h) => [h, `https://bucket/${h}`])) },
    { fetchBlob: async () => ({ type: "image/svg+xml" }), createUrl: (blob) => `blob:${blob.type}` },
  );
  const out = await resolver.resolve([asset, snapshot, stray, change]);
  assert.equal(out[2].data.attributes[0].attributes.src, `${SITE}/x.svg`, "the iframe keeps the site's URL");
});

test("a question never asks past the API's limits, whatever the page's options: the rest rides on later batches", async () => {
  const big = new Uint8Array(6 * 1024 * 1024).fill(7);
  const huge = new Uint8Array(LIMITS.assetBytes + 1).fill(9);
  const files = { "/a.png": big, "/b.png": big.map((value, i) => (i === 0 ? 1 : value)), "/c.png": big.map((value, i) => (i === 0 ? 2 : value)), "/d.png": big.map((value, i) => (i === 0 ? 3 : value)), "/e.png": big.map((value, i) => (i === 0 ? 4 : value)), "/f.png": big.map((value, i) => (i === 0 ? 5 : value)), "/huge.png": huge };
  const fetch = fakeFetch((url) => ({ body: files[new URL(url).pathname], type: "image/png" }), []);
  const capture = createAssetCapture({
    config: { ...CONFIG, assetMaxBytes: 64 * 1024 * 1024, assetPageBytes: 1024 * 1024 * 1024 },
    deps: { fetch, crypto: webcrypto, storage: null, now: () => 5 },
    forward: () => {},
  });
  const images = Object.keys(files).map((path, i) => ({ type: 2, tagName: "img", id: 50 + i, attributes: { src: `${SITE}${path}` }, childNodes: [] }));
  capture.pipe({ type: 2, timestamp: 1000, data: { node: { type: 0, id: 1, childNodes: images } } });
  await capture.settle();
  assert.equal(capture.stats().notKept.too_large, 1, "past the API's largest asset: kept by its URL");
  const first = capture.takeQuestion();
  const claimed = first.entries.reduce((sum, entry) => sum + entry.size, 0);
  assert.ok(claimed <= LIMITS.assetQuestionBytes, claimed);
  assert.equal(first.entries.length, 5, "five of 6 MiB fit in 32 MiB; the sixth waits");
  assert.equal(capture.takeQuestion().entries.length, 1);
});
