/**
 * rrweb-s3-storage recorder: records a page with rrweb and ships the events to the API.
 *
 * const recorder = startRecording({
 *   ingestUrl: "https://<api>/api",   // API base URL (required)
 *   ingestKey: "rrk_...",             // write-only ingest key (required)
 *   maskAllInputs: true,              // privacy: input values masked unless the element has data-rr-unmask
 *   flushIntervalMs: 10000,           // no event waits longer than this to be sent, unless watched live
 *   liveFlushMs: 2000,                // ...and no longer than this while someone watches it live
 *   maxBatchEvents: 1000,             // ...or as soon as this many events are waiting
 *   maxBatchBytes: 128 * 1024,        // ...or this many JSON bytes (snapshots and mutations measured)
 *   maxPendingBytes: 8 * 1024 * 1024, // unsent JSON kept while the API is unreachable or refuses for now
 *   stopTimeoutMs: 15000,             // how long stop() waits for what is unsent before it resolves
 *   screenshot: true,                 // upload a viewport thumbnail with html2canvas
 *   recordingId: undefined,           // resume/idempotent id (8-64 of A-Z a-z 0-9 _ -)
 *   onError: (error) => {},           // called for every batch given up, backlog pause, stop with
 *                                     // unsent batches, or screenshot failure
 * });
 * const { drained, pending, pendingEvents } = await recorder.stop(); // flushes, waits, ends
 *
 * (maxAttempts, an option of earlier versions, is accepted and ignored: no transient failure
 * makes the recorder give a batch up any more.)
 *
 * The recorder never blocks the page: rrweb's callback only appends to an array; the
 * batch is serialised, gzip-compressed (CompressionStream) and sent asynchronously, one
 * request at a time. The flush clock starts with the first event that finds the buffer
 * empty and fires flushIntervalMs later, so every event leaves within that bound, an
 * active page sends at most one batch per interval, and an idle page sends nothing and
 * keeps no timer running. The first flush creates the recording and carries the first batch.
 * A failed batch is retried with the same seq (the API stores a seq once). When the page
 * is hidden or left, what is waiting goes out at once through sendBeacon, compressed
 * synchronously (fflate) to fit the browser's 64 KB budget for such requests; a batch
 * too big for that budget is never kept waiting (maxBatchBytes sends it at once).
 *
 * Nothing transient loses data, so a site-wide rate limit or an outage only delays it: a
 * 408, 429 or 5xx answer, or no answer at all, keeps the batch at the head of the queue
 * and retries it after the answer's Retry-After (plus up to a quarter more, so throttled
 * pages do not all return at once), or else after an exponential backoff with jitter,
 * either capped at 30 s. Events recorded meanwhile queue behind it in seq order. Only a
 * definitive refusal (any other 4xx: a revoked key, a batch too large) gives that batch
 * up, loudly (stats.gaveUp, onError). Memory stays bounded: once the unsent events
 * (queued and buffered, measured as for maxBatchBytes) exceed maxPendingBytes, new events
 * are not recorded (stats.droppedWhileBackedUp; one onError per such pause) until the
 * backlog is below half of it, and recording resumes with a full snapshot, so the replay
 * shows the whole page again after the gap. stop() waits for the queue at most
 * stopTimeoutMs and resolves with what is still unsent (drained: false; stats.pending
 * and stats.pendingBytes follow the queue); that keeps being retried while the page stays
 * open, and the exit path still sends it when the page is left.
 *
 * Why 10 s: API Gateway requests are the largest cost line of a recording, and 10 s is 6
 * requests per recorded minute. How fresh an unwatched recording is only matters once
 * someone opens it, and then it is watched: while the last ingest response said
 * `live: true` (the replay page follows the recording), batches leave every liveFlushMs
 * (at most; a shorter flushIntervalMs stays shorter), and a response saying `live: false`
 * switches back.
 */
import { gzipSync, strToU8 } from "fflate";
import { record } from "rrweb";

// Browsers give keepalive fetches and beacons 64 KB in flight in total. Ordinary sends
// use keepalive only up to this size, so a page being left always has most of the
// budget for what the exit path must send.
const KEEPALIVE_LIMIT = 24 * 1024;
// html2canvas paints the thumbnail from a copy of the page in an iframe of its own:
// recorded, it would double the recording and show up in the replay.
const NOT_RECORDED = ".html2canvas-container";
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

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

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_BACKOFF_MS = 30000;
// A server answering Retry-After: 0 again and again must not turn the retry into a busy loop.
const MIN_RETRY_MS = 200;

// 408 and 429 mean "not now", as do the 5xx and no answer at all; any other 4xx is the
// API refusing this request for good, which no retry changes.
const transient = (status) => status === 408 || status === 429 || status >= 500;

