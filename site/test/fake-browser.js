// A page for the recorder to run in under Node: rrweb's record replaced by a stub the
// test drives, and an API answering from a script. Everything else is the real recorder.
import { mock } from "node:test";
import { gunzipSync, gzipSync, strFromU8 } from "fflate";

/** A body the recorder sent (base64 of gzip, recorder/transport.js armour) as its gzip bytes. */
export function unarmour(body) {
  return new Uint8Array(Buffer.from(strFromU8(body), "base64"));
}

import { startRecording } from "../src/recorder.js";

export const START = 1_700_000_000_000;
export const INGEST = "https://api.example.test";
export const PAGE = "https://shop.example.test/cart";

/** Lets the recorder's promise chains (compression, fetch, answers) run to their next timer. */
export async function settle(rounds = 12) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the mocked clock and lets what it woke up run. */
export async function advance(ms) {
  mock.timers.tick(ms);
  await settle();
}

/** Mocked setTimeout and Date from START, and no jitter: waits are exact. */
export function useClock(t) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: START });
  mock.method(Math, "random", () => 0);
  t.after(() => {
    mock.timers.reset();
    mock.restoreAll();
  });
}

/** sessionStorage's interface over a Map; one per tab. */
export class MemoryStorage {
  constructor() {
    this.items = new Map();
  }

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }

  removeItem(key) {
    this.items.delete(key);
  }
}

/** rrweb's record, as the test's hand: `emit` events, count snapshots, a mirror of elements. */
export function fakeRecord() {
  const record = (options) => {
    record.options = options;
    record.running = true;
    return () => {
      record.running = false;
    };
  };
  record.snapshots = 0;
  record.takeFullSnapshot = () => {
    record.snapshots += 1;
    record.options.emit(meta());
    record.options.emit(fullSnapshot());
  };
  const ids = new Map();
  const nodes = new Map();
  record.mirror = {
    getId: (node) => (ids.has(node) ? ids.get(node) : -1),
    getNode: (id) => nodes.get(id) || null,
    add(node, id) {
      ids.set(node, id);
      nodes.set(id, node);
    },
  };
  record.emit = (event) => record.options.emit(event);
  return record;
}

let nextNodeId = 100;
const stamp = () => Date.now();

export const meta = () => ({ type: 4, data: { href: PAGE, width: 1280, height: 800 }, timestamp: stamp() });

/** A full snapshot whose JSON is about `bytes` long, with an html element of id 2. */
export function fullSnapshot(bytes = 2000, extraChildren = []) {
  return {
    type: 2,
    data: {
      node: {
        type: 0,
        id: 1,
        childNodes: [
          {
            type: 2,
            tagName: "html",
            id: 2,
            attributes: {},
            childNodes: [{ type: 2, tagName: "body", id: 3, attributes: {}, childNodes: [{ type: 3, id: 4, textContent: "x".repeat(bytes) }] }, ...extraChildren],
          },
        ],
      },
      initialOffset: { left: 0, top: 0 },
    },
    timestamp: stamp(),
  };
}

/** A DOM mutation adding a text of `bytes` characters. */
export const mutation = (bytes = 100, id = nextNodeId++) => ({
  type: 3,
  data: { source: 0, adds: [{ parentId: 3, nextId: null, node: { type: 3, id, textContent: "m".repeat(bytes) } }], removes: [], texts: [], attributes: [] },
  timestamp: stamp(),
});

export const click = (id = 3) => ({ type: 3, data: { source: 2, type: 2, id, x: 10, y: 10 }, timestamp: stamp() });

export const consoleRecord = (level, ...payload) => ({
  type: 6,
  data: { plugin: "rrweb/console@1", payload: { level, trace: ["at page.js:1:1"], payload } },
  timestamp: stamp(),
});

export const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

export const refused = (status, code = "refused", headers = {}) => json(status, { error: { code, message: `refused with ${code}` } }, headers);

