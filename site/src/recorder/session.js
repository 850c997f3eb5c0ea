/**
 * Session: which recording this page joins, and what the tab keeps of it. By default the
 * recorder keeps {id, startedAt, lastActivity, lastView, nextSeq, user} in the page
 * origin's sessionStorage (one per tab and origin): a new page continues the recording
 * when the visitor was active within sessionIdleMs and the session is younger than
 * sessionMaxMs, otherwise it starts a new one (the identified user is kept). The session
 * also hands out the page's seqs and words its create (createFields).
 */
import { clip } from "./events.js";
import { validateUser } from "./identify.js";
import { LIMITS } from "./limits.js";
import { maskText } from "./mask.js";

export const SESSION_KEY = "rrweb-s3.session";
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
export const ID_PATTERN = new RegExp(LIMITS.recordingIdPattern);

export function newRecordingId() {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  return Array.from(bytes, (b) => ID_ALPHABET[b & 63]).join("");
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

/** The sampleRate option as a share from 0 to 1 (a bad value records everything, loudly elsewhere). */
function sampleRateOf(config) {
  const rate = Number(config.sampleRate ?? 1);
  return Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 1;
}

const clampInt = (value) => Math.max(0, Math.min(LIMITS.viewportPixels, Math.round(Number(value) || 0)));

/**
 * This page's session: continues the tab's recording if the visitor was active recently
 * enough, else starts one. Without sessionStorage (`storage` null), with `session: false`,
 * an explicit recordingId, or in a frame, every page is its own and nothing is kept.
 * `now` is the clock; `win`, `doc` and `location` the page, for the create's fields.
 */
export function openSession({ config, storage, now, win, doc, location, random = Math.random }) {
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
    // On-error mode: a page of this session logged an error, so its pages record from the start.
    triggered: Boolean(continues && stored.triggered),
    // Whether this session is recorded (sampleRate): drawn when it starts, kept with it.
    sampled: continues ? stored.sampled !== false : random() < sampleRateOf(config),
  };
  const view = Math.max(started, session.lastView + 1);
  session.lastView = view;
  // Seqs start from this page view's start (ms x 1000), and never below where the
  // session's previous page stopped: a recording continued on another page never
  // reuses a seq the API already stored, and events stay ordered across pages.
  session.nextSeq = Math.max(view * 1000, session.nextSeq);
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

  return {
    /** The recording this page records into. */
    get id() {
      return session.id;
    },
    /** When the session began (its first page's start), ms since epoch. */
    get startedAt() {
      return session.startedAt;
    },
    /** The identified visitor, or null. */
    get user() {
      return session.user;
    },
    /** Whether on-error mode was triggered in this session (its later pages record from their start). */
    get triggered() {
      return session.triggered;
    },
    /** On-error mode was triggered: kept for the session's later pages. */
    trigger() {
      session.triggered = true;
      persist();
    },
    /** Whether the session is recorded at all (sampleRate). */
    sampled: session.sampled,
    /** Whether this page continues a recording the tab already started (it is listed already). */
    continues: Boolean(continues),
    persist,
    /** The visitor was active at `at`: kept, and written once the stored time is a second stale. */
    touch(at) {
      session.lastActivity = at;
      if (at - persistedActivity > 1000) persist();
    },
    /** The next batch's seq; the session remembers where the next page continues. */
    takeSeq() {
      const seq = session.nextSeq;
      session.nextSeq = seq + 1;
      persist();
      return seq;
    },
    /** Keeps an identified user; returns whether it differs from the one kept before. */
    setUser(user) {
      const changed = JSON.stringify(user) !== JSON.stringify(session.user);
      session.user = user;
      persist();
      return changed;
    },
    /** The session's recording was deleted: a new id, starting at `at`. */
    renew(at) {
      session.id = newRecordingId();
      session.startedAt = at;
      persist();
    },
    /**
     * stop(): the next page starts a recording of its own; views, seqs and the user stay.
     * A session another page of the tab started since is not this one's to end.
     */
    end() {
      if (!kept) return;
      const current = readSession(kept);
      if (current && current.id !== session.id) return;
      ended = true;
      persist();
    },
    /**
     * Each page's create: the recording's fields and this page view's. The create route is
     * idempotent by id, so the first batch (or any exit batch before the create was
     * acknowledged) may carry it any number of times.
     */
    createFields() {
      const viewport = win ? { width: clampInt(win.innerWidth), height: clampInt(win.innerHeight) } : undefined;
      return {
        id: session.id,
        url: clip(location ? location.href : undefined, LIMITS.urlLength),
        // The page's title is page text: with maskAllText it is masked as the page is.
        title: clip(doc ? (config.maskAllText ? maskText(doc.title) : doc.title) : undefined, LIMITS.titleLength),
        referrer: (doc && clip(doc.referrer, LIMITS.urlLength)) || null,
        viewport,
        view,
        ...(session.user ? { user: session.user } : {}),
      };
    },
  };
}
