/**
 * rrweb-s3-storage recorder: records a page with rrweb and ships the events to the API.
 *
 * const recorder = startRecording({
 *   ingestUrl: "https://<api>/api",   // API base URL (required)
 *   ingestKey: "rrk_...",             // write-only ingest key (required)
 *   maskAllInputs: true,              // privacy: input values masked unless the element has data-rr-unmask
 *   flushIntervalMs: 10000,           // no event waits longer than this to be sent, unless watched live
 *   liveFlushMs: 2000,                // ...and no longer than this while someone watches it live
 *   firstFlushMs: 1000,               // a new recording's first batch leaves this soon (listed, watchable)
 *   maxBatchEvents: 1000,             // ...or as soon as this many events are waiting
 *   maxBatchBytes: 128 * 1024,        // ...or this many JSON bytes (snapshots, mutations, inputs, logs measured)
 *   maxPendingBytes: 8 * 1024 * 1024, // unsent incremental events kept while the API does not take them
 *   stopTimeoutMs: 15000,             // how long stop() waits for what is unsent before it resolves
 *   screenshot: true,                 // upload a viewport thumbnail with html2canvas (new recordings only)
 *   session: true,                    // pages of one tab share a recording (see Sessions); false: one per page
 *   sessionIdleMs: 30 * 60 * 1000,    // ...unless the visitor was inactive this long
 *   sessionMaxMs: 24 * 60 * 60 * 1000,// ...or the session started this long ago
 *   recordingId: undefined,           // explicit id (8-64 of A-Z a-z 0-9 _ -): no session
 *   recordConsole: true,              // console error/warn/info/log as rrweb plugin events; or the
 *                                     // console plugin's options ({level, lengthThreshold, stringifyOptions})
 *   excludeSelector: undefined,       // elements left out of the recording entirely (not even a placeholder)
 *   onStatus: (status) => {},         // called with status() whenever it changes
 *   onError: (error) => {},           // called for every batch given up, backlog pause, stop with
 *                                     // unsent batches, or screenshot failure
 * });
 * recorder.status();                  // {state, id, acknowledged, pending, pendingEvents, handedOff,
 *                                     //  gaveUp, dropped, paused, retryAt, lastError, live}
 * recorder.identify("user-42", { plan: "team" }); // the visitor, sent with the next request
 * const result = await recorder.stop(); // {drained, ...status()}: flushes, waits, ends
 *
 * (maxAttempts, an option of earlier versions, is accepted and ignored: no transient failure
 * makes the recorder give a batch up.)
 *
 * Status. `state` is "recording" while rrweb records; "sending" once stop() was called and
 * batches wait for the API; then "saved" when every batch was acknowledged by the API (a 2xx
 * answer), "unsaved" when some are not yet (still retried while the page stays open, or only
 * handed to sendBeacon, which is not an acknowledgement), or "stopped" when nothing was
 * recorded at all. "failed" (in any phase) means a batch was given up: the recording misses
 * it for good. `acknowledged` and `gaveUp` count batches; `pending` and `pendingEvents` are
 * the batches (and their events) neither acknowledged nor given up, `handedOff` those of
 * them handed to sendBeacon; `dropped` counts events not recorded while paused (see
 * Backlog); `retryAt` (ms since epoch) is when the batch at the head is retried. `lastError`
 * is `{reason, status, message}` (status: the HTTP status, or null for no answer) of the
 * latest trouble, back to the latest give-up (or null) once a batch is acknowledged again:
 *   key_refused (401/403), recording_gone (404, or 409), recording_full (409 recording_full),
 *   too_large (413, or over the API's limits before sending: never sent), refused (any other
 *   4xx), blocked (no answer, and the page's Content-Security-Policy refused the request: a
 *   securitypolicyviolation event), error (the batch could not be prepared) are given up;
 *   backing_off (408, 429, 5xx) and unreachable (no answer) are retried.
 * describeStatus(status) words it for people ("Not saved: the ingest key was refused").
 *
 * Sending. The recorder never blocks the page: rrweb's callback only appends to an array;
 * the batch is serialised, gzip-compressed (CompressionStream) and sent asynchronously, one
 * request at a time. The flush clock starts with the first event that finds the buffer
 * empty and fires flushIntervalMs later, so every event leaves within that bound, an
 * active page sends at most one batch per interval, and an idle page sends nothing and
 * keeps no timer running. Each page's first flush creates the recording (or, in a session,
 * adds this page view to it) and carries the first batch. A new recording's first batch
 * (its full snapshot) leaves after firstFlushMs instead, so the recording is listed and
 * can be watched live a second after the visitor arrives; the clock then runs from the
 * next event as usual, so a minute still holds one flush per interval. A page continuing
 * a session's recording, already listed, waits the usual interval. A failed batch is retried with
 * the same seq (the API stores a seq once). When the page is hidden or left, what is waiting
 * goes out at once through sendBeacon, compressed synchronously (fflate) to fit the
 * browser's 64 KB budget for such requests; a batch too big for that budget is never kept
 * waiting (maxBatchBytes sends it at once). If the page is shown again, what went out
 * that way is sent again through fetch (same seqs) to be acknowledged.
 *
 * Nothing transient loses data, so a site-wide rate limit or an outage only delays it: a
 * 408, 429 or 5xx answer, or no answer at all, keeps the batch at the head of the queue
 * and retries it after the answer's Retry-After (plus up to a quarter more, so throttled
 * pages do not all return at once), or else after an exponential backoff with jitter,
 * either capped at 30 s. Events recorded meanwhile queue behind it in seq order. Only a
 * definitive refusal gives that batch up, loudly (status, onError); later batches still go.
 *
 * Backlog. Memory stays bounded: once the unsent incremental events (queued and buffered,
 * measured as for maxBatchBytes) exceed maxPendingBytes, new incremental events are not
 * recorded (`dropped`, `paused`; one onError per pause) until that backlog is below half of
 * it; if any event was dropped, recording resumes with a full snapshot, so the replay shows
 * the whole page again after the gap. Full snapshots (and their Meta events) do not count
 * towards the budget: a page whose snapshot alone is larger is still recorded (its snapshot
 * sent once, in a request of its own) instead of pausing on every snapshot; memory holds at
 * most maxPendingBytes of incremental events plus the snapshots among them. Any event at
 * least maxBatchBytes large travels alone, so the API's limits (LIMITS: 4 MiB gzip on the
 * wire, 16 MiB inflated, 20,000 events) are checked per such event: one over them is given
 * up as too_large before it is sent. stop() waits for the queue at most stopTimeoutMs and
 * resolves with what is still unsent (drained: false); that keeps being retried while the
 * page stays open, and the exit path still sends it when the page is left. `drained` is
 * true only when every batch was acknowledged.
 *
 * Sessions. By default the recorder keeps {id, startedAt, lastActivity, lastView, nextSeq,
 * user} in the page origin's sessionStorage (one per tab and origin): a new page in the same
 * tab continues the recording when the visitor was active (input, pointer, scroll; not DOM
 * changes) within sessionIdleMs and the session is younger than sessionMaxMs, otherwise it
 * starts a new one (the identified user is kept). Pages in frames record on their own. Each
 * page's create carries `view` (when this page view started, ms since epoch, kept
 * increasing within the tab), url, title, referrer, viewport and the identified user. Seqs
 * continue across the pages of a session (never below view x 1000), so they stay unique and
 * ordered. A create answered 409 id_in_use (the recording was deleted) starts a new session
 * id and creates again. stop() ends the session. `session: false` or an explicit
 * recordingId keep nothing in sessionStorage.
 *
 * Identify and console. identify(userId, traits) checks the user like the API does
 * (validateUser), keeps it in the session, sends it with the next request (create or
 * events) and records an rrweb custom event (type 5, tag "identify"). Console calls of the
 * recorded levels and uncaught errors are rrweb plugin events ("rrweb/console@1"), their
 * arguments and traces cut to a bounded size; each batch carries `errors`, how many of its
 * events are error-level console records (left out when 0).
 *
 * Left out. Elements matching excludeSelector (the bookmarklet's badge), and html2canvas's
 * copy of the page, are not in the recording at all: rrweb blocks them (no children,
 * interactions or attribute changes recorded), and the placeholder it would still record
 * is removed from snapshots and mutations; pointer moves over them point at the root.
 *
 * Why 10 s: API Gateway requests are the largest cost line of a recording, and 10 s is 6
 * requests per recorded minute. How fresh an unwatched recording is only matters once
 * someone opens it, and then it is watched: while the last ingest response said
 * `live: true` (the replay page follows the recording), batches leave every liveFlushMs
 * (at most; a shorter flushIntervalMs stays shorter), and a response saying `live: false`
 * switches back.
 *
 * startRecording(options, env) takes its browser dependencies from `env` when given (the
 * unit tests run it in Node): record, fetch, sendBeacon, storage, now, window, document,
 * location, compress, consolePlugin, log.
 */
