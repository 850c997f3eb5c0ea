/**
 * Status: what the recorder reports of itself. status() is built here from the sender's
 * progress (statusOf), onStatus hears each change once and onError each trouble (reporter),
 * Trouble names why a batch was not stored (lastError's reasons), and describeStatus words
 * a status for people ("Not saved: the ingest key was refused").
 */

export const REASONS = {
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

/** Why a batch was not stored, for status.lastError and onError. */
export class Trouble extends Error {
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

/**
 * The recorder's phase from the sender's `progress`: a batch given up fails the recording
 * in any phase; otherwise recording, sending (stop() waits), then saved, unsaved or stopped.
 */
function stateOf(progress, waiting) {
  if (progress.gaveUp) return "failed";
  if (!progress.stopped) return "recording";
  if (!progress.closed) return "sending";
  if (!progress.batchesMade) return "stopped";
  return waiting.length ? "unsaved" : "saved";
}

/**
 * status() of the recording `id` from the sender's `progress` ({stopped, closed,
 * batchesMade, acknowledged, queue, handedOff, gaveUp, dropped, paused, retryAt,
 * lastError, live}; queue and handedOff are the batches themselves).
 */
export function statusOf(progress, id) {
  const waiting = [...progress.queue, ...progress.handedOff];
  return {
    state: stateOf(progress, waiting),
    id,
    acknowledged: progress.acknowledged,
    pending: waiting.length,
    pendingEvents: waiting.reduce((total, batch) => total + batch.events.length, 0),
    handedOff: progress.handedOff.length,
    gaveUp: progress.gaveUp,
    dropped: progress.dropped,
    paused: progress.paused,
    retryAt: progress.retryAt,
    lastError: progress.lastError,
    live: progress.live,
  };
}

/**
 * The page's handlers: notify(status) calls onStatus when the status differs from the
 * last one it was called with; fail(error) logs and calls onError. A faulty handler must
 * not break recording, so what they throw is swallowed.
 */
export function reporter({ onStatus, onError, log }) {
  let lastStatus = "";
  return {
    notify(current) {
      const text = JSON.stringify(current);
      if (text === lastStatus) return;
      lastStatus = text;
      try {
        onStatus(current);
      } catch (_) {
        /* a faulty handler must not break recording */
      }
    },
    fail(error) {
      log("rrweb recorder:", error);
      try {
        onError(error);
      } catch (_) {
        /* a faulty handler must not break recording */
      }
    },
  };
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
