/**
 * Transport: getting the recorded events to the API. Events wait in a buffer until the
 * flush clock or a size bound cuts a batch with the next seq; one sender compresses the
 * head of the queue and posts it, retrying what is transient and giving up only on a
 * definitive refusal; the exit path sends what waits by beacon when the page is hidden or
 * left; the backlog budget pauses recording while the API does not take batches.
 * createTransport keeps that state and tells the recorder about it through `progress()`
 * (for status()) and the `notify` and `fail` it is given.
 */
import { gzipSync, strToU8 } from "fflate";
import { eventBytes, isConsoleError, isWhole } from "./events.js";
import { LIMITS } from "./limits.js";
import { REASONS, Trouble } from "./status.js";

// Browsers give keepalive fetches and beacons 64 KB in flight in total. Ordinary sends
// use keepalive only up to this size, so a page being left always has most of the
// budget for what the exit path must send.
const KEEPALIVE_LIMIT = 24 * 1024;
// No keepalive fetch larger than the whole budget can leave.
const EXIT_BUDGET = 64 * 1024;
// A batch this large (JSON) cannot compress into a beacon's 64 KB: the exit path does
// not spend a synchronous compression on it.
const BEACON_INPUT_LIMIT = 2 * 1024 * 1024;
const MAX_BACKOFF_MS = 30000;
// A server answering Retry-After: 0 again and again must not turn the retry into a busy loop.
const MIN_RETRY_MS = 200;
// A fetch refused by the page's CSP rejects like a network error; the violation event
// that tells them apart is dispatched as a task of its own, so it is waited for briefly.
const CSP_GRACE_MS = 50;
// Creates answered id_in_use in a row before giving the batch up (each picks a new id).
const MAX_NEW_IDS = 3;

/** gzip with the browser's CompressionStream, off the page's main work. */
export async function gzipStream(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_CODES = Uint8Array.from(BASE64, (c) => c.charCodeAt(0));

/**
 * gzip bytes as base64 text, the body every batch is sent as. The request stays a
 * CORS-simple text/plain one (no preflight), and a text body reaches the API intact
 * through every door: a Lambda function URL (the ingest door) hands a text/plain body
 * over as UTF-8, which would mangle gzip's bytes. The API decodes it (ingest.py).
 */
export function armour(bytes) {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = BASE64_CODES[n >> 18];
    out[o++] = BASE64_CODES[(n >> 12) & 63];
    out[o++] = BASE64_CODES[(n >> 6) & 63];
    out[o++] = BASE64_CODES[n & 63];
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i] << 16) | (rest > 1 ? bytes[i + 1] << 8 : 0);
    out[o] = BASE64_CODES[n >> 18];
    out[o + 1] = BASE64_CODES[(n >> 12) & 63];
    out[o + 2] = rest > 1 ? BASE64_CODES[(n >> 6) & 63] : 61; // "="
    out[o + 3] = 61;
  }
  return out;
}

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
 * The sender of one page's recording. `config` is the recorder's options; `deps` its
 * browser dependencies (fetch, sendBeacon, compress, now, window, document); `tab` the
 * page's session (openSession); `notify()` reports a possible status change, `fail(error)`
 * a trouble; `takeFullSnapshot()` asks rrweb for a snapshot when recording resumes after
 * a pause that dropped events.
 */
// No asset store (captureAssets: false): no question ever rides on a batch.
const NO_QUESTIONS = { take: () => null, answered: () => {}, asking: () => false };

