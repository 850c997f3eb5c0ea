/**
 * Replay page: loads a recording into rrweb-player and, while it is live, follows it.
 *
 * Loading: a compacted recording's events come straight from S3 (presigned byte ranges,
 * each one gzip member of JSON lines), then /events after them for what arrived since.
 * Any other recording, and any failure on the way through the blocks, reads /events
 * from the start: replay never depends on the blocks.
 *
 * Following: a recording that took a batch within the last minute is live. The page then
 * polls /events from the tail every half second with watch=1 (which makes its recorder send
 * every 2 s instead of every 10) and feeds what is new to the player in live mode, under
 * a LIVE badge. It stops when no new event arrived for a minute or the API says the
 * recording is no longer live. A recording that is not live is never polled.
 */
import rrwebPlayer from "rrweb-player";
import "rrweb-player/dist/style.css";
import { Api, escapeHtml, formatDuration, loadConfig } from "./api.js";

const $ = (selector) => document.querySelector(selector);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Half a second: the poll's wait is part of click-to-screen (the recorder's 2 s flush and
// the consumer's poll and window are the rest), and only a watched recording pays it.
const POLL_MS = 500;
// Stop following after this long without a new event (the API's own idea of live is a
// batch within the last 60 s; asked every LIVE_CHECK_MS, it can end following sooner).
const IDLE_MS = 60000;
const LIVE_CHECK_MS = 10000;
// Events arriving within this long of being recorded play at their recorded pace, later
// ones as they arrive: when watching live, latency matters more than smoothness.
const LIVE_DELAY_MS = 1000;
const STOPPED = "the viewer stopped following";

// Appends without spreading: a page can hold more events than a call takes arguments.
function append(target, items) {
  for (const item of items) target.push(item);
}

const parseLines = (text) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

async function blockEvents(block) {
  const response = await fetch(block.url, { headers: { Range: block.range } });
  // Only the requested range is one gzip member; a whole object answered with 200 is not.
  if (response.status !== 206) throw new Error(`block ${block.range}: HTTP ${response.status}`);
  const text = await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).text();
  const events = parseLines(text);
  if (events.length !== block.events) throw new Error(`block ${block.range} holds ${events.length} events, not ${block.events}`);
  return events;
}

/** A compacted recording's events from S3 and the /events cursor of what follows; null if not compacted. */
async function compactedEvents(api, id, onProgress) {
  const listing = await api.blocks(id);
  if (!listing.blocks.length) return null;
  let loaded = 0;
  const parts = await Promise.all(
    listing.blocks.map(async (block) => {
      const events = await blockEvents(block);
      loaded += events.length;
      onProgress(loaded);
      return events;
    }),
  );
  const events = [];
  for (const part of parts) append(events, part);
  return { events, after: listing.after };
}

/**
 * Reads /events from `position` until the API has nothing more now; returns the events
 * and the position after them. A position is the tail cursor the API returns, with no
 * events to skip. Where the API does not expose that header to this origin (a
 * cross-origin API that leaves X-Tail-Cursor out of Access-Control-Expose-Headers), it
 * is the start of the last page and how many of its events were taken already.
 */
async function readOn(api, id, position, { watch, onProgress = () => {} }) {
  const events = [];
  let { after, skip } = position;
  for (;;) {
    const page = await api.eventsPage(id, after, { watch });
    append(events, page.events.slice(skip));
    onProgress(events.length);
    if (page.next) {
      after = page.next;
      skip = 0;
    } else if (page.tail) {
      return { events, position: { after: page.tail, skip: 0 } };
    } else {
      return { events, position: { after, skip: Math.max(skip, page.events.length) } };
    }
  }
}

function createPlayer(events, { live }) {
  const width = Math.min(1024, document.body.clientWidth - 32);
  const player = new rrwebPlayer({
    target: $("#player"),
    // Live, the controller has nothing to offer (rrweb's live state has no pause or seek).
    props: { events, width, height: Math.round(width * 0.6), autoPlay: false, showController: !live, skipInactive: !live, liveMode: live },
  });
  if (live) {
    const replayer = player.getReplayer();
    replayer.pause(replayer.getMetaData().totalTime); // the newest state first
    // Live, rrweb applies an event older than its baseline at once, "synchronously": into
    // its virtual DOM if that is on, which only a seek ever copies to the screen.
    replayer.setConfig({ useVirtualDom: false });
    replayer.startLive(Date.now() - LIVE_DELAY_MS);
  }
  window.__player = player;
  return player;
}

const ago = (ms) => {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds < 60 ? `${seconds} s` : formatDuration(ms);
};

/** The LIVE badge: following, or stopped with why. */
function liveBadge() {
  const box = $("#live");
  box.hidden = false;
  $("#live-stop").hidden = false;
  const detail = (text) => ($("#live-detail").textContent = text);
  return {
    following(lastEventAt) {
      box.classList.remove("ended");
      $("#live-state").textContent = "LIVE";
      detail(lastEventAt ? `last event ${ago(Date.now() - lastEventAt)} ago` : "waiting for the first events");
    },
    trouble(message) {
      detail(`reading new events failed (${message}); retrying`);
    },
    stopped(why, lastEventAt) {
      box.classList.add("ended");
      $("#live-state").textContent = why === STOPPED ? "NOT FOLLOWING" : "ENDED";
      const last = lastEventAt ? `last event at ${new Date(lastEventAt).toLocaleTimeString()}` : "no events";
      detail(why === STOPPED ? last : `${why} · ${last}`);
      $("#live-stop").hidden = true;
      // Reloading checks again: followed if live once more.
      $("#live-again").hidden = false;
    },
  };
}