import { getRecordConsolePlugin, PLUGIN_NAME as CONSOLE_PLUGIN } from "@rrweb/rrweb-plugin-console-record";
import { gzipSync, strToU8 } from "fflate";
// rrweb re-exports its event types and sources; the snapshot's node types are only in @rrweb/types.
import { NodeType } from "@rrweb/types";
import { EventType, IncrementalSource, record as rrwebRecord } from "rrweb";
import API_LIMITS from "./generated/limits.json" with { type: "json" };

/**
 * What the API accepts, from its own definition (api/chalicelib/settings.py, written
 * by `python -m ops.site_limits`): one ingest request's bytes on the wire, bytes
 * inflated and events; identify()'s user; a create's url, title and viewport; the
 * recording id's pattern; and how often a watched recording's batches leave.
 */
export const LIMITS = Object.freeze({ ...API_LIMITS });
export const SESSION_KEY = "rrweb-s3.session";

// Browsers give keepalive fetches and beacons 64 KB in flight in total. Ordinary sends
// use keepalive only up to this size, so a page being left always has most of the
// budget for what the exit path must send.
const KEEPALIVE_LIMIT = 24 * 1024;
// No keepalive fetch larger than the whole budget can leave.
const EXIT_BUDGET = 64 * 1024;
// A batch this large (JSON) cannot compress into a beacon's 64 KB: the exit path does
// not spend a synchronous compression on it.
const BEACON_INPUT_LIMIT = 2 * 1024 * 1024;
// html2canvas paints the thumbnail from a copy of the page in an iframe of its own:
// recorded, it would double the recording and show up in the replay.
const ALWAYS_EXCLUDED = ".html2canvas-container";
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const ID_PATTERN = new RegExp(LIMITS.recordingIdPattern);
const MAX_BACKOFF_MS = 30000;
// A server answering Retry-After: 0 again and again must not turn the retry into a busy loop.
const MIN_RETRY_MS = 200;
// A fetch refused by the page's CSP rejects like a network error; the violation event
// that tells them apart is dispatched as a task of its own, so it is waited for briefly.
const CSP_GRACE_MS = 50;
// Creates answered id_in_use in a row before giving the batch up (each picks a new id).
const MAX_NEW_IDS = 3;
// Console records: every argument and trace is cut to this, so a log of a huge string or
// element cannot make a batch large.
const CONSOLE_TEXT_LIMIT = 2000;
const CONSOLE_ITEMS_LIMIT = 20;

const { FullSnapshot: FULL_SNAPSHOT, IncrementalSnapshot: INCREMENTAL, Meta: META, Custom: CUSTOM, Plugin: PLUGIN } = EventType;
const { Mutation: MUTATION } = IncrementalSource;
const POSITION_SOURCES = new Set([IncrementalSource.MouseMove, IncrementalSource.TouchMove, IncrementalSource.Drag]);
// What a visitor does (keeps a session alive); DOM mutations and style changes do not.
const ACTIVITY_SOURCES = new Set([
  IncrementalSource.MouseMove,
  IncrementalSource.MouseInteraction,
  IncrementalSource.Scroll,
  IncrementalSource.ViewportResize,
  IncrementalSource.Input,
  IncrementalSource.TouchMove,
  IncrementalSource.MediaInteraction,
  IncrementalSource.Drag,
  IncrementalSource.Selection,
]);
// Incremental events whose size varies enough to measure. The rest is small and estimated.
const MEASURED_SOURCES = new Set([
  IncrementalSource.Mutation,
  IncrementalSource.Input,
  IncrementalSource.StyleSheetRule,
  IncrementalSource.StyleDeclaration,
  IncrementalSource.AdoptedStyleSheet,
]);
const ESTIMATED_EVENT_BYTES = 200;

const REASONS = {
  key_refused: "the ingest key was refused",
  recording_gone: "the recording no longer exists",
  recording_full: "the recording is full",
  too_large: "a batch was too large for the API",
  refused: "the API refused a batch",
  blocked: "blocked by this page's Content-Security-Policy",
  unreachable: "the API is unreachable",
  backing_off: "the API asked to wait",
  error: "a batch could not be prepared",
};

function newRecordingId() {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  return Array.from(bytes, (b) => ID_ALPHABET[b & 63]).join("");
}