/**
 * The API: records every request (path, decoded body) and answers through `answer(request)`
 * (a Response, "abort" for no answer, or a promise of either); by default it acknowledges.
 */
export function fakeApi() {
  const api = {
    requests: [],
    beacons: [],
    answer: null,
    acknowledge(request) {
      return request.create ? json(201, { recording: { id: request.body.id }, screenshotUpload: null, firstBatch: { live: false } }) : json(202, { live: false });
    },
    async fetch(url, init) {
      const parsed = new URL(url);
      const body = JSON.parse(strFromU8(gunzipSync(unarmour(init.body))));
      const request = { url, path: parsed.pathname, key: parsed.searchParams.get("ingestKey"), body, raw: init.body, keepalive: init.keepalive, create: parsed.pathname === "/recordings" };
      api.requests.push(request);
      const result = await (api.answer ? api.answer(request, api) : api.acknowledge(request));
      if (result === "abort") throw new TypeError("Failed to fetch");
      return result;
    },
    sendBeacon: null,
    /** Whether beacons are taken; each taken one is decoded into `beacons`. */
    takeBeacons(accept = true) {
      api.sendBeacon = (url, blob) => {
        if (!accept) return false;
        api.beacons.push({ url, path: new URL(url).pathname, blob });
        return true;
      };
    },
    async beaconBodies() {
      return Promise.all(api.beacons.map(async (b) => JSON.parse(strFromU8(gunzipSync(unarmour(new Uint8Array(await b.blob.arrayBuffer())))))));
    },
    get seqs() {
      return api.requests.map((r) => r.body.seq);
    },
  };
  api.takeBeacons();
  return api;
}

class FakeDocument extends EventTarget {
  constructor() {
    super();
    this.visibilityState = "visible";
    this.title = "Cart · Shop";
    this.referrer = "";
    this.documentElement = { tagName: "HTML" };
    this.excluded = [];
  }

  querySelectorAll() {
    return this.excluded;
  }
}

class FakeWindow extends EventTarget {
  constructor() {
    super();
    this.innerWidth = 1280;
    this.innerHeight = 800;
  }
}

/**
 * A page of a tab: starts the real recorder with `options` on this fake browser (`deps`
 * replaces some of its parts: fetch, crypto).
 * Returns {recorder, record, api, document, window, storage, statuses, errors}.
 */
export function openPage(
  options = {},
  { storage = new MemoryStorage(), api = fakeApi(), href = PAGE, snapshot = true, random = () => 0, deps = {} } = {},
) {
  const record = fakeRecord();
  const document = new FakeDocument();
  const window = new FakeWindow();
  const statuses = [];
  const errors = [];
  const warnings = [];
  const recorder = startRecording(
    {
      ingestUrl: INGEST,
      ingestKey: "rrk_test_key",
      screenshot: false,
      onStatus: (status) => statuses.push(status),
      onError: (error) => errors.push(error.message),
      ...options,
    },
    {
      record,
      fetch: api.fetch,
      sendBeacon: (url, blob) => api.sendBeacon(url, blob),
      storage,
      now: () => Date.now(),
      window,
      document,
      location: { href },
      compress: async (bytes) => gzipSync(bytes),
      consolePlugin: (pluginOptions) => ({ name: "rrweb/console@1", options: pluginOptions }),
      log: () => {},
      warn: (...parts) => warnings.push(parts.join(" ")),
      random,
      ...deps,
    },
  );
  if (snapshot) {
    record.emit(meta());
    record.emit(fullSnapshot());
  }
  return { recorder, record, api, document, window, storage, statuses, errors, warnings };
}

/** Hides the page (tab switch, or leaving it): the recorder's exit path runs. */
export function hide(page) {
  page.document.visibilityState = "hidden";
  page.document.dispatchEvent(new Event("visibilitychange"));
}

export function show(page) {
  page.document.visibilityState = "visible";
  page.document.dispatchEvent(new Event("visibilitychange"));
}