/**
 * Polls for new events and plays them live, until the recording goes quiet or ends, or
 * the viewer asks to replay it from the start; then the player gets its controls back.
 */
async function follow({ api, id, events, position, showFacts }) {
  const badge = liveBadge();
  let why = null;
  $("#live-stop").addEventListener("click", () => (why = STOPPED), { once: true });
  let player = events.length >= 2 ? createPlayer(events, { live: true }) : null;
  const newest = () => (events.length ? events[events.length - 1].timestamp : null);
  // A recorder whose clock runs ahead of this one stamps events in this clock's future,
  // which the player would hold back by the difference: shift them back by the most seen.
  let ahead = 0;
  const feed = (fresh) => {
    append(events, fresh);
    if (!player) {
      if (events.length >= 2) player = createPlayer(events, { live: true });
    } else {
      for (const event of fresh) {
        ahead = Math.max(ahead, event.timestamp - Date.now());
        player.addEvent(ahead > 0 ? { ...event, timestamp: event.timestamp - ahead } : event);
      }
    }
    window.__replayEvents = events.length;
    showFacts(events);
  };
  window.__replayEvents = events.length;
  badge.following(newest());
  const clock = setInterval(() => badge.following(newest()), 1000);
  let lastNewAt = Date.now();
  let checkedAt = Date.now();
  try {
    while (!why) {
      const started = Date.now();
      try {
        const read = await readOn(api, id, position, { watch: true });
        position = read.position;
        if (read.events.length) {
          lastNewAt = Date.now();
          feed(read.events);
          badge.following(newest());
        }
        if (!why && Date.now() - checkedAt >= LIVE_CHECK_MS) {
          checkedAt = Date.now();
          if (!(await api.recording(id)).live) why = "the recording took no new events for a minute";
        }
      } catch (error) {
        badge.trouble(error.message);
      }
      if (!why && Date.now() - lastNewAt >= IDLE_MS) why = "no new events for a minute";
      if (!why) await sleep(Math.max(0, POLL_MS - (Date.now() - started)));
    }
  } finally {
    clearInterval(clock);
  }
  badge.stopped(why, newest());
  if (!player) {
    $("#player").textContent = "Nothing to replay: the recording never sent its first events.";
    return;
  }
  // rrweb's live state has no way back to playing or seeking: a new player has.
  player.$destroy();
  const replay = createPlayer(events, { live: false });
  window.__replayEvents = events.length;
  // Went quiet: keep showing where it ended. Asked for: from the start.
  if (why !== STOPPED) replay.goto(replay.getMetaData().totalTime);
}

async function main() {
  const api = new Api(await loadConfig());
  if (!api.signedIn) {
    location.href = "index.html";
    return;
  }
  const id = new URLSearchParams(location.search).get("id");
  const recording = await api.recording(id);
  $("#title").textContent = recording.title || recording.url || recording.id;
  const showFacts = (events) => {
    const duration = events.length ? events[events.length - 1].timestamp - events[0].timestamp : recording.durationMs;
    const count = Math.max(events.length, recording.eventCount);
    $("#facts").innerHTML = `${escapeHtml(recording.url || "")} · ${formatDuration(duration)} · ${count} events`;
  };
  showFacts([]);
  $("#live-again").addEventListener("click", () => location.reload());
  const progress = $("#progress");
  progress.max = Math.max(1, recording.eventCount);
  const showProgress = (loaded) => {
    progress.value = loaded;
    $("#progress-label").textContent = `Loaded ${loaded} of ${recording.eventCount} events`;
  };
  const events = [];
  let position = { after: null, skip: 0 };
  if (recording.compacted) {
    try {
      const compacted = await compactedEvents(api, id, showProgress);
      if (compacted) {
        append(events, compacted.events);
        position = { after: compacted.after, skip: 0 };
      }
    } catch (error) {
      console.warn("replay: the compacted blocks failed, reading all events through the API instead:", error);
    }
  }
  // Reading a live recording already counts as watching it: its recorder speeds up now.
  const rest = await readOn(api, id, position, {
    watch: recording.live,
    onProgress: (loaded) => showProgress(events.length + loaded),
  });
  append(events, rest.events);
  $("#loading").hidden = true;
  if (recording.live) {
    showFacts(events);
    await follow({ api, id, events, position: rest.position, showFacts });
    return;
  }
  if (events.length < 2) {
    $("#player").textContent = "Nothing to replay yet: events arrive within seconds of being recorded.";
    return;
  }
  createPlayer(events, { live: false });
  window.__replayEvents = events.length;
}

main().catch((error) => {
  $("#progress-label").textContent = error.message;
  $("#loading").hidden = false;
});
