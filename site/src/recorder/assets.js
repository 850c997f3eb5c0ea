/**
 * Page assets: the bytes the visitor's browser used (images, fonts, large stylesheets),
 * kept once per owner under their SHA-256, so a replay looks as the page looked even after
 * the site changed or went away.
 *
 * Every event passes through `pipe(event)` in order. An event whose serialized DOM names
 * assets (an <img>'s src or chosen srcset candidate, url() in a style attribute or a
 * stylesheet's text, @font-face sources among them, a linked stylesheet itself, whose
 * url()s are made absolute and whose images and fonts are kept too) waits, at most `assetWaitMs`, for
 * their bytes to be read (fetch from the browser's cache), hashed (crypto.subtle, off the
 * main thread) and typed; an Asset event (rrweb's shape, type 7: `{url, payload}` or
 * `{url, failed}`) per asset then goes out just before it, so a replay reading the events in
 * order knows each asset before the DOM that uses it. `data:` URLs and stylesheet text above
 * `assetCssBytes` are replaced in the event by a reference, `rrweb-asset:sha256=<hex>`, so
 * their bytes are stored once per owner instead of in every recording. Nothing is read from
 * masked or excluded elements: rrweb serializes none of their attributes.
 *
 * The question "which of these does the owner lack?" costs no request of its own: it rides
 * on the page's next batch (`takeQuestion()`, the batch's `assets` field), and the batch's
 * answer is handed back (`answered()`); the page's first batch carries the snapshot's
 * assets, later batches what was found since. Hashes this tab already asked about are
 * remembered in sessionStorage and not asked again; a question not answered (a spent
 * budget, a batch left by beacon, whose answer cannot be read) rides on the next batch.
 * What the answer lacks is uploaded with its presigned PUT (S3 checks the bytes against the hash). An asset that cannot be read
 * (cross-origin without CORS, over `assetMaxBytes`, over the page's `assetPageBytes`, an
 * HTTP error, a type the store does not keep, no crypto.subtle on a plain-http page) keeps
 * its URL: the replay fetches it from the site as before, and the failed Asset event says
 * why (`stats()` counts them).
 */

import { LIMITS } from "./limits.js";

export const REFERENCE = "rrweb-asset:sha256=";
const ASSET_EVENT = 7;
const META = 4;
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;
const ELEMENT = 2;
const ASKED_KEY = "rrweb.assets.asked";
const ASKED_MAX = 2000;

// What the store keeps (chalicelib/assets.py), from what servers send.
const TYPES = {
  "image/avif": "image/avif",
  "image/bmp": "image/bmp",
  "image/gif": "image/gif",
  "image/jpeg": "image/jpeg",
  "image/jpg": "image/jpeg",
  "image/png": "image/png",
  "image/svg+xml": "image/svg+xml",
  "image/webp": "image/webp",
  "image/x-icon": "image/x-icon",
  "image/vnd.microsoft.icon": "image/x-icon",
  "font/otf": "font/otf",
  "font/ttf": "font/ttf",
  "font/woff": "font/woff",
  "font/woff2": "font/woff2",
  "application/font-woff": "font/woff",
  "application/font-woff2": "font/woff2",
  "application/x-font-woff": "font/woff",
  "application/x-font-ttf": "font/ttf",
  "application/x-font-otf": "font/otf",
  "text/css": "text/css",
};
const BY_EXTENSION = { woff2: "font/woff2", woff: "font/woff", ttf: "font/ttf", otf: "font/otf", svg: "image/svg+xml" };