function retryAfterMs(value) {
  if (value == null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function backoffMs(attempts, response) {
  const retryAfter = response ? retryAfterMs(response.headers.get("Retry-After")) : null;
  const wait =
    retryAfter === null
      ? 500 * 2 ** (attempts - 1) * (0.5 + Math.random() / 2)
      : Math.max(MIN_RETRY_MS, retryAfter) * (1 + Math.random() / 4);
  return Math.min(MAX_BACKOFF_MS, wait);
}

export function startRecording(options) {
  const config = {
    maskAllInputs: true,
    flushIntervalMs: 10000,
    liveFlushMs: 2000,
    maxBatchEvents: 1000,
    maxBatchBytes: 128 * 1024,
    maxPendingBytes: 8 * 1024 * 1024,
    stopTimeoutMs: 15000,
    screenshot: true,
    onError: () => {},
    ...options,
  };
  if (!config.ingestUrl || !config.ingestKey) throw new Error("rrweb recorder: ingestUrl and ingestKey are required");
  const base = config.ingestUrl.replace(/\/$/, "");
  const recordingId = config.recordingId || newRecordingId();
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
  let bufferSince = 0; // when the oldest waiting event arrived
  let flushTimer = null;
  let live = false; // the last ingest response said someone watches this recording live
  // Seqs start from this page's start time (ms x 1000): a recording resumed on another
  // page (same recordingId) never reuses a seq the API already stored, and events stay
  // ordered across pages.
  let seq = Date.now() * 1000;
  const queue = []; // batches with their seq, oldest first
  let queuedBytes = 0; // the queued batches' events, measured like bufferBytes
  let backedUp = false; // over maxPendingBytes: new events are not taken
  let resuming = false;
  let sending = null;
  let stopped = false;
  let stopping = null;
  let closed = false; // after stop() resolved: the recording has ended

  const fail = (error) => {
    console.error("rrweb recorder:", error);
    try {
      config.onError(error);
    } catch (_) {
      /* a faulty handler must not break recording */
    }
  };

  // Every request is CORS-"simple" (text/plain, key in the query, gzip recognised by
  // the API from its magic bytes): no preflights, so a recorded minute costs at most
  // one request per flush. The recording is created by the first flush, which carries
  // the first batch: a page that never records anything sends nothing.
  const keyQuery = `ingestKey=${encodeURIComponent(config.ingestKey)}`;
  let resolveCreated;
  let rejectCreated;
  const created = new Promise((resolve, reject) => {
    resolveCreated = resolve;
    rejectCreated = reject;
  });
  created.catch(fail);
  let creating = false; // a create has been confirmed: later batches go to .../events

  // The flush clock: due flushInterval() after the oldest waiting event arrived. Re-armed
  // when live mode changes, so a watcher does not wait out a 10 s clock already running.
  const flushInterval = () => (live ? Math.min(config.flushIntervalMs, config.liveFlushMs) : config.flushIntervalMs);

  function schedule() {
    clearTimeout(flushTimer);
    flushTimer = null;
    // stop() drains what teardown still emits itself.
    if (!buffer.length || stopped) return;
    flushTimer = setTimeout(flush, Math.max(0, bufferSince + flushInterval() - Date.now()));
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
    queue.push({ seq: seq++, events: buffer, bytes: bufferBytes, since: bufferSince, attempts: 0 });
    queuedBytes += bufferBytes;
    buffer = [];
    bufferBytes = 0;
    counted();
  }

  function dequeue(batch) {
    const index = queue.indexOf(batch);
    if (index < 0) return;
    queue.splice(index, 1);
    queuedBytes -= batch.bytes;
    counted();
    resumeIfCaughtUp();
  }

  function counted() {
    stats.pending = queue.length;
    stats.pendingBytes = queuedBytes;
  }

  // Resuming takes a full snapshot, which rrweb must not be asked for from inside its own
  // emit callback, hence the timer; events keep being refused until it runs.
  function resumeIfCaughtUp() {
    if (!backedUp || resuming || queuedBytes + bufferBytes > config.maxPendingBytes / 2) return;
    resuming = true;
    setTimeout(() => {
      resuming = false;
      if (queuedBytes + bufferBytes > config.maxPendingBytes / 2) return;
      backedUp = false;
      if (stopped) return;
      try {
        record.takeFullSnapshot();
      } catch (error) {
        fail(error);
      }
    }, 0);
  }

  function giveUp(batch, reason) {
    stats.gaveUp += 1;
    dequeue(batch);
    fail(new Error(`gave up on batch ${batch.seq} (${batch.events.length} events): ${reason}`));
  }

  function request(batch) {
    const first = !creating;
    const payload = first
      ? { id: recordingId, url: location.href, title: document.title, seq: batch.seq, events: batch.events }
      : { seq: batch.seq, events: batch.events };
    const path = first ? "/recordings" : `/recordings/${recordingId}/events`;
    return { first, json: JSON.stringify(payload), url: `${base}${path}?${keyQuery}` };
  }

  function sent(batch, json, body) {
    if (!batch.sentOnce) stats.maxWaitMs = Math.max(stats.maxWaitMs, Date.now() - batch.since);
    batch.sentOnce = true;
    stats.requests += 1;
    stats.bytesSent += body.byteLength;
    stats.jsonBytes += json.length;
  }

  async function sendOne(batch) {
    const { first, json, url } = request(batch);
    const body = await gzip(json);
    // The page was hidden while this batch was being compressed: the exit path sent it.
    if (batch.handedOver) return null;
    batch.onWire = true;
    batch.keepalive = body.byteLength <= KEEPALIVE_LIMIT; // survives the page going away
    const pending = fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body, keepalive: batch.keepalive });
    sent(batch, json, body);
    // No answer (offline, connection reset, the browser's keepalive budget): retried.
    const response = await pending.catch(() => null);
    if (!response) return null;
    if (first && response.ok) {
      creating = true;
      const answer = await response
        .clone()
        .json()
        .catch(() => null);
      // The batch is stored either way; only the screenshot needs the answer.
      if (!answer) rejectCreated(new Error("creating the recording: unreadable answer"));
      else resolveCreated(answer);
      setLive(Boolean(answer && answer.firstBatch && answer.firstBatch.live));
    } else if (response.ok) {
      // The answer says whether someone watches live; an unreadable one changes nothing.
      const answer = await response
        .clone()
        .json()
        .catch(() => null);
      if (answer) setLive(Boolean(answer.live));
    } else if (first && !transient(response.status)) {
      // Refused for good (a revoked key, say): there will be no recording to attach to.
      rejectCreated(new Error(`creating the recording failed: HTTP ${response.status}`));
    }
    return response;
  }

  // Only the head of the queue is ever sent, so the API receives seqs in order, and a
  // batch stays at the head until it is stored, handed to the exit path, or refused for good.
  async function pump() {
    while (queue.length) {
      const batch = queue[0];
      let response = null;
      let broken = null;
      batch.inFlight = true;
      try {
        response = await sendOne(batch);
      } catch (error) {
        broken = error; // not the network (sendOne answers null for that): it cannot be sent
      } finally {
        batch.inFlight = false;
        batch.onWire = false;
      }
      // The exit path sent it meanwhile (while it was being compressed, or while a
      // request the browser would cancel with the page was on the wire).
      if (batch.handedOver) {
        dequeue(batch);
        continue;
      }
      if (broken) {
        giveUp(batch, broken.message);
        continue;
      }
      if (response && response.ok) {
        stats.sentEvents += batch.events.length;
        dequeue(batch);
        continue;
      }
      if (response && !transient(response.status)) {
        giveUp(batch, `HTTP ${response.status}`);
        continue;
      }
      batch.attempts += 1;
      await sleep(backoffMs(batch.attempts, response));
    }
  }

  function kick() {
    if (!sending) {
      sending = pump()
        .catch(fail)
        .finally(() => {
          sending = null;
          if (queue.length) kick();
        });
    }
    return sending;
  }

  function flush() {
    takeBatch();
    return kick();
  }

  // The page is going away: send what waits at once. Compression must be synchronous
  // here (fflate), and everything leaves through sendBeacon, whose requests the browser
  // delivers after the page is gone. The key rides in the query (a beacon cannot set
  // headers); the API recognises gzip by its magic bytes. Until a create has been
  // confirmed, every exit batch goes through the create route, which is idempotent and
  // appends its batch: whichever lands first creates the recording, in any order.
  function flushOnExit() {
    takeBatch();
    // A batch on the wire with keepalive keeps its own request; every other one,
    // including one being compressed or one the browser would cancel, goes out now.
    const pending = queue.filter((batch) => !batch.handedOver && !(batch.onWire && batch.keepalive));
    for (const batch of pending) {
      const { json, url } = request(batch);
      const body = gzipSync(strToU8(json), { level: 6, mtime: 0 });
      const blob = new Blob([body], { type: "text/plain" });
      if (navigator.sendBeacon) {
        // Refused (over the budget): it stays queued, and goes out as usual if the page
        // lives on (only hidden). Later batches wait behind it, keeping the order.
        if (!navigator.sendBeacon(url, blob)) break;
      } else {
        fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body, keepalive: true }).catch(fail);
      }
      batch.handedOver = true;
      sent(batch, json, body);
      stats.sentEvents += batch.events.length;
      // One being compressed or on the wire is dropped by pump when that ends.
      if (!batch.inFlight) dequeue(batch);
    }
  }

  const stopRecording = record({
    emit(event) {
      if (closed) return;
      if (backedUp) {
        stats.droppedWhileBackedUp += 1;
        resumeIfCaughtUp();
        return;
      }
      const wasEmpty = !buffer.length;
      if (wasEmpty) bufferSince = Date.now();
      buffer.push(event);
      if (wasEmpty) schedule();
      stats.emitted += 1;
      // Full snapshots and DOM mutations can be large; measuring them is cheap next to
      // recording them. Everything else is small and estimated.
      const measured = event.type === 2 || (event.type === 3 && event.data.source === 0);
      bufferBytes += measured ? JSON.stringify(event).length : 200;
      // The event that crosses the budget is kept (a page's first snapshot may be that
      // large on its own); the ones after it wait for the backlog to go out.
      if (queuedBytes + bufferBytes > config.maxPendingBytes) {
        backedUp = true;
        fail(
          new Error(
            `${Math.round((queuedBytes + bufferBytes) / 1024)} KB not sent yet: new events are not recorded until the API takes them`,
          ),
        );
      }
      if (buffer.length >= config.maxBatchEvents || bufferBytes >= config.maxBatchBytes) flush();
    },
    maskAllInputs: config.maskAllInputs,
    maskInputFn: (text, element) =>
      config.maskAllInputs && !(element && element.closest && element.closest("[data-rr-unmask]")) ? "*".repeat(text.length) : text,
    blockSelector: NOT_RECORDED,
    recordCanvas: false,
    collectFonts: false,
  });

  const onHide = () => {
    if (document.visibilityState === "hidden") flushOnExit();
  };
  document.addEventListener("visibilitychange", onHide);
  window.addEventListener("pagehide", flushOnExit);

  if (config.screenshot) {
    const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 1500));
    idle(() => uploadScreenshot().catch(fail), { timeout: 4000 });
  }

  async function uploadScreenshot() {
    const { screenshotUpload } = await created;
    const { default: html2canvas } = await import("html2canvas");
    const canvas = await html2canvas(document.body, {
      x: window.scrollX,
      y: window.scrollY,
      width: window.innerWidth,
      height: window.innerHeight,
      scale: Math.min(1, 640 / window.innerWidth),
      logging: false,
      useCORS: true,
      onclone: (clone) => maskFormValues(clone, config.maskAllInputs),
    });
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.7));
    if (!blob || blob.size > screenshotUpload.maxBytes) throw new Error("screenshot too large; skipped");
    const form = new FormData();
    for (const [name, value] of Object.entries(screenshotUpload.fields)) form.append(name, value);
    form.append("file", blob, "screenshot.jpg");
    const response = await fetch(screenshotUpload.url, { method: "POST", body: form });
    if (!response.ok) throw new Error(`screenshot upload failed: HTTP ${response.status}`);
  }

  async function settle() {
    do {
      await flush();
      while (sending || queue.length) await (sending || kick()).catch(() => {});
    } while (buffer.length);
  }

  async function drain() {
    stopped = true;
    if (stopRecording) stopRecording();
    clearTimeout(flushTimer);
    // rrweb may still emit what it had queued while tearing down: let it, then drain
    // until nothing is left. Through an outage that never ends, so stop() stops waiting
    // after stopTimeoutMs; the exit listeners stay until the queue is empty, so leaving
    // the page mid-drain, or after that, still sends it all.
    await sleep(0);
    const settled = settle().then(() => {
      document.removeEventListener("visibilitychange", onHide);
      window.removeEventListener("pagehide", flushOnExit);
      return true;
    });
    let timer;
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, config.stopTimeoutMs, false)));
    const drained = await Promise.race([settled, timedOut]);
    clearTimeout(timer);
    closed = true;
    const pendingEvents = queue.reduce((total, batch) => total + batch.events.length, 0);
    if (!drained) {
      fail(new Error(`${pendingEvents} events not sent yet after ${config.stopTimeoutMs / 1000} s; still retrying while the page is open`));
    }
    return { drained, pending: queue.length, pendingEvents };
  }

  return {
    id: recordingId,
    stats,
    /** Whether the last ingest response said someone watches this recording live. */
    get live() {
      return live;
    },
    flush,
    maskFormValues: (doc) => maskFormValues(doc, config.maskAllInputs),
    /**
     * Flushes, waits until everything is sent (or refused for good) or stopTimeoutMs has
     * passed, and ends the recording; resolves with {drained, pending, pendingEvents}.
     */
    stop() {
      if (!stopping) stopping = drain();
      return stopping;
    },
  };
}
