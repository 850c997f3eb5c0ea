/**
 * rrweb-s3-storage recorder: records a page with rrweb and ships the events to the API.
 *
 * const recorder = startRecording({ ingestUrl: "https://<api>/api", ingestKey: "rrk_...", ...options });
 * Every option, its default and what it does: docs/recorder.md (the defaults themselves are
 * startRecording's `config`, below).
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
 *
 * The recorder is composed of modules under recorder/: session.js (the tab's session),
 * exclude.js (what is left out), events.js (an event's kind and size), transport.js
 * (buffer, batches, sending, exit path, backlog), status.js (status(), onStatus, onError,
 * describeStatus), identify.js (validateUser), screenshot.js and limits.js (LIMITS).
 */
import { getRecordConsolePlugin } from "@rrweb/rrweb-plugin-console-record";
import { END_TAG, SNAPSHOT_TAG } from "./end-tag.js";
import { EventType, record as rrwebRecord } from "rrweb";
import { createAssetCapture } from "./recorder/assets.js";
import { createErrorBuffer } from "./recorder/on-error.js";
import { networkPlugin } from "./recorder/network.js";
import { boundedConsole, isActivity, isConsole } from "./recorder/events.js";
import { excludedSelector, excluder } from "./recorder/exclude.js";
import { validateUser } from "./recorder/identify.js";
import { LIMITS } from "./recorder/limits.js";
import { MEDIA_SELECTOR, maskText, maskTextAttributes } from "./recorder/mask.js";
import { maskClone, maskFormValues, uploadScreenshot } from "./recorder/screenshot.js";
import { ID_PATTERN, openSession } from "./recorder/session.js";
import { reporter, statusOf } from "./recorder/status.js";
import { createTransport, gzipStream, sleep } from "./recorder/transport.js";

export { LIMITS } from "./recorder/limits.js";
export { END_TAG };
export { SESSION_KEY } from "./recorder/session.js";
export { describeStatus } from "./recorder/status.js";
export { maskFormValues, validateUser };

// Where a tab remembers that the API refused a key, and for how long it believes it.
const REFUSED_KEY = "rrweb-s3-storage:refused";
const REFUSED_FOR_MS = 60 * 60 * 1000;

function rememberRefusal(storage, key, at) {
  try {
    if (storage) storage.setItem(REFUSED_KEY, JSON.stringify({ key, at }));
  } catch (_) {
    /* storage full or disabled: the next page asks the API once more */
  }
}

function wasRefused(storage, key, now) {
  try {
    const kept = storage ? JSON.parse(storage.getItem(REFUSED_KEY) || "null") : null;
    return Boolean(kept && kept.key === key && now - kept.at < REFUSED_FOR_MS);
  } catch (_) {
    return false;
  }
}

/**
 * The recorder of a page that records nothing: a key refused earlier in its tab, a page
 * the URL rules leave out, or a session not sampled. It sends nothing, and the page's
 * handlers hear its status once, as they would have.
 */
function inactiveRecorder(config, deps, { state, lastError = null, skipped = null, warning = null }) {
  const status = () => ({
    state,
    id: null,
    acknowledged: 0,
    pending: 0,
    pendingEvents: 0,
    handedOff: 0,
    gaveUp: 0,
    dropped: 0,
    paused: false,
    retryAt: null,
    lastError,
    live: false,
    skipped,
  });
  if (warning) deps.warn("rrweb recorder:", warning);
  setTimeout(() => {
    try {
      config.onStatus(status());
    } catch (_) {
      /* a faulty handler must not break the page */
    }
  }, 0);
  return {
    id: null,
    stats: { emitted: 0, sentEvents: 0, gaveUp: 0, droppedWhileBackedUp: 0 },
    assets: () => ({ kept: 0, uploaded: 0, notKept: {} }),
    live: false,
    status,
    identify: () => {},
    flush: async () => {},
    maskFormValues: () => {},
    maskClone: () => {},
    stop: async () => ({ drained: state !== "failed", ...status() }),
  };
}