const URL_IN_CSS = /url\(\s*(['"]?)([^'")]+?)\1\s*\)/g;

/** The URLs inside CSS text's url(...) (images, fonts), as written. */
export function cssUrls(text) {
  const found = [];
  for (const match of text.matchAll(URL_IN_CSS)) found.push(match[2].trim());
  return found;
}

/** `text` with each url(...) whose URL `replace` maps to another put back with that one. */
export function replaceCssUrls(text, replace) {
  return text.replace(URL_IN_CSS, (whole, quote, url) => {
    const swapped = replace(url.trim());
    return swapped == null ? whole : `url(${quote}${swapped}${quote})`;
  });
}

/** The URLs of a srcset attribute's candidates. */
export function srcsetUrls(value) {
  return value
    .split(",")
    .map((candidate) => candidate.trim().split(/\s+/)[0])
    .filter(Boolean);
}

function normalisedType(header, url) {
  const type = (header || "").split(";")[0].trim().toLowerCase();
  if (TYPES[type]) return TYPES[type];
  const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url.startsWith("data:") ? "" : url)?.[1]?.toLowerCase();
  // Fonts are often served as application/octet-stream.
  return (type === "application/octet-stream" || !type) && extension ? BY_EXTENSION[extension] || null : null;
}

const capturable = (url) => /^(https?:|data:|blob:)/i.test(url);
const isFont = (url) => /\.(woff2?|ttf|otf)(?:[?#]|$)/i.test(url);

/** `url` as written in a stylesheet at `base`, made absolute (data:, blob: and fragments as they are). */
function absolute(url, base) {
  if (/^(data:|blob:|#)/i.test(url)) return null;
  try {
    const resolved = new URL(url, base).href;
    return resolved === url ? null : resolved;
  } catch (_) {
    return null;
  }
}

/**
 * Where assets are named in one serialized node tree (rrweb's snapshot format): calls
 * `found(url, place)` for each, `place` being {node, attribute} so the caller may rewrite
 * it. `liveSrc(id)` gives the element's currentSrc (the candidate the browser chose).
 */
export function walkAssets(node, found, { images = true, liveSrc = () => null } = {}) {
  const stack = [node];
  while (stack.length) {
    const current = stack.pop();
    if (!current) continue;
    if (current.type === ELEMENT && current.attributes) {
      const attributes = current.attributes;
      const tag = (current.tagName || "").toLowerCase();
      if (images && tag === "img") {
        const chosen = liveSrc(current.id);
        if (typeof attributes.src === "string") found(attributes.src, { node: current, attribute: "src" });
        const candidates = typeof attributes.srcset === "string" ? srcsetUrls(attributes.srcset) : [];
        for (const url of candidates) {
          if (!chosen || url === chosen) found(url, { node: current, attribute: "srcset" });
        }
        // The browser's pick, resolved to an absolute URL (or from a <picture>'s <source>).
        if (chosen && chosen !== attributes.src && !candidates.includes(chosen)) {
          found(chosen, { node: current, attribute: "srcset" });
        }
      }
      // A linked stylesheet rrweb did not inline (the recorder asks it not to: reading a large
      // sheet's rules would hold the page's main thread): its bytes are kept instead.
      if (tag === "link" && /stylesheet/i.test(String(attributes.rel || "")) && typeof attributes.href === "string") {
        if (typeof attributes._cssText !== "string") found(attributes.href, { node: current, attribute: "href" });
      }
      if (typeof attributes.style === "string" && images) {
        for (const url of cssUrls(attributes.style)) found(url, { node: current, attribute: "style" });
      }
      if (typeof attributes._cssText === "string") {
        for (const url of cssUrls(attributes._cssText)) {
          if (images || /@font-face/i.test(attributes._cssText)) found(url, { node: current, attribute: "_cssText" });
        }
      }
    }
    if (current.childNodes) for (const child of current.childNodes) stack.push(child);
  }
}

function nodesOf(event) {
  if (event.type === FULL_SNAPSHOT && event.data?.node) return [event.data.node];
  if (event.type === INCREMENTAL && event.data?.source === MUTATION) {
    const nodes = (event.data.adds || []).map((add) => add.node);
    // An attribute change may name a new image (src, style).
    for (const change of event.data.attributes || []) {
      nodes.push({ type: ELEMENT, id: change.id, tagName: "img", attributes: change.attributes || {} });
    }
    return nodes;
  }
  return [];
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");

/**
 * The asset stage of the recorder: `pipe(event)` before the transport, `stats()` for status.
 * deps: fetch, crypto (globalThis.crypto), storage (sessionStorage or null), now, record.
 */
export function createAssetCapture({ config, deps, forward }) {
  const subtle = deps.crypto?.subtle || null;
  // The largest asset the API stores, whatever the page's option says.
  const maxBytes = Math.min(config.assetMaxBytes, LIMITS.assetBytes);
  const counts = { kept: 0, uploaded: 0, notKept: {} };
  const reads = new Map(); // url -> Promise<{sha256, size, type, bytes} | {failed}>
  const announced = new Set(); // urls whose Asset event went out
  const toAsk = new Map(); // sha256 -> {size, type, bytes}
  let pageBytes = 0;
  let queue = Promise.resolve();
  let waiting = 0;
  let heldMeta = null;

  const remembered = new Set(loadAsked());

  function loadAsked() {
    try {
      return JSON.parse(deps.storage?.getItem(ASKED_KEY) || "[]");
    } catch (_) {
      return [];
    }
  }

  function remember(hashes) {
    for (const hash of hashes) remembered.add(hash);
    try {
      deps.storage?.setItem(ASKED_KEY, JSON.stringify([...remembered].slice(-ASKED_MAX)));
    } catch (_) {
      // storage full or disabled: the next page asks again, which is only a request
    }
  }

  function notKept(reason) {
    counts.notKept[reason] = (counts.notKept[reason] || 0) + 1;
    return { failed: { message: reason } };
  }

  async function readAsset(url) {
    if (!subtle) return notKept("insecure_context");
    let response;
    try {
      const sameOrigin = !/^https?:/i.test(url) || new URL(url, deps.location?.href).origin === deps.location?.origin;
      response = await deps.fetch(url, { cache: "force-cache", credentials: sameOrigin ? "same-origin" : "omit" });
    } catch (_) {
      return notKept("unreadable"); // cross-origin without CORS, or the network
    }
    if (!response.ok) {
      notKept("http_error");
      return { failed: { status: response.status, message: "http_error" } };
    }
    const type = normalisedType(response.headers.get("content-type"), url);
    if (!type) return notKept("type");
    const declared = Number(response.headers.get("content-length"));
    if (declared > maxBytes) return notKept("too_large");
    let bytes = await response.arrayBuffer();
    if (bytes.byteLength === 0) return notKept("empty");
    let inner = [];
    if (type === "text/css") {
      // A stylesheet is kept with its url()s made absolute (it is served from elsewhere
      // at replay), and what it uses (images, fonts) is kept too, announced before it.
      const text = replaceCssUrls(new TextDecoder().decode(bytes), (found) => absolute(found, url));
      bytes = new TextEncoder().encode(text).buffer;
      const urls = [...new Set(cssUrls(text))].filter((found) => capturable(found) && (config.captureImages || isFont(found)));
      inner = await Promise.all(urls.map(async (found) => [found, await read(found)]));
    }
    if (bytes.byteLength > maxBytes) return notKept("too_large");
    if (pageBytes + bytes.byteLength > config.assetPageBytes) return notKept("page_full");
    pageBytes += bytes.byteLength;
    const sha256 = hex(await subtle.digest("SHA-256", bytes));
    counts.kept += 1;
    return { sha256, size: bytes.byteLength, type, bytes, inner };
  }

  function read(url) {
    if (!reads.has(url)) reads.set(url, readAsset(url).catch(() => notKept("unreadable")));
    return reads.get(url);
  }

  /** The Asset event of `url` (and first of what a stylesheet uses), to `out`: forwarded, or held with the event. */
  function announce(url, got, timestamp, out = forward) {
    if (announced.has(url)) return;
    for (const [found, used] of got.inner || []) announce(found, used, timestamp, out);
    announced.add(url);
    if (got.failed) {
      out({ type: ASSET_EVENT, data: { url, failed: got.failed }, timestamp });
      return;
    }
    out({
      type: ASSET_EVENT,
      data: { url, payload: { rr_type: "Sha256", sha256: got.sha256, size: got.size, type: got.type } },
      timestamp,
    });
    if (!remembered.has(got.sha256)) toAsk.set(got.sha256, got);
  }

  /** Replace inline bytes (data: URLs, large stylesheet text) by references once hashed. */
  async function inline(place, url, got) {
    if (got.failed) return;
    const { node, attribute } = place;
    const reference = REFERENCE + got.sha256;
    if (attribute === "src" && node.attributes.src === url) node.attributes.src = reference;
    else if (attribute === "style" || attribute === "_cssText") {
      node.attributes[attribute] = replaceCssUrls(node.attributes[attribute], (found) => (found === url ? reference : null));
    }
  }

  async function cssAsset(node, timestamp, out) {
    const text = node.attributes._cssText;
    if (typeof text !== "string" || text.length < config.assetCssBytes || !subtle) return;
    const bytes = new TextEncoder().encode(text);
    const sha256 = hex(await subtle.digest("SHA-256", bytes));
    const reference = REFERENCE + sha256;
    node.attributes._cssText = reference;
    counts.kept += 1;
    announce(reference, { sha256, size: bytes.byteLength, type: "text/css", bytes }, timestamp, out);
  }

  /** What in `event` names assets: [url, place] pairs, and its stylesheets large enough to keep. */
  function plan(event) {
    const places = [];
    const styles = [];
    const liveSrc = (id) => deps.record?.mirror?.getNode?.(id)?.currentSrc || null;
    for (const node of nodesOf(event)) {
      walkAssets(node, (url, place) => capturable(url) && places.push([url, place]), {
        images: config.captureImages,
        liveSrc,
      });
      const stack = [node];
      while (stack.length) {
        const current = stack.pop();
        const text = current?.attributes?._cssText;
        if (typeof text === "string" && text.length >= config.assetCssBytes) styles.push(current);
        for (const child of current?.childNodes || []) stack.push(child);
      }
    }
    return places.length || styles.length ? { places, styles } : null;
  }

  /** `event` rewritten, with the Asset events that go just before it (they share its timestamp). */
  async function process(event, { places, styles }) {
    const timestamp = event.timestamp;
    const before = [];
    const out = (asset) => before.push(asset);
    const deadline = new Promise((resolve) => setTimeout(resolve, config.assetWaitMs, "late"));
    const settled = await Promise.race([
      Promise.all(places.map(([url]) => read(url))).then(() => "done"),
      deadline,
    ]);
    for (const [url, place] of places) {
      const got = await (settled === "done" ? read(url) : Promise.race([read(url), Promise.resolve(null)]));
      if (!got) continue; // still reading: announced when done, the replay loads it from the site meanwhile
      if (/^(data|blob):/i.test(url)) {
        // Inline bytes: the event names the reference instead, and so does the Asset event
        // (a data: URL as its url would keep the bytes in the recording after all).
        if (!got.failed) {
          await inline(place, url, got);
          announce(REFERENCE + got.sha256, got, timestamp, out);
        }
        continue;
      }
      announce(url, got, timestamp, out);
    }
    for (const node of styles) await cssAsset(node, timestamp, out);
    // Reads still under way are announced when they finish (their URL stays in the DOM).
    for (const [url] of places) {
      if (!announced.has(url) && !/^(data|blob):/i.test(url)) read(url).then((got) => announce(url, got, deps.now()));
    }
    return { event, before };
  }

  /**
   * The question for the next batch to carry ({entries, pairs}), or null when there is
   * none: at most the API's entries and claimed bytes a question (the rest rides on the
   * batches after), since a question the API refuses refuses its batch with it.
   */
  function takeQuestion() {
    if (!toAsk.size) return null;
    const pairs = [];
    let claimed = 0;
    for (const pair of toAsk.entries()) {
      if (pairs.length === LIMITS.assetsPerQuestion || (pairs.length && claimed + pair[1].size > LIMITS.assetQuestionBytes)) break;
      pairs.push(pair);
      claimed += pair[1].size;
    }
    for (const [hash] of pairs) toAsk.delete(hash);
    return { entries: pairs.map(([sha256, got]) => ({ sha256, size: got.size, type: got.type })), pairs };
  }

  /** The batch's answer to `question` (null: none could be read): uploads what the owner lacks. */
  async function answered(question, answer) {
    const batch = question.pairs;
    if (!answer || !Array.isArray(answer.missing)) {
      // Not now (a budget, an outage, a beacon): the next batch carries them again.
      for (const [hash, got] of batch) if (!toAsk.has(hash)) toAsk.set(hash, got);
      return;
    }
    const byHash = new Map(batch);
    const missing = new Set((answer.missing || []).map((item) => item.sha256));
    // Held already: remembered, so later pages of this tab do not ask again.
    const stored = batch.map(([hash]) => hash).filter((hash) => !missing.has(hash));
    for (const { sha256, upload } of answer.missing || []) {
      const got = byHash.get(sha256);
      if (!got) continue;
      try {
        const sent = await deps.fetch(upload.url, {
          method: upload.method,
          headers: upload.headers,
          // A Blob is streamed from the browser's blob store: an ArrayBuffer body is
          // copied on the page's main thread first (tens of ms for a 2 MB photo).
          body: new Blob([got.bytes], { type: got.type }),
          // A small one still arrives if the visitor leaves now.
          keepalive: got.size < 32 * 1024,
        });
        // 412: stored meanwhile (another tab, another visitor of the same owner).
        if (sent.ok || sent.status === 412) {
          counts.uploaded += 1;
          stored.push(sha256);
        }
      } catch (_) {
        // not stored: the next page of the session asks about it again
      }
    }
    remember(stored);
    for (const [, got] of batch) got.bytes = null;
  }

  return {
    /** Hands `event` (rewritten where it held inline bytes) to `forward`, in order, after its Asset events. */
    pipe(event) {
      // rrweb's Meta event comes just before each full snapshot: it goes with it, so a
      // snapshot held for its assets never leaves its Meta in a batch of its own.
      if (event.type === META) {
        if (heldMeta) forward(heldMeta);
        heldMeta = event;
        return queue;
      }
      const meta = heldMeta;
      heldMeta = null;
      const found = plan(event);
      // Most events name no asset: with nothing ahead of them they go on at once.
      if (waiting === 0 && !found) {
        if (meta) forward(meta);
        forward(event);
        return queue;
      }
      waiting += 1;
      queue = queue
        .then(() => (found ? process(event, found) : { event, before: [] }))
        .catch(() => ({ event, before: [] }))
        .then((ready) => {
          waiting -= 1;
          // In timestamp order, in one go: Meta, the Asset events, the event.
          if (meta) forward(meta);
          for (const asset of ready.before) forward(asset);
          forward(ready.event);
        });
      return queue;
    },
    get waiting() {
      return waiting;
    },
    takeQuestion,
    answered,
    /** Whether a question waits for a batch to carry it. */
    get asking() {
      return toAsk.size > 0;
    },
    stats: () => ({ kept: counts.kept, uploaded: counts.uploaded, notKept: { ...counts.notKept } }),
    /** Resolves once every event handed in has gone on. */
    settle: () =>
      queue.then(() => {
        if (heldMeta) forward(heldMeta);
        heldMeta = null;
      }),
  };
}