export function createTransport({
  config,
  deps,
  tab,
  notify,
  fail,
  takeFullSnapshot,
  onKeyRefused = () => {},
  onBlocked = () => {},
  questions = NO_QUESTIONS,
}) {
  const { now, document: doc, window: win } = deps;
  const maxBatchEvents = Math.min(config.maxBatchEvents, LIMITS.events);
  const base = config.ingestUrl.replace(/\/$/, "");
  const keyQuery = `ingestKey=${encodeURIComponent(config.ingestKey)}`;

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
  let closed = false; // stop() resolved: the recording has ended
  let refused = false; // the key was refused, or the page's policy blocks the API: nothing more is sent
  let batchesMade = 0;
  let acknowledged = 0;
  let created = false; // this page's create was acknowledged: later batches go to .../events
  let newIds = 0;
  let retryAt = null;
  let lastError = null;
  let gaveUpError = null;
  let userChanged = false; // identify() changed the user since the last batch was taken
  let cspBlocked = false;
  let cspDirective = "connect-src"; // the directive that blocked the API (the violation says)

  // The flush clock: due flushInterval() after the oldest waiting event arrived. Re-armed
  // when live mode changes, so a watcher does not wait out a 10 s clock already running.
  const flushInterval = () => (live ? Math.min(config.flushIntervalMs, config.liveFlushMs) : config.flushIntervalMs);
  // Until a new recording's first batch is taken: it leaves early (see Sending in recorder.js).
  // So does a continuing page's first batch when it carries a question about the page's
  // assets, which would otherwise have gone at once in a request of its own.
  let announced = tab.continues;
  const early = () => !announced || (batchesMade === 0 && questions.asking());
  const flushDelay = () => (early() ? Math.min(config.firstFlushMs, flushInterval()) : flushInterval());

  function schedule() {
    clearTimeout(flushTimer);
    flushTimer = null;
    // stop() drains what teardown still emits itself.
    if (!buffer.length || stopped) return;
    flushTimer = setTimeout(flush, Math.max(0, bufferSince + flushDelay() - now()));
  }

  // Someone started watching: a full snapshot, then batches marked `live`, which the API
  // sends the watched way (a second's window). The batches before it may still wait in
  // the unwatched consumer's window (docs/architecture.md, "Two consumers"): the snapshot
  // shows the watcher the page as it is now without them. Taken on a timer, like the
  // resume's, since rrweb must not be asked from inside its own emit callback.
  function setLive(value) {
    if (value === live) return;
    live = value;
    schedule();
    if (!live) return;
    setTimeout(() => {
      if (!live || stopped) return;
      try {
        takeFullSnapshot();
      } catch (error) {
        fail(error);
        return;
      }
      flush();
    }, 0);
  }

  function takeBatch() {
    clearTimeout(flushTimer);
    flushTimer = null;
    if (!buffer.length) return;
    announced = true;
    const batch = {
      seq: tab.takeSeq(),
      events: buffer,
      bytes: bufferBytes,
      backlog: bufferBacklog,
      errors: bufferErrors,
      since: bufferSince,
      attempts: 0,
    };
    if (live) batch.live = true;
    if (userChanged && tab.user) batch.user = tab.user;
    userChanged = false;
    // After stop(): the recording's last batches, so the API never shows it live again.
    if (stopped) batch.end = true;
    queue.push(batch);
    batchesMade += 1;
    queuedBytes += bufferBytes;
    queuedBacklog += bufferBacklog;
    buffer = [];
    bufferBytes = 0;
    bufferBacklog = 0;
    bufferErrors = 0;
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
        takeFullSnapshot();
      } catch (error) {
        fail(error);
      }
    }, 0);
  }

  function giveUp(batch, trouble) {
    if (trouble.reason === "key_refused") {
      refuseAll(trouble, onKeyRefused);
      return;
    }
    if (trouble.reason === "blocked") {
      // The page's policy refuses every request to the API alike: nothing more is tried.
      trouble.directive = cspDirective;
      refuseAll(trouble, onBlocked);
      return;
    }
    stats.gaveUp += 1;
    lastError = trouble.info;
    gaveUpError = lastError;
    // The user it carried goes with the next batch instead.
    if (batch.user && !userChanged) userChanged = true;
    returnQuestion(batch);
    dequeue(batch);
    fail(new Error(`gave up on batch ${batch.seq} (${batch.events.length} events): ${trouble.message}`));
  }

  /**
   * The key was refused (401 or 403), or the page's Content-Security-Policy blocks the
   * API: definitive for every batch of this page, so none is sent again. What waits is
   * given up at once, nothing more is taken, and the page hears it once (`then`:
   * onKeyRefused or onBlocked), instead of a refusal and an error per batch forever.
   */
  function refuseAll(trouble, then) {
    const waiting = [...queue];
    for (const batch of waiting) dequeue(batch);
    stats.gaveUp += waiting.length + (buffer.length ? 1 : 0);
    buffer = [];
    bufferBytes = 0;
    bufferBacklog = 0;
    clearTimeout(flushTimer);
    flushTimer = null;
    lastError = trouble.info;
    gaveUpError = lastError;
    // Handed to sendBeacon earlier: not sent again through fetch when the page is shown.
    handedOff.length = 0;
    stopped = true;
    closed = true;
    refused = true;
    notify();
    detachIfDone();
    then(trouble);
  }

  function acknowledge(batch) {
    acknowledged += 1;
    stats.sentEvents += batch.events.length;
    lastError = gaveUpError;
    const index = handedOff.indexOf(batch);
    if (index >= 0) handedOff.splice(index, 1);
    dequeue(batch);
  }

  // A question rides on the batch it was taken for until that batch is answered.
  function returnQuestion(batch) {
    if (!batch.question) return;
    questions.answered(batch.question, null);
    batch.question = null;
  }

  // `carry`: with the batch's question about the page's assets (not on the exit path,
  // whose answer nobody reads).
  function request(batch, { carry = true } = {}) {
    const first = !created;
    const extra = {
      ...(batch.errors ? { errors: batch.errors } : {}),
      ...(batch.end ? { end: true } : {}),
      ...(batch.live && !first ? { live: true } : {}),
      ...(carry && batch.question ? { assets: batch.question.entries } : {}),
    };
    const payload = first
      ? { ...tab.createFields(), ...(batch.user ? { user: batch.user } : {}), seq: batch.seq, events: batch.events, ...extra }
      : { seq: batch.seq, events: batch.events, ...(batch.user ? { user: batch.user } : {}), ...extra };
    const path = first ? "/recordings" : `/recordings/${tab.id}/events`;
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
    if (!batch.question) batch.question = questions.take();
    const { first, json, url } = request(batch);
    const bytes = strToU8(json);
    if (bytes.length > LIMITS.inflatedBytes) {
      throw new Trouble("too_large", `${REASONS.too_large} (${Math.round(bytes.length / 1048576)} MiB of JSON; the API takes 16 MiB)`);
    }
    const body = armour(await deps.compress(bytes));
    if (body.byteLength > LIMITS.wireBytes) {
      throw new Trouble("too_large", `${REASONS.too_large} (${Math.round(body.byteLength / 1048576)} MiB compressed, as base64; the API takes 4 MiB)`);
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
      if (batch.question) {
        // The uploads go on their own: the next batch does not wait for them.
        Promise.resolve(questions.answered(batch.question, (answer && answer.assets) || null)).catch(() => {});
        batch.question = null;
      }
      return "ok";
    }
    const trouble = await refusal(response);
    if (first && response.status === 409 && trouble.reason === "recording_gone" && newIds < MAX_NEW_IDS) {
      // The session's recording was deleted: this page starts a new one.
      newIds += 1;
      tab.renew(now());
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

  // minimumDurationMs: a session younger than it sends nothing; what it recorded waits in
  // memory (within maxPendingBytes) and leaves once the session is old enough. A visit
  // shorter than the minimum is never sent: decided here, it costs nothing.
  const minimum = Math.max(0, Number(config.minimumDurationMs) || 0);
  let holdTimer = null;
  let discarded = false;
  function holding() {
    return minimum > 0 && !created && now() - tab.startedAt < minimum;
  }

  function kick() {
    if (holding()) {
      if (!holdTimer) {
        holdTimer = setTimeout(() => {
          holdTimer = null;
          kick();
        }, Math.max(0, tab.startedAt + minimum - now()));
      }
      return Promise.resolve();
    }
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
  // headers); the API recognises base64 gzip by how it starts. Until a create has been
  // acknowledged, every exit batch goes through the create route, which is idempotent and
  // appends its batch: whichever lands first creates the recording, in any order.
  // A beacon is not an acknowledgement: those batches count as handed off, and are sent
  // again (same seqs) if the page is shown again.
  function flushOnExit() {
    takeBatch();
    tab.persist();
    // Shorter than minimumDurationMs so far: nothing leaves, even now (kept, should the
    // page only be hidden and come back).
    if (holding()) return;
    // A batch on the wire with keepalive keeps its own request; every other one,
    // including one being compressed or one the browser would cancel, goes out now.
    // Each batch goes out on its own: one the browser refuses does not hold back those
    // after it, since the API orders a recording's batches by seq, not by arrival.
    const leaving = queue.filter((batch) => !batch.beaconed && !(batch.onWire && batch.keepalive));
    for (const batch of leaving) {
      if (batch.bytes > BEACON_INPUT_LIMIT) continue;
      returnQuestion(batch);
      const { json, url } = request(batch, { carry: false });
      const body = armour(gzipSync(strToU8(json), { level: 6, mtime: 0 }));
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


  /**
   * Buffers one recorded event (already cleaned: exclusion, console bounds). While the
   * backlog is over maxPendingBytes, incremental events are dropped instead (counted).
   */
  function add(event) {
    // After a refusal nothing is taken, not even the end event a later stop() adds.
    if (refused) return;
    // Full snapshots and their Meta events are what everything after them builds on:
    // always taken, and not counted towards the backlog budget.
    const whole = isWhole(event);
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
    if (blocked && (base.startsWith(blocked) || blocked.startsWith(ingestOrigin))) {
      cspBlocked = true;
      cspDirective = String(event.effectiveDirective || event.violatedDirective || "connect-src").split(" ")[0];
    }
  };
  let attached = false;
  // The exit listeners stay until the queue is empty, so leaving the page mid-drain, or
  // after stop() stopped waiting, still sends it all.
  function detachIfDone() {
    if (!attached || !closed || queue.length || handedOff.length) return;
    attached = false;
    doc.removeEventListener("visibilitychange", onVisibility);
    win.removeEventListener("pagehide", flushOnExit);
    win.removeEventListener("pageshow", confirmHandedOff);
    doc.removeEventListener("securitypolicyviolation", onViolation);
  }

  /** Listens for the page being hidden, left or shown again, and for CSP violations. */
  function listen() {
    attached = true;
    doc.addEventListener("visibilitychange", onVisibility);
    doc.addEventListener("securitypolicyviolation", onViolation);
    win.addEventListener("pagehide", flushOnExit);
    win.addEventListener("pageshow", confirmHandedOff);
  }

  async function settle() {
    if (holding()) {
      // stop() before the session reached minimumDurationMs: it is not kept at all.
      clearTimeout(holdTimer);
      for (const batch of [...queue]) dequeue(batch);
      buffer = [];
      bufferBytes = 0;
      bufferBacklog = 0;
      discarded = true;
      return;
    }
    do {
      await flush();
      while (sending || queue.length) await (sending || kick()).catch(() => {});
    } while (buffer.length);
  }

  return {
    stats,
    add,
    flush,
    listen,
    settle,
    detachIfDone,
    /** The create's answer (null: not created); the screenshot waits for it. */
    createdAnswer,
    /** Whether the last ingest response said someone watches this recording live. */
    get live() {
      return live;
    },
    /** stop() resolved: nothing more is taken. */
    get closed() {
      return closed;
    },
    /** identify() changed the user: the next batch carries it. */
    userChanged() {
      userChanged = true;
    },
    /** Whether anything was recorded: a batch made, or events waiting for one. */
    get recorded() {
      return batchesMade > 0 || buffer.length > 0;
    },
    /** stop() was called: no flush clock any more; stop() drains what is left (settle). */
    stop() {
      stopped = true;
      notify();
      clearTimeout(flushTimer);
    },
    /** stop() is done waiting: the recording has ended, with or without a create. */
    close() {
      closed = true;
      answered(null);
    },
    /** What status() is made of (statusOf). */
    progress() {
      return {
        stopped,
        closed,
        // A visit stopped before minimumDurationMs recorded nothing that is kept.
        batchesMade: discarded ? 0 : batchesMade,
        acknowledged,
        queue,
        handedOff,
        gaveUp: stats.gaveUp,
        dropped: stats.droppedWhileBackedUp,
        paused: backedUp,
        retryAt,
        lastError,
        live,
      };
    },
  };
}