/**
 * Masks form values in a (cloned) document the way the recording masks them, so the
 * screenshot shows no more than the replay: text fields become asterisks unless inside
 * [data-rr-unmask]; selects lose their choice; checkboxes and radios stay (as in rrweb).
 */
export function maskFormValues(doc, maskAllInputs) {
  if (!maskAllInputs) return;
  for (const field of doc.querySelectorAll("input, textarea, select")) {
    if (field.closest("[data-rr-unmask]")) continue;
    if (field.tagName === "SELECT") {
      field.selectedIndex = -1;
    } else if (!["checkbox", "radio", "button", "submit", "reset", "image", "hidden"].includes(field.type)) {
      const masked = "*".repeat(field.value.length);
      field.value = masked;
      if (field.tagName === "TEXTAREA") field.textContent = masked;
      else field.setAttribute("value", masked);
    }
  }
}

const utf8Length = (text) => new TextEncoder().encode(text).length;

/**
 * The user identify() records, checked as the API checks it (LIMITS): an id of 1 to 256
 * characters; traits a plain object of at most 50 keys (1 to 64 characters) whose values
 * are strings of at most 512 characters, finite numbers, booleans or null, and at most
 * 4096 bytes as JSON. Returns {id, traits}; throws a TypeError saying what is wrong.
 */
export function validateUser(userId, traits) {
  if (typeof userId !== "string" || userId.length < 1 || userId.length > LIMITS.userIdLength) {
    throw new TypeError(`identify: the user id must be a string of 1 to ${LIMITS.userIdLength} characters`);
  }
  const given = traits == null ? {} : traits;
  const proto = typeof given === "object" ? Object.getPrototypeOf(given) : undefined;
  if (typeof given !== "object" || Array.isArray(given) || (proto !== Object.prototype && proto !== null)) {
    throw new TypeError("identify: traits must be a plain object");
  }
  const keys = Object.keys(given);
  if (keys.length > LIMITS.traits) throw new TypeError(`identify: traits may have at most ${LIMITS.traits} keys`);
  const clean = {};
  for (const key of keys) {
    if (key.length < 1 || key.length > LIMITS.traitKeyLength) {
      throw new TypeError(`identify: trait names must have 1 to ${LIMITS.traitKeyLength} characters`);
    }
    const value = given[key];
    const fits =
      value === null ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value)) ||
      (typeof value === "string" && value.length <= LIMITS.traitValueLength);
    if (!fits) {
      throw new TypeError(
        `identify: trait "${key}" must be a string of at most ${LIMITS.traitValueLength} characters, a finite number, a boolean or null`,
      );
    }
    clean[key] = value;
  }
  if (utf8Length(JSON.stringify(clean)) > LIMITS.traitsBytes) {
    throw new TypeError(`identify: traits may be at most ${LIMITS.traitsBytes} bytes as JSON`);
  }
  return { id: userId, traits: clean };
}