/** A URL rule as a test: a RegExp, or a string where `*` stands for any run of characters. */
function urlRule(pattern) {
  if (pattern instanceof RegExp) return (url) => pattern.test(url);
  const source = String(pattern)
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  const expression = new RegExp(`^${source}$`);
  return (url) => expression.test(url);
}

// What a key's controls may set (the API's chalicelib/controls.py): nothing else is taken.
const KEY_CONTROLS = ["sampleRate", "urlAllow", "urlDeny", "minimumDurationMs", "onErrorBufferMs", "onErrorLevels", "maskAllText", "blockMedia"];
const KEY_CONTROLS_WAIT_MS = 2000;

/**
 * `options` with the recording controls an admin set on its key in the site (`GET
 * /controls`), each replacing the option of the same name, so they change without
 * touching the page. The browser keeps the answer 5 minutes (its Cache-Control), so a
 * visitor's pages ask at most that often. When the controls cannot be read within 2 s
 * (offline, a Content-Security-Policy, an old API), the options are used as given, and
 * `onError` says why. The script tag reads them with `data-key-controls`; an npm user
 * awaits this before startRecording.
 */
export async function withKeyControls(options, env = {}) {
  const fetcher = env.fetch || browserEnv().fetch;
  const base = String(options.ingestUrl || "").replace(/\/$/, "");
  const url = `${base}/controls?ingestKey=${encodeURIComponent(options.ingestKey || "")}`;
  let timer;
  try {
    const answer = await Promise.race([
      fetcher(url, { method: "GET", credentials: "omit" }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${KEY_CONTROLS_WAIT_MS} ms`)), KEY_CONTROLS_WAIT_MS);
      }),
    ]);
    if (answer.status === 401 || answer.status === 403) {
      // The key is refused (revoked, or not allowed on this origin): so would every batch be.
      const { error } = await answer.json().catch(() => ({}));
      return { ...options, keyRefused: `HTTP ${answer.status}${error && error.message ? `: ${error.message}` : ""}` };
    }
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const { controls } = await answer.json();
    const chosen = Object.fromEntries(Object.entries(controls || {}).filter(([name]) => KEY_CONTROLS.includes(name)));
    return { ...options, ...chosen };
  } catch (error) {
    if (typeof options.onError === "function") options.onError(new Error(`the key's recording controls were not read (${error.message}): recording with the page's own options`));
    return options;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the URL rules record a page: it matches some urlAllow rule (any, without them) and no urlDeny one. */
export function urlRecorded(url, { urlAllow = [], urlDeny = [] } = {}) {
  const allow = [].concat(urlAllow).filter((rule) => rule !== "");
  const deny = [].concat(urlDeny).filter((rule) => rule !== "");
  if (allow.length && !allow.some((rule) => urlRule(rule)(url))) return false;
  return !deny.some((rule) => urlRule(rule)(url));
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
  // The browser's fetch as it is now, before the network plugin wraps the page's: the
  // recorder's own requests are not the page's, and are never recorded.
  const nativeFetch = has("fetch") ? globalThis.fetch : null;
  return {
    record: rrwebRecord,
    fetch: (url, init) => nativeFetch.call(globalThis, url, init),
    sendBeacon: has("navigator") && navigator.sendBeacon ? (url, data) => navigator.sendBeacon(url, data) : null,
    // An image request: what a policy blocking the API's connect-src may still let through.
    report: has("Image") ? (url) => Object.assign(new Image(), { referrerPolicy: "no-referrer" }).setAttribute("src", url) : null,
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
    warn: console.warn.bind(console),
    random: Math.random,
    crypto: globalThis.crypto,
  };
}

export function startRecording(options, env = {}) {
  const config = {
    maskAllInputs: true,
    // Page text and media are recorded unless the page says otherwise (docs/recorder.md,
    // "Privacy": the defaults weighed against Sentry's and PostHog's).
    maskAllText: false,
    blockMedia: false,
    // Recording controls (docs/recorder.md): the share of sessions recorded, and which
    // pages (URL patterns, `*` a wildcard, or RegExps).
    sampleRate: 1,
    urlAllow: [],
    urlDeny: [],
    minimumDurationMs: 0,
    // On-error mode (recorder/on-error.js): 0 records as usual; otherwise only a visit
    // that logs at one of onErrorLevels is sent, with this much of what led to it.
    onErrorBufferMs: 0,
    onErrorLevels: ["error"],
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
    // The page's fetch and XHR calls (recorder/network.js): method, URL, status, timing and
    // sizes; {headers: true, bodies: true, redact: [names]} adds those, secrets redacted.
    recordNetwork: true,
    // Page assets (recorder/assets.js, docs/recorder.md): kept once per owner by content.
    captureAssets: true,
    captureImages: true,
    assetMaxBytes: 8 * 1024 * 1024,
    assetPageBytes: 32 * 1024 * 1024,
    assetCssBytes: 8 * 1024,
    assetWaitMs: 2000,
    onError: () => {},
    onStatus: () => {},
    // An option given as undefined keeps its default.
    ...Object.fromEntries(Object.entries(options || {}).filter(([, value]) => value !== undefined)),
  };
  if (!config.ingestUrl || !config.ingestKey) throw new Error("rrweb recorder: ingestUrl and ingestKey are required");
  const deps = { ...browserEnv(), ...env };
  if (config.keyRefused) {
    // Refused when its controls were read (withKeyControls): nothing is sent with it.
    rememberRefusal(deps.storage, config.ingestKey, deps.now());
    return inactiveRecorder(config, deps, {
      state: "failed",
      lastError: { reason: "key_refused", status: null, message: `the ingest key was refused (${config.keyRefused})` },
      warning: `not recording: the ingest key was refused (${config.keyRefused}). Check the key on the site's Keys page.`,
    });
  }
  if (wasRefused(deps.storage, config.ingestKey, deps.now())) {
    // Refused on an earlier page of this tab: nothing is recorded or sent with it.
    const key = config.ingestKey;
    return inactiveRecorder(config, deps, {
      state: "failed",
      lastError: { reason: "key_refused", status: null, message: `the ingest key ${key.slice(0, 20)}… was refused earlier in this tab` },
      warning: "not recording: the ingest key was refused earlier in this tab. Check the key on the site's Keys page.",
    });
  }
  const href = deps.location ? String(deps.location.href) : "";
  if (!urlRecorded(href, config)) return inactiveRecorder(config, deps, { state: "stopped", skipped: "url" });
  if (config.recordingId != null && !ID_PATTERN.test(config.recordingId)) {
    throw new Error("rrweb recorder: recordingId must be 8 to 64 of A-Z a-z 0-9 _ -");
  }
  const { record, now, document: doc, window: win } = deps;
  const { notify: report, fail } = reporter({ onStatus: config.onStatus, onError: config.onError, log: deps.log });

  const tab = openSession({ config, storage: deps.storage, now, win, doc, location: deps.location, random: deps.random });
  // sampleRate: decided once per session (kept with it), so a visit is recorded whole or not at all.
  if (!tab.sampled) return inactiveRecorder(config, deps, { state: "stopped", skipped: "sampled_out" });
  // status() is the sender's progress under the session's id; notify() tells onStatus
  // when it changed.
  const status = () => statusOf(transport.progress(), tab.id);
  const notify = () => report(status());
  const transport = createTransport({
    config,
    deps,
    tab,
    notify,
    fail,
    // Marked first, so the replay's moments do not count the snapshot's Meta as a page view.
    takeFullSnapshot: () => {
      transport.add({ type: EventType.Custom, data: { tag: SNAPSHOT_TAG, payload: {} }, timestamp: now() });
      record.takeFullSnapshot();
    },
    onKeyRefused: (trouble) => refused(trouble),
    onBlocked: (trouble) => policyBlocked(trouble),
    // The page's question about its assets rides on its batches (recorder/assets.js).
    questions: {
      take: () => (assets ? assets.takeQuestion() : null),
      answered: (question, answer) => assets?.answered(question, answer),
      asking: () => Boolean(assets?.asking),
    },
  });

  const masks = { maskAllInputs: config.maskAllInputs, maskAllText: config.maskAllText, blockMedia: config.blockMedia };
  const excluded = excludedSelector(config.excludeSelector);
  // blockMedia: rrweb keeps a blank box of each medium's size, and nothing of it.
  const blocked = config.blockMedia ? `${excluded}, ${MEDIA_SELECTOR}` : excluded;
  const exclude = excluder(excluded, record, doc);
  // On-error mode: until the page logs at a chosen level, events wait here, unsent.
  const errorBuffer =
    config.onErrorBufferMs > 0 && !tab.triggered
      ? createErrorBuffer({
          bufferMs: config.onErrorBufferMs,
          levels: [].concat(config.onErrorLevels),
          pass: (event) => {
            if (!transport.closed) transport.add(event);
          },
          onTrigger: () => tab.trigger(),
        })
      : null;
  const forward = (event) => {
    if (transport.closed) return;
    if (errorBuffer) errorBuffer.add(event);
    else transport.add(event);
  };
  const assets = config.captureAssets
    ? createAssetCapture({ config, deps, forward })
    : null;

  // Whether a recorded node is inside [data-rr-unmask] on the page (maskAllText's exception).
  const unmaskedNode = (id) => {
    const node = deps.record?.mirror?.getNode?.(id);
    const element = node && (node.nodeType === 1 ? node : node.parentElement);
    return Boolean(element && element.closest && element.closest("[data-rr-unmask]"));
  };

  function take(emitted) {
    if (transport.closed) return;
    let event = exclude(emitted);
    if (!event) return;
    if (isConsole(event)) event = boundedConsole(event);
    if (config.maskAllText) event = maskTextAttributes(event, unmaskedNode, (id) => deps.record?.mirror?.getNode?.(id) || null);
    if (isActivity(event)) tab.touch(now());
    if (assets) assets.pipe(event);
    else forward(event);
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
    blockSelector: blocked,
    // maskAllText: every text node is masked unless inside [data-rr-unmask]; rrweb asks
    // maskTextFn for the text of the nodes maskTextSelector matches.
    ...(config.maskAllText
      ? {
          maskTextSelector: "*",
          maskTextFn: (text, element) => (element && element.closest && element.closest("[data-rr-unmask]") ? text : maskText(text)),
        }
      : {}),
    recordCanvas: false,
    // With the asset store, a linked stylesheet is kept by its bytes (recorder/assets.js):
    // rrweb reading a large sheet's rules into the snapshot holds the main thread
    // (100 ms for 500 KB of CSS) and stores the text again in every recording.
    inlineStylesheet: !config.captureAssets,
    collectFonts: false,
    plugins: [
      ...(config.recordConsole ? [deps.consolePlugin(consoleOptions)] : []),
      ...(config.recordNetwork
        ? [
            networkPlugin({
              ignore: (url) => String(url).startsWith(config.ingestUrl.replace(/\/$/, "")),
              options: typeof config.recordNetwork === "object" ? config.recordNetwork : {},
            }),
          ]
        : []),
    ],
    // On-error mode keeps a bounded buffer that starts at a full snapshot: take one this often.
    ...(errorBuffer ? { checkoutEveryNms: config.onErrorBufferMs } : {}),
  });
  transport.listen();

  /**
   * The API refused the key (revoked, unknown, or not for this origin): recording stops on
   * this page, and pages after it in this tab do not start with that key, so a page with
   * a dead key costs one refused request, not one per batch for ever. One warning says so.
   */
  function refused(trouble) {
    if (stopRecording) stopRecording();
    tab.end();
    rememberRefusal(deps.storage, config.ingestKey, now());
    const error = new Error(`${trouble.message}; recording stopped. Check the key on the site's Keys page.`);
    deps.warn("rrweb recorder:", error.message);
    try {
      config.onError(error);
    } catch (_) {
      /* a faulty handler must not break the page */
    }
  }

  /**
   * The page's Content-Security-Policy blocks the API: recording stops for this page, the
   * console says once what to add to the policy, and the key's owner hears of it on the
   * keys page through an image request (GET /blocked), which a policy refusing the API
   * in connect-src may still let through (img-src); where it does not, nothing can.
   */
  function policyBlocked(trouble) {
    if (stopRecording) stopRecording();
    const origin = (() => {
      try {
        return new URL(config.ingestUrl).origin;
      } catch (_) {
        return String(config.ingestUrl);
      }
    })();
    const error = new Error(
      `this page's Content-Security-Policy (${trouble.directive}) blocks ${origin}; recording stopped. Add ${origin} to the policy's ${trouble.directive}.`,
    );
    deps.warn("rrweb recorder:", error.message);
    if (deps.report) {
      const query = new URLSearchParams({ ingestKey: config.ingestKey, directive: trouble.directive, uri: origin });
      deps.report(`${String(config.ingestUrl).replace(/\/$/, "")}/blocked?${query}`);
    }
    try {
      config.onError(error);
    } catch (_) {
      /* a faulty handler must not break the page */
    }
  }

  // Only a new recording gets a thumbnail: the session's first page is what its list shows.
  if (config.screenshot) {
    const idle = win.requestIdleCallback || ((fn) => setTimeout(fn, 1500));
    const screenshot = async () =>
      uploadScreenshot(await transport.createdAnswer, { deps, doc, win, masks });
    idle(() => screenshot().catch(fail), { timeout: 4000 });
  }

  let stopping = null;
  async function drain() {
    // Events held for their assets' bytes go on first (each waits assetWaitMs at most).
    if (assets?.waiting) await Promise.race([assets.settle(), sleep(config.assetWaitMs + 100)]);
    // The recording's last event: the replay page knows it has everything once it read it,
    // and the batch carrying it (end: true) ends the recording for the API.
    if (transport.recorded) transport.add({ type: EventType.Custom, data: { tag: END_TAG, payload: {} }, timestamp: now() });
    transport.stop();
    if (stopRecording) stopRecording();
    tab.end();
    // rrweb may still emit what it had queued while tearing down: let it, then drain
    // until nothing is left. Through an outage that never ends, so stop() stops waiting
    // after stopTimeoutMs; the exit listeners stay until the queue is empty, so leaving
    // the page mid-drain, or after that, still sends it all.
    await sleep(0);
    let timer;
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, config.stopTimeoutMs, false)));
    const settled = await Promise.race([transport.settle().then(() => true), timedOut]);
    clearTimeout(timer);
    transport.close();
    const result = status();
    const drained = settled && !result.pending && !result.gaveUp;
    if (!settled) {
      fail(new Error(`${result.pendingEvents} events not sent yet after ${config.stopTimeoutMs / 1000} s; still retrying while the page is open`));
    }
    notify();
    transport.detachIfDone();
    return { drained, ...result };
  }

  /**
   * Identifies the visitor: checked like the API checks it (throws a TypeError),
   * kept in the session, sent with the next request, and recorded as a custom event.
   */
  function identify(userId, traits) {
    const user = validateUser(userId, traits);
    const changed = tab.setUser(user);
    if (transport.closed) return;
    if (changed) transport.userChanged();
    take({ type: EventType.Custom, data: { tag: "identify", payload: user }, timestamp: now() });
  }

  notify();
  return {
    get id() {
      return tab.id;
    },
    stats: transport.stats,
    /** Page assets: how many were kept and uploaded, and how many not kept, by reason. */
    assets: () => (assets ? assets.stats() : { kept: 0, uploaded: 0, notKept: {} }),
    /** Whether the last ingest response said someone watches this recording live. */
    get live() {
      return transport.live;
    },
    status,
    identify,
    flush: transport.flush,
    maskFormValues: (clone) => maskFormValues(clone, config.maskAllInputs),
    /** Masks a copy of the page as the recording and its screenshot are masked. */
    maskClone: (clone) => maskClone(clone, masks),
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