const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "es"}`;

/**
 * Words a status for people: {text, tone: "ok" | "busy" | "bad", saved}. `saved` is true
 * only when every batch was acknowledged after stop(); `now` is for the retry countdown.
 */
export function describeStatus(status, now = Date.now()) {
  const error = status.lastError;
  const why = error ? REASONS[error.reason] || error.message : "";
  const waiting = status.pending ? `${plural(status.pending, "batch")} waiting` : "";
  const retry = status.retryAt ? `retrying in ${Math.max(1, Math.ceil((status.retryAt - now) / 1000))} s` : "";
  const trouble = [waiting, error && !status.gaveUp ? why : "", retry].filter(Boolean).join(", ");
  const gap = status.dropped ? ` · ${status.dropped} events not recorded while the API was behind` : "";
  switch (status.state) {
    case "saved":
      return { text: `Saved${gap}`, tone: "ok", saved: true };
    case "stopped":
      return { text: "Stopped: nothing was recorded", tone: "ok", saved: false };
    case "failed": {
      const lost = status.acknowledged ? ` (${plural(status.gaveUp, "batch")} lost)` : "";
      return { text: `Not saved: ${why || "a batch was given up"}${lost}`, tone: "bad", saved: false };
    }
    case "unsaved":
      return {
        text: `Not saved yet: ${trouble || `${plural(status.pending, "batch")} handed to the browser unconfirmed`}`,
        tone: "bad",
        saved: false,
      };
    case "sending":
      return { text: `Saving…${trouble ? ` ${trouble}` : ""}`, tone: "busy", saved: false };
    default: {
      const behind = status.retryAt || (error && status.pending) ? ` · Saving… ${trouble}` : "";
      return { text: `Recording${behind}${gap}`, tone: behind || gap ? "busy" : "ok", saved: false };
    }
  }
}

async function gzipStream(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function sessionStore() {
  try {
    return globalThis.sessionStorage || null;
  } catch (_) {
    return null; // storage disabled for this page (sandboxed frame, privacy settings)
  }
}

// The browser's own dependencies; startRecording(options, env) replaces any of them.
function browserEnv() {
  const has = (name) => typeof globalThis[name] !== "undefined";
  return {
    record: rrwebRecord,
    fetch: (url, init) => fetch(url, init),
    sendBeacon: has("navigator") && navigator.sendBeacon ? (url, data) => navigator.sendBeacon(url, data) : null,
    storage: sessionStore(),
    now: () => Date.now(),
    window: has("window") ? window : null,
    document: has("document") ? document : null,
    location: has("location") ? location : null,
    compress: gzipStream,
    consolePlugin: getRecordConsolePlugin,
    // Taken before rrweb's console plugin wraps console.error: the recorder's own
    // complaints are not part of the page's recording.
    log: console.error.bind(console),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// 408 and 429 mean "not now", as do the 5xx and no answer at all; any other 4xx is the
// API refusing this request for good, which no retry changes.
const transient = (status) => status === 408 || status === 429 || status >= 500;

function retryAfterMs(value, now) {
  if (value == null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function backoffMs(attempts, response, now) {
  const retryAfter = response ? retryAfterMs(response.headers.get("Retry-After"), now) : null;
  const wait =
    retryAfter === null
      ? 500 * 2 ** (attempts - 1) * (0.5 + Math.random() / 2)
      : Math.max(MIN_RETRY_MS, retryAfter) * (1 + Math.random() / 4);
  return Math.min(MAX_BACKOFF_MS, wait);
}

/** Text cut to at most `max` UTF-16 units, never inside a surrogate pair. */
function clip(text, max) {
  if (typeof text !== "string" || text.length <= max) return text;
  const cut = text.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** Why a batch was not stored, for status.lastError and onError. */
class Trouble extends Error {
  constructor(reason, message, { status = null, final = true } = {}) {
    super(message);
    this.reason = reason;
    this.status = status;
    this.final = final;
  }

  get info() {
    return { reason: this.reason, status: this.status, message: this.message };
  }
}

async function apiMessage(response) {
  const answer = await response
    .clone()
    .json()
    .catch(() => null);
  const error = answer && answer.error;
  return { code: error && error.code, text: (error && error.message) || "" };
}

async function refusal(response) {
  const { status } = response;
  const { code, text } = await apiMessage(response);
  const detail = `HTTP ${status}${text ? `: ${text}` : ""}`;
  if (transient(status)) return new Trouble("backing_off", `${REASONS.backing_off} (${detail})`, { status, final: false });
  if (status === 401 || status === 403) return new Trouble("key_refused", `${REASONS.key_refused} (${detail})`, { status });
  if (status === 409 && code === "recording_full") return new Trouble("recording_full", `${REASONS.recording_full} (${detail})`, { status });
  if (status === 404 || status === 409) return new Trouble("recording_gone", `${REASONS.recording_gone} (${detail})`, { status });
  if (status === 413) return new Trouble("too_large", `${REASONS.too_large} (${detail})`, { status });
  const trouble = new Trouble("refused", `${REASONS.refused} (${detail})`, { status });
  trouble.code = code;
  return trouble;
}

/**
 * Leaves elements matching `selector` out of the recording entirely. rrweb blocks them
 * (blockSelector: no children, no interactions, no attribute changes), which still
 * records each as an empty placeholder; this removes those placeholders from snapshots
 * and mutations, and points pointer positions over them at the root element instead.
 */
function excluder(selector, record, doc) {
  const hidden = new Set();
  const mirror = () => record.mirror;
  const matches = (node) => {
    try {
      return Boolean(node && node.matches && node.matches(selector));
    } catch (_) {
      return false;
    }
  };

  function prune(root) {
    const queue = [root];
    while (queue.length) {
      const node = queue.shift();
      if (!node.childNodes || !node.childNodes.length) continue;
      if (node.childNodes.some((child) => hidden.has(child.id))) {
        node.childNodes = node.childNodes.filter((child) => !hidden.has(child.id));
      }
      queue.push(...node.childNodes);
    }
  }

  function mutation(data) {
    const { adds = [], removes = [], texts = [], attributes = [] } = data;
    const kept = adds.filter((add) => {
      if (hidden.has(add.parentId) || hidden.has(add.node.id)) {
        hidden.add(add.node.id);
        return false;
      }
      if (add.node.type === NodeType.Element && matches(mirror().getNode(add.node.id))) {
        hidden.add(add.node.id);
        return false;
      }
      return true;
    });
    for (const add of kept) if (hidden.has(add.nextId)) add.nextId = null;
    const next = {
      ...data,
      adds: kept,
      removes: removes.filter((item) => !hidden.has(item.id)),
      texts: texts.filter((item) => !hidden.has(item.id)),
      attributes: attributes.filter((item) => !hidden.has(item.id)),
    };
    const before = adds.length + removes.length + texts.length + attributes.length;
    const after = next.adds.length + next.removes.length + next.texts.length + next.attributes.length;
    return before && !after ? null : next;
  }

  return function exclude(event) {
    if (event.type === FULL_SNAPSHOT) {
      for (const element of doc.querySelectorAll(selector)) {
        const id = mirror().getId(element);
        if (id > 0) hidden.add(id);
      }
      if (hidden.size) prune(event.data.node);
      return event;
    }
    if (event.type !== INCREMENTAL || !hidden.size) return event;
    const { data } = event;
    if (data.source === MUTATION) {
      const next = mutation(data);
      return next && { ...event, data: next };
    }
    // Inside an excluded element's shadow root, event targets are nodes rrweb never
    // serialised (id -1): they count as the excluded element too.
    const gone = (id) => hidden.has(id) || !mirror().getNode(id);
    if (POSITION_SOURCES.has(data.source) && Array.isArray(data.positions)) {
      if (!data.positions.some((p) => gone(p.id))) return event;
      const root = mirror().getId(doc.documentElement);
      return { ...event, data: { ...data, positions: data.positions.map((p) => (gone(p.id) ? { ...p, id: root } : p)) } };
    }
    return typeof data.id === "number" && gone(data.id) ? null : event;
  };
}

/** A console record's arguments and trace cut to a bounded size. */
function boundedConsole(event) {
  const payload = event.data && event.data.payload;
  if (!payload) return event;
  const cut = (items) =>
    Array.isArray(items)
      ? items.slice(0, CONSOLE_ITEMS_LIMIT).map((item) => (typeof item === "string" && item.length > CONSOLE_TEXT_LIMIT ? `${clip(item, CONSOLE_TEXT_LIMIT)}…` : item))
      : items;
  return { ...event, data: { ...event.data, payload: { ...payload, payload: cut(payload.payload), trace: cut(payload.trace) } } };
}

const isConsole = (event) => event.type === PLUGIN && event.data && event.data.plugin === CONSOLE_PLUGIN;
const isConsoleError = (event) => isConsole(event) && event.data.payload && event.data.payload.level === "error";

function eventBytes(event) {
  const measured =
    event.type === FULL_SNAPSHOT ||
    event.type === CUSTOM ||
    event.type === PLUGIN ||
    (event.type === INCREMENTAL && MEASURED_SOURCES.has(event.data.source));
  return measured ? JSON.stringify(event).length : ESTIMATED_EVENT_BYTES;
}

/** The user a stored session names, if it is one the API takes (the page may have changed it). */
function storedUser(stored) {
  try {
    return stored && stored.user ? validateUser(stored.user.id, stored.user.traits) : null;
  } catch (_) {
    return null;
  }
}

/** The tab's session as kept in sessionStorage, or null. */
function readSession(storage) {
  try {
    const stored = JSON.parse(storage.getItem(SESSION_KEY) || "null");
    return stored && typeof stored === "object" ? stored : null;
  } catch (_) {
    return null;
  }
}

export function startRecording(options, env = {}) {
  const config = {
    maskAllInputs: true,
    flushIntervalMs: 10000,
    liveFlushMs: LIMITS.liveFlushMs,
    firstFlushMs: 1000,
    maxBatchEvents: 1000,
    maxBatchBytes: 128 * 1024,
    maxPendingBytes: 8 * 1024 * 1024,
    stopTimeoutMs: 15000,
    screenshot: true,
    session: true,
    sessionIdleMs: 30 * 60 * 1000,
    sessionMaxMs: 24 * 60 * 60 * 1000,
    recordConsole: true,
    onError: () => {},
    onStatus: () => {},
    // An option given as undefined keeps its default.
    ...Object.fromEntries(Object.entries(options || {}).filter(([, value]) => value !== undefined)),
  };
  if (!config.ingestUrl || !config.ingestKey) throw new Error("rrweb recorder: ingestUrl and ingestKey are required");
  if (config.recordingId != null && !ID_PATTERN.test(config.recordingId)) {
    throw new Error("rrweb recorder: recordingId must be 8 to 64 of A-Z a-z 0-9 _ -");
  }
  const deps = { ...browserEnv(), ...env };
  const { record, storage, now, document: doc, window: win } = deps;
  const maxBatchEvents = Math.min(config.maxBatchEvents, LIMITS.events);
  const base = config.ingestUrl.replace(/\/$/, "");
  const keyQuery = `ingestKey=${encodeURIComponent(config.ingestKey)}`;

  // The session: this page continues the tab's recording if the visitor was active
  // recently enough, else starts one. Without sessionStorage, every page is its own.
  const started = now();
  // A framed page shares its tab's sessionStorage with the page around it, whose
  // recording it must not join: it records on its own.
  const framed = Boolean(win && win.top && win.top !== win);
  const kept = config.session !== false && !config.recordingId && !framed && storage ? storage : null;
  const stored = kept ? readSession(kept) : null;
  const continues =
    stored &&
    typeof stored.id === "string" &&
    ID_PATTERN.test(stored.id) &&
    started - stored.lastActivity < config.sessionIdleMs &&
    started - stored.startedAt < config.sessionMaxMs;
  const session = {
    id: continues ? stored.id : config.recordingId || newRecordingId(),
    startedAt: continues ? stored.startedAt : started,
    lastActivity: started,
    // Kept across sessions of the tab: views and seqs only ever increase, and the
    // visitor stays identified.
    lastView: (stored && Number(stored.lastView)) || 0,
    nextSeq: (stored && Number(stored.nextSeq)) || 0,
    user: storedUser(stored),
  };
  const view = Math.max(started, session.lastView + 1);
  session.lastView = view;
  // Seqs start from this page view's start (ms x 1000), and never below where the
  // session's previous page stopped: a recording continued on another page never
  // reuses a seq the API already stored, and events stay ordered across pages.
  let seq = Math.max(view * 1000, session.nextSeq);
  session.nextSeq = seq;
  // The activity time last written: a touch rewrites it once it is a second stale, however
  // recently something else (a flush) persisted the session.
  let persistedActivity = 0;
  let ended = false; // stop() ended the session: what is kept no longer names a recording
  function persist() {
    if (!kept) return;
    persistedActivity = session.lastActivity;
    try {
      kept.setItem(SESSION_KEY, JSON.stringify(ended ? { ...session, id: null } : session));
    } catch (_) {
      /* storage full or disabled: the next page starts its own recording */
    }
  }
  persist();

  // maxWaitMs: the longest any event waited between being recorded and the first
  // request carrying it (time in the buffer plus time queued behind earlier batches).
  // emitted counts the events taken; droppedWhileBackedUp those refused while the backlog
  // was over maxPendingBytes. pending and pendingBytes: the batches not yet sent.
  const stats = {
    emitted: 0,
    sentEvents: 0,
    requests: 0,
    bytesSent: 0,
    jsonBytes: 0,
    gaveUp: 0,
    maxWaitMs: 0,
    pending: 0,
    pendingBytes: 0,
    droppedWhileBackedUp: 0,
  };

  let buffer = [];
  let bufferBytes = 0;
  let bufferBacklog = 0; // the buffer's incremental events, measured like bufferBytes
  let bufferErrors = 0;
  let bufferSince = 0; // when the oldest waiting event arrived
  let flushTimer = null;
  let live = false; // the last ingest response said someone watches this recording live
  const queue = []; // batches with their seq, oldest first
  const handedOff = []; // batches given to sendBeacon, not acknowledged
  let queuedBytes = 0;
  let queuedBacklog = 0; // the queued batches' incremental events
  let backedUp = false; // over maxPendingBytes: new incremental events are not taken
  let droppedInPause = 0;
  let resuming = false;
  let sending = null;
  let stopped = false; // stop() was called
  let stopping = null;
  let closed = false; // stop() resolved: the recording has ended
  let batchesMade = 0;
  let acknowledged = 0;
  let created = false; // this page's create was acknowledged: later batches go to .../events
  let newIds = 0;
  let retryAt = null;
  let lastError = null;
  let gaveUpError = null;
  let userChanged = false; // identify() changed the user since the last batch was taken
  let cspBlocked = false;
  let lastStatus = "";

  const fail = (error) => {
    deps.log("rrweb recorder:", error);
    try {
      config.onError(error);
    } catch (_) {
      /* a faulty handler must not break recording */
    }
  };

  function stateOf(waiting) {
    if (stats.gaveUp) return "failed";
    if (!stopped) return "recording";
    if (!closed) return "sending";
    if (!batchesMade) return "stopped";
    return waiting.length ? "unsaved" : "saved";
  }

  function pendingBatches() {
    return [...queue, ...handedOff];
  }

  function status() {
    const waiting = pendingBatches();
    return {
      state: stateOf(waiting),
      id: session.id,
      acknowledged,
      pending: waiting.length,
      pendingEvents: waiting.reduce((total, batch) => total + batch.events.length, 0),
      handedOff: handedOff.length,
      gaveUp: stats.gaveUp,
      dropped: stats.droppedWhileBackedUp,
      paused: backedUp,
      retryAt,
      lastError,
      live,
    };
  }

  function notify() {
    const current = status();
    const text = JSON.stringify(current);
    if (text === lastStatus) return;
    lastStatus = text;
    try {
      config.onStatus(current);
    } catch (_) {
      /* a faulty handler must not break recording */
    }
  }

  // Each page's create: the recording's fields and this page view's. The create route is
  // idempotent by id, so the first batch (or any exit batch before the create was
  // acknowledged) may carry it any number of times.
  function createFields() {
    const viewport = win ? { width: clampInt(win.innerWidth), height: clampInt(win.innerHeight) } : undefined;
    return {
      id: session.id,
      url: clip(deps.location ? deps.location.href : undefined, LIMITS.urlLength),
      title: clip(doc ? doc.title : undefined, LIMITS.titleLength),
      referrer: (doc && clip(doc.referrer, LIMITS.urlLength)) || null,
      viewport,
      view,
      ...(session.user ? { user: session.user } : {}),
    };
  }
  const clampInt = (value) => Math.max(0, Math.min(LIMITS.viewportPixels, Math.round(Number(value) || 0)));

  // The flush clock: due flushInterval() after the oldest waiting event arrived. Re-armed
  // when live mode changes, so a watcher does not wait out a 10 s clock already running.
  const flushInterval = () => (live ? Math.min(config.flushIntervalMs, config.liveFlushMs) : config.flushIntervalMs);
  // Until a new recording's first batch is taken: it leaves early (see Sending).
  let announced = Boolean(continues);
  const flushDelay = () => (announced ? flushInterval() : Math.min(config.firstFlushMs, flushInterval()));

  function schedule() {
    clearTimeout(flushTimer);
    flushTimer = null;
    // stop() drains what teardown still emits itself.
    if (!buffer.length || stopped) return;
    flushTimer = setTimeout(flush, Math.max(0, bufferSince + flushDelay() - now()));
  }

  function setLive(value) {
    if (value === live) return;
    live = value;
    schedule();
  }

  function takeBatch() {
    clearTimeout(flushTimer);
    flushTimer = null;
    if (!buffer.length) return;
    announced = true;
    const batch = {
      seq: seq++,
      events: buffer,
      bytes: bufferBytes,
      backlog: bufferBacklog,
      errors: bufferErrors,
      since: bufferSince,
      attempts: 0,
    };
    if (userChanged && session.user) batch.user = session.user;
    userChanged = false;
    queue.push(batch);
    batchesMade += 1;
    queuedBytes += bufferBytes;
    queuedBacklog += bufferBacklog;
    buffer = [];
    bufferBytes = 0;
    bufferBacklog = 0;
    bufferErrors = 0;
    session.nextSeq = seq;
    persist();
    counted();
  }

  function dequeue(batch) {
    const index = queue.indexOf(batch);
    if (index < 0) return;
    queue.splice(index, 1);
    queuedBytes -= batch.bytes;
    queuedBacklog -= batch.backlog;
    counted();
    resumeIfCaughtUp();
  }

  function counted() {
    stats.pending = queue.length;
    stats.pendingBytes = queuedBytes;
    notify();
  }

  // Resuming takes a full snapshot (when events were dropped), which rrweb must not be
  // asked for from inside its own emit callback, hence the timer; events keep being
  // refused until it runs.
  function resumeIfCaughtUp() {
    if (!backedUp || resuming || queuedBacklog + bufferBacklog > config.maxPendingBytes / 2) return;
    resuming = true;
    setTimeout(() => {
      resuming = false;
      if (!backedUp || queuedBacklog + bufferBacklog > config.maxPendingBytes / 2) return;
      backedUp = false;
      const missed = droppedInPause;
      droppedInPause = 0;
      notify();
      if (stopped || !missed) return;
      try {
        record.takeFullSnapshot();
      } catch (error) {
        fail(error);
      }
    }, 0);
  }

  function giveUp(batch, trouble) {
    stats.gaveUp += 1;
    lastError = trouble.info;
    gaveUpError = lastError;
    // The user it carried goes with the next batch instead.
    if (batch.user && !userChanged) userChanged = true;
    dequeue(batch);
    fail(new Error(`gave up on batch ${batch.seq} (${batch.events.length} events): ${trouble.message}`));
  }

  function acknowledge(batch) {
    acknowledged += 1;
    stats.sentEvents += batch.events.length;
    lastError = gaveUpError;
    const index = handedOff.indexOf(batch);
    if (index >= 0) handedOff.splice(index, 1);
    dequeue(batch);
  }

  function request(batch) {
    const first = !created;
    const extra = { ...(batch.errors ? { errors: batch.errors } : {}) };
    const payload = first
      ? { ...createFields(), ...(batch.user ? { user: batch.user } : {}), seq: batch.seq, events: batch.events, ...extra }
      : { seq: batch.seq, events: batch.events, ...(batch.user ? { user: batch.user } : {}), ...extra };
    const path = first ? "/recordings" : `/recordings/${session.id}/events`;
    return { first, json: JSON.stringify(payload), url: `${base}${path}?${keyQuery}` };
  }

  function sent(batch, jsonLength, body) {
    if (!batch.sentOnce) stats.maxWaitMs = Math.max(stats.maxWaitMs, now() - batch.since);
    batch.sentOnce = true;
    stats.requests += 1;
    stats.bytesSent += body.byteLength;
    stats.jsonBytes += jsonLength;
  }

  // The answer to one page's create: the screenshot waits for it (null: not created).
  let answered;
  const createdAnswer = new Promise((resolve) => (answered = resolve));

  // One attempt at the head batch: resolves "ok", "again" (a new id: send at once), or
  // throws a Trouble (final: give the batch up; else retry after `wait`).
  async function attempt(batch) {
    if (batch.events.length > LIMITS.events) {
      throw new Trouble("too_large", `${REASONS.too_large} (${batch.events.length} events; the API takes ${LIMITS.events})`);
    }
    const { first, json, url } = request(batch);
    const bytes = strToU8(json);
    if (bytes.length > LIMITS.inflatedBytes) {
      throw new Trouble("too_large", `${REASONS.too_large} (${Math.round(bytes.length / 1048576)} MiB of JSON; the API takes 16 MiB)`);
    }
    const body = await deps.compress(bytes);
    if (body.byteLength > LIMITS.wireBytes) {
      throw new Trouble("too_large", `${REASONS.too_large} (${Math.round(body.byteLength / 1048576)} MiB compressed; the API takes 4 MiB)`);
    }
    // The page was hidden while this batch was being compressed: the exit path sent it.
    if (batch.beaconed) return "handed";
    batch.onWire = true;
    batch.keepalive = body.byteLength <= KEEPALIVE_LIMIT; // survives the page going away
    const pending = deps.fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body, keepalive: batch.keepalive });
    sent(batch, json.length, body);
    // No answer (offline, connection reset, the browser's keepalive budget, the page's CSP).
    const response = await pending.catch(() => null);
    if (!response) {
      if (!cspBlocked) await sleep(CSP_GRACE_MS);
      if (cspBlocked) throw new Trouble("blocked", REASONS.blocked);
      throw new Trouble("unreachable", REASONS.unreachable, { final: false });
    }
    if (response.ok) {
      // The answer says whether someone watches live; an unreadable one changes nothing.
      const answer = await response
        .clone()
        .json()
        .catch(() => null);
      if (first) {
        created = true;
        newIds = 0;
        answered(answer && response.status === 201 ? answer : null);
        setLive(Boolean(answer && answer.firstBatch && answer.firstBatch.live));
      } else if (answer) {
        setLive(Boolean(answer.live));
      }
      return "ok";
    }
    const trouble = await refusal(response);
    if (first && response.status === 409 && trouble.reason === "recording_gone" && newIds < MAX_NEW_IDS) {
      // The session's recording was deleted: this page starts a new one.
      newIds += 1;
      session.id = newRecordingId();
      session.startedAt = now();
      persist();
      notify();
      return "again";
    }
    trouble.response = response;
    throw trouble;
  }

  // Only the head of the queue is ever sent, so the API receives seqs in order, and a
  // batch stays at the head until it is stored, handed to the exit path, or refused for good.
  async function pump() {
    while (queue.length) {
      const batch = queue[0];
      let outcome;
      batch.inFlight = true;
      try {
        outcome = await attempt(batch);
      } catch (error) {
        outcome = error instanceof Trouble ? error : new Trouble("error", `${REASONS.error}: ${error.message}`);
      } finally {
        batch.inFlight = false;
        batch.onWire = false;
      }
      if (outcome === "ok") {
        acknowledge(batch);
        continue;
      }
      // The exit path sent it meanwhile (while it was being compressed, or while a
      // request the browser would cancel with the page was on the wire).
      if (batch.beaconed) {
        handOff(batch);
        continue;
      }
      if (outcome === "again") continue;
      if (outcome.final) {
        giveUp(batch, outcome);
        continue;
      }
      batch.attempts += 1;
      const wait = backoffMs(batch.attempts, outcome.response, now());
      retryAt = Math.round(now() + wait);
      lastError = outcome.info;
      notify();
      await sleep(wait);
      retryAt = null;
      notify();
    }
  }

  function kick() {
    if (!sending) {
      sending = pump()
        .catch(fail)
        .finally(() => {
          sending = null;
          if (queue.length) kick();
          else detachIfDone();
        });
    }
    return sending;
  }

  function flush() {
    takeBatch();
    return kick();
  }

  function handOff(batch) {
    const index = queue.indexOf(batch);
    if (index >= 0) {
      queue.splice(index, 1);
      queuedBytes -= batch.bytes;
      queuedBacklog -= batch.backlog;
    }
    if (!handedOff.includes(batch)) handedOff.push(batch);
    counted();
    resumeIfCaughtUp();
  }

  // The page is going away: send what waits at once. Compression must be synchronous
  // here (fflate), and everything leaves through sendBeacon, whose requests the browser
  // delivers after the page is gone. The key rides in the query (a beacon cannot set
  // headers); the API recognises gzip by its magic bytes. Until a create has been
  // acknowledged, every exit batch goes through the create route, which is idempotent and
  // appends its batch: whichever lands first creates the recording, in any order.
  // A beacon is not an acknowledgement: those batches count as handed off, and are sent
  // again (same seqs) if the page is shown again.
  function flushOnExit() {
    takeBatch();
    persist();
    // A batch on the wire with keepalive keeps its own request; every other one,
    // including one being compressed or one the browser would cancel, goes out now.
    // Each batch goes out on its own: one the browser refuses does not hold back those
    // after it, since the API orders a recording's batches by seq, not by arrival.
    const leaving = queue.filter((batch) => !batch.beaconed && !(batch.onWire && batch.keepalive));
    for (const batch of leaving) {
      if (batch.bytes > BEACON_INPUT_LIMIT) continue;
      const { json, url } = request(batch);
      const body = gzipSync(strToU8(json), { level: 6, mtime: 0 });
      if (!exitSend(batch, url, body)) continue;
      batch.beaconed = true;
      sent(batch, json.length, body);
      stats.sentEvents += batch.events.length;
      // One being compressed or on the wire is handed off by pump when that ends.
      if (!batch.inFlight) handOff(batch);
    }
    notify();
  }

  // Gives one exit batch to the browser to deliver after the page is gone: a beacon, or a
  // keepalive fetch where there is no beacon or the beacon is refused. False when neither
  // can carry it: the batch stays queued, and goes out as usual if the page lives on
  // (only hidden).
  function exitSend(batch, url, body) {
    if (deps.sendBeacon && deps.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return true;
    if (!deps.fetch || body.byteLength > EXIT_BUDGET) return false;
    deps.fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body, keepalive: true }).catch(() => unhand(batch));
    return true;
  }

  // A keepalive fetch of the exit path was refused (the browser's budget): if the page
  // lives on, its batch is queued again like any other, in seq order.
  function unhand(batch) {
    if (!batch.beaconed) return;
    batch.beaconed = false;
    const index = handedOff.indexOf(batch);
    if (index >= 0) handedOff.splice(index, 1);
    if (!queue.includes(batch)) {
      queue.push(batch);
      queuedBytes += batch.bytes;
      queuedBacklog += batch.backlog;
      // pump holds the head by reference, so the queue may be reordered under it.
      queue.sort((a, b) => a.seq - b.seq);
    }
    counted();
    notify();
    kick();
  }

  // Shown again: what only went out by beacon is sent once more to be acknowledged.
  function confirmHandedOff() {
    if (!handedOff.length) return;
    for (const batch of handedOff.splice(0)) {
      batch.beaconed = false;
      queue.push(batch);
      queuedBytes += batch.bytes;
      queuedBacklog += batch.backlog;
    }
    // pump holds the head by reference, so the queue may be reordered under it.
    queue.sort((a, b) => a.seq - b.seq);
    counted();
    kick();
  }

  const excluded = [ALWAYS_EXCLUDED, config.excludeSelector].filter(Boolean).join(", ");
  const exclude = excluder(excluded, record, doc);

  function touch(at) {
    session.lastActivity = at;
    if (at - persistedActivity > 1000) persist();
  }

  function take(emitted) {
    if (closed) return;
    let event = exclude(emitted);
    if (!event) return;
    if (isConsole(event)) event = boundedConsole(event);
    if (event.type === META || event.type === CUSTOM || (event.type === INCREMENTAL && ACTIVITY_SOURCES.has(event.data.source))) {
      touch(now());
    }
    // Full snapshots and their Meta events are what everything after them builds on:
    // always taken, and not counted towards the backlog budget.
    const whole = event.type === FULL_SNAPSHOT || event.type === META;
    if (backedUp && !whole) {
      stats.droppedWhileBackedUp += 1;
      droppedInPause += 1;
      resumeIfCaughtUp();
      notify();
      return;
    }
    const size = eventBytes(event);
    // A large event travels alone, so the batch carrying it is as small as it can be.
    if (size >= config.maxBatchBytes && buffer.length) takeBatch();
    const wasEmpty = !buffer.length;
    if (wasEmpty) bufferSince = now();
    buffer.push(event);
    if (wasEmpty) schedule();
    stats.emitted += 1;
    bufferBytes += size;
    if (!whole) bufferBacklog += size;
    if (isConsoleError(event)) bufferErrors += 1;
    // The event that crosses the budget is kept; the ones after it wait for the backlog
    // to go out.
    if (!whole && queuedBacklog + bufferBacklog > config.maxPendingBytes) {
      backedUp = true;
      notify();
      fail(
        new Error(
          `${Math.round((queuedBacklog + bufferBacklog) / 1024)} KB not sent yet: new events are not recorded until the API takes them`,
        ),
      );
    }
    if (buffer.length >= maxBatchEvents || bufferBytes >= config.maxBatchBytes) flush();
  }

  const consoleOptions = {
    level: ["error", "warn", "info", "log"],
    lengthThreshold: 1000,
    stringifyOptions: { stringLengthLimit: 1000, numOfKeysLimit: 50, depthOfLimit: 4 },
    ...(typeof config.recordConsole === "object" ? config.recordConsole : {}),
  };
  const stopRecording = record({
    emit: take,
    maskAllInputs: config.maskAllInputs,
    maskInputFn: (text, element) =>
      config.maskAllInputs && !(element && element.closest && element.closest("[data-rr-unmask]")) ? "*".repeat(text.length) : text,
    blockSelector: excluded,
    recordCanvas: false,
    collectFonts: false,
    plugins: config.recordConsole ? [deps.consolePlugin(consoleOptions)] : [],
  });

  const onVisibility = () => {
    if (doc.visibilityState === "hidden") flushOnExit();
    else confirmHandedOff();
  };
  // Chrome reports the blocked URL whole, others only its origin.
  const ingestOrigin = (() => {
    try {
      return new URL(base).origin;
    } catch (_) {
      return base;
    }
  })();
  const onViolation = (event) => {
    // A report-only policy blocks nothing.
    if (event.disposition && event.disposition !== "enforce") return;
    const blocked = String(event.blockedURI || "");
    if (blocked && (base.startsWith(blocked) || blocked.startsWith(ingestOrigin))) cspBlocked = true;
  };
  let attached = true;
  function detachIfDone() {
    if (!attached || !closed || queue.length || handedOff.length) return;
    attached = false;
    doc.removeEventListener("visibilitychange", onVisibility);
    win.removeEventListener("pagehide", flushOnExit);
    win.removeEventListener("pageshow", confirmHandedOff);
    doc.removeEventListener("securitypolicyviolation", onViolation);
  }
  doc.addEventListener("visibilitychange", onVisibility);
  doc.addEventListener("securitypolicyviolation", onViolation);
  win.addEventListener("pagehide", flushOnExit);
  win.addEventListener("pageshow", confirmHandedOff);

  if (config.screenshot) {
    const idle = win.requestIdleCallback || ((fn) => setTimeout(fn, 1500));
    idle(() => uploadScreenshot().catch(fail), { timeout: 4000 });
  }

  // Only a new recording gets a thumbnail: the session's first page is what its list shows.
  async function uploadScreenshot() {
    const answer = await createdAnswer;
    if (!answer || !answer.screenshotUpload) return;
    const { screenshotUpload } = answer;
    const { default: html2canvas } = await import("html2canvas");
    const canvas = await html2canvas(doc.body, {
      x: win.scrollX,
      y: win.scrollY,
      width: win.innerWidth,
      height: win.innerHeight,
      scale: Math.min(1, 640 / win.innerWidth),
      logging: false,
      useCORS: true,
      onclone: (clone) => maskFormValues(clone, config.maskAllInputs),
    });
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.7));
    if (!blob || blob.size > screenshotUpload.maxBytes) throw new Error("screenshot too large; skipped");
    const form = new FormData();
    for (const [name, value] of Object.entries(screenshotUpload.fields)) form.append(name, value);
    form.append("file", blob, "screenshot.jpg");
    const response = await deps.fetch(screenshotUpload.url, { method: "POST", body: form });
    if (!response.ok) throw new Error(`screenshot upload failed: HTTP ${response.status}`);
  }

  async function settle() {
    do {
      await flush();
      while (sending || queue.length) await (sending || kick()).catch(() => {});
    } while (buffer.length);
  }

  function endSession() {
    if (!kept) return;
    // The next page starts a recording of its own; views, seqs and the user stay. A
    // session another page of the tab started since is not this one's to end.
    const current = readSession(kept);
    if (current && current.id !== session.id) return;
    ended = true;
    persist();
  }

  async function drain() {
    stopped = true;
    notify();
    if (stopRecording) stopRecording();
    clearTimeout(flushTimer);
    endSession();
    // rrweb may still emit what it had queued while tearing down: let it, then drain
    // until nothing is left. Through an outage that never ends, so stop() stops waiting
    // after stopTimeoutMs; the exit listeners stay until the queue is empty, so leaving
    // the page mid-drain, or after that, still sends it all.
    await sleep(0);
    let timer;
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, config.stopTimeoutMs, false)));
    const settled = await Promise.race([settle().then(() => true), timedOut]);
    clearTimeout(timer);
    closed = true;
    answered(null);
    const result = status();
    const drained = settled && !result.pending && !result.gaveUp;
    if (!settled) {
      fail(new Error(`${result.pendingEvents} events not sent yet after ${config.stopTimeoutMs / 1000} s; still retrying while the page is open`));
    }
    notify();
    detachIfDone();
    return { drained, ...result };
  }

  /**
   * Identifies the visitor: checked like the API checks it (throws a TypeError),
   * kept in the session, sent with the next request, and recorded as a custom event.
   */
  function identify(userId, traits) {
    const user = validateUser(userId, traits);
    const changed = JSON.stringify(user) !== JSON.stringify(session.user);
    session.user = user;
    persist();
    if (closed) return;
    if (changed) userChanged = true;
    take({ type: CUSTOM, data: { tag: "identify", payload: user }, timestamp: now() });
  }

  notify();
  return {
    get id() {
      return session.id;
    },
    stats,
    /** Whether the last ingest response said someone watches this recording live. */
    get live() {
      return live;
    },
    status,
    identify,
    flush,
    maskFormValues: (clone) => maskFormValues(clone, config.maskAllInputs),
    /**
     * Flushes, waits until everything is acknowledged (or given up) or stopTimeoutMs has
     * passed, and ends the recording and the session; resolves with {drained, ...status()}.
     */
    stop() {
      if (!stopping) stopping = drain();
      return stopping;
    },
  };
}
