/**
 * Replay page: plays a recording in rrweb-player as it loads and, while it is live, follows it.
 *
 * Loading (replay-load.js) hands over the events a part at a time, in order: a compacted
 * recording's blocks straight from S3, then /events. The player starts on the first part
 * that holds a full snapshot, so the first frame does not wait for a long recording's
 * every event; later parts join the player as they arrive (its timeline grows), under a
 * "Loading x%" that never blocks playing.
 *
 * Around the player: it fills the window at the recording's aspect ratio; marks on its
 * progress bar and a list beside it lead to page views, clicks and console errors
 * (replay-timeline.js); Space, Left and Right control it (replay-controls.js); `?t=`
 * opens it at a moment, and "Copy link to this moment" makes such a link. Masked form
 * fields replay as masked, never as invalid (replay-masked.js).
 *
 * Following: a recording that took a batch within the last minute is live. The page then
 * polls /events from the tail every half second with watch=1 (which makes its recorder send
 * every second instead of every 10) and feeds what is new to the player in live mode, under
 * a LIVE badge. It stops when no new event arrived for a minute or the API says the
 * recording is no longer live. A recording that is not live is never polled.
 */
import { EventType } from "@rrweb/types";
import rrwebPlayer from "rrweb-player";
import "rrweb-player/dist/style.css";
import { Api, formatDuration, loadConfig } from "./api.js";
import { CONTROLLER_PX, bindKeys, fitSize, momentUrl, parseMoment } from "./replay-controls.js";
import { END_TAG } from "./end-tag.js";
import { SharedApi } from "./shared-api.js";
import { mountWorkspaceSwitcher } from "./workspace.js";
import { AssetResolver } from "./replay-assets.js";
import { Loading, readOn } from "./replay-load.js";
import { maskedFieldsPlugin } from "./replay-masked.js";
import { ConsolePanel } from "./replay-console.js";
import { NetworkPanel } from "./replay-network.js";
import { liveDurationMs } from "./replay-time.js";
import { Timeline, formatMoment } from "./replay-timeline.js";

const $ = (selector) => document.querySelector(selector);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

// Half a second: the poll's wait is part of click-to-screen (the recorder's 1 s flush and
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
// Events given to a playing player per turn of the event loop: each is cheap to add, but
// a long recording's hundred thousand at once would freeze the page for a moment.
const SLICE = 5000;
const { FullSnapshot: FULL_SNAPSHOT, Meta: META, Custom: CUSTOM } = EventType;
// A recording its recorder ended within this long is read on until its end event is here
// (an API without settlesAt; one with it says how long).
const END_WAIT_MS = 15000;
// rrweb's Replayer lays out its first snapshot on a timer of 1 ms after it is made.
const START_SETTLE_MS = 20;
const END_POLL_MS = 1000;
const ended = (events) => events.some((event) => event.type === CUSTOM && event.data && event.data.tag === END_TAG);

// Appends without spreading: a page can hold more events than a call takes arguments.
function append(target, items) {
  for (const item of items) target.push(item);
}

/** Says why there is nothing to replay, with a way on; hides what would have shown the replay. */
function explain(text, { link, action } = {}) {
  const box = $("#message");
  box.replaceChildren(text);
  if (link) box.append(" ", Object.assign(document.createElement("a"), { href: link.href, textContent: link.text }), ".");
  if (action) {
    const button = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: action.text });
    button.addEventListener("click", action.run);
    box.append(" ", button);
  }
  box.hidden = false;
  $("#loading").hidden = true;
}

const RECORDINGS = { href: "index.html", text: "your recordings" };

// A request that got no answer: the API client says so (code "unreachable"); the browser's
// own fetch, which each browser words differently, rejects with a TypeError.
const unreachable = (error) =>
  error.code === "unreachable" || (error instanceof TypeError && /fetch|network|load failed/i.test(error.message));
// The API client is already taking the browser to sign in again.
const leaving = (error) => error.code === "session_expired";

/** The one player on the page at a time, sized to the window. */
const stage = {
  player: null,
  live: false,
  // The team workspace the recording is in (null: the personal one), for moment links.
  workspace: null,
  // Members' comments on the recording, and the timeline their marks go on.
  comments: [],
  timeline: null,
  // The console panel of the current player.
  console: null,
  network: null,
  recorded: { width: 0, height: 0 },

  fit() {
    if (!this.player) return;
    const box = $("#stage");
    const aside = $("#moments");
    const styles = getComputedStyle(box);
    const row = styles.flexDirection === "row";
    const beside = aside.hidden || !row ? 0 : aside.offsetWidth + (parseFloat(styles.columnGap) || 0);
    const controller = this.live ? 0 : CONTROLLER_PX;
    const size = fitSize({ stage: box, recorded: this.recorded, controller, besideWidth: beside });
    this.player.$set(size);
    // Before the recording's first Meta event the frame has no size to scale from.
    if (this.player.getReplayer().iframe.offsetWidth) this.player.triggerResize();
    // The list's size never follows its rows (replay-page.css): as tall as the player beside it.
    aside.style.height = row ? `${size.height + controller}px` : "";
  },
};

function createPlayer(events, { live }) {
  const meta = events.find((event) => event.type === META);
  if (meta) stage.recorded = { width: meta.data.width, height: meta.data.height };
  const player = new rrwebPlayer({
    target: $("#player"),
    props: {
      events,
      // Any size: fitted to the window just below, when the page around it is laid out.
      width: 640,
      height: 400,
      maxScale: 0, // no cap: a recording smaller than the window fills it too
      autoPlay: false,
      // Live, the controller has nothing to offer (rrweb's live state has no pause or seek).
      showController: !live,
      skipInactive: !live,
      liveMode: live,
      plugins: [maskedFieldsPlugin()],
      // The pointer's trail redraws every point it holds once per point, on a timer each:
      // after any slow frame (a part of the recording arriving, say) so many points fall
      // due at once that the page spends itself on the trail and never catches up.
      mouseTail: false,
    },
  });
  stage.player = player;
  stage.live = live;
  // Each page view's Meta event carries that page's viewport.
  player.getReplayer().on("resize", (size) => {
    stage.recorded = size;
    stage.fit();
  });
  stage.fit();
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

/** The moments beside a player that can seek, and the link to the moment shown. */
function momentsFor(player, recording) {
  const timeline = new Timeline({
    list: $("#moment-list"),
    summary: $("#moment-summary"),
    expectedMs: recording.durationMs,
    onSeek: (ms) => player.goto(ms),
  });
  $("#moment-list").replaceChildren();
  $("#moments").hidden = false;
  $("#copy-moment").hidden = false;
  stage.fit(); // the list takes room beside the player
  timeline.attach($("#player"));
  const total = () => timeline.setTotal(player.getMetaData().totalTime);
  total();
  for (const comment of stage.comments) timeline.addComment(comment);
  stage.timeline = timeline;
  const panel = new ConsolePanel({
    list: $("#console-list"),
    count: $("#console-count"),
    filters: $("#console-filters"),
    search: $("#console-search"),
    empty: $("#console-empty"),
    onSeek: (ms) => player.goto(ms),
  });
  // The console follows the playback: the moment shown, as the player reports it.
  const network = new NetworkPanel({
    list: $("#network-list"),
    count: $("#network-count"),
    filters: $("#network-filters"),
    search: $("#network-search"),
    empty: $("#network-empty"),
    onSeek: (ms) => player.goto(ms),
  });
  player.addEventListener("ui-update-current-time", ({ payload }) => {
    panel.follow(payload);
    network.follow(payload);
  });
  stage.console = panel;
  stage.network = network;
  return {
    add(events) {
      timeline.add(events);
      panel.add(events);
      network.add(events);
      total();
    },
  };
}

/** The panel's two tabs: the moments (and comments), and the console. */
function bindTabs() {
  const tabs = [
    ["#tab-moments", "#moments-view"],
    ["#tab-console", "#console-view"],
    ["#tab-network", "#network-view"],
  ];
  for (const [tab] of tabs) {
    $(tab).addEventListener("click", () => {
      for (const [other, view] of tabs) {
        $(other).setAttribute("aria-selected", String(other === tab));
        $(view).hidden = other !== tab;
      }
      const shown = { "#tab-console": stage.console, "#tab-network": stage.network }[tab];
      if (shown && shown.current) shown.current.scrollIntoView({ block: "nearest" });
    });
  }
}

/** Comments: the list (each seeks to its moment), marks on the bar, and one more at the moment shown. */
function bindComments(api, recording) {
  $("#comments").hidden = false;
  const list = $("#comment-list");
  const render = () => {
    list.replaceChildren(
      ...stage.comments.map((comment) => {
        const item = document.createElement("li");
        const button = Object.assign(document.createElement("button"), { type: "button", className: "comment" });
        const time = Object.assign(document.createElement("time"), { textContent: formatMoment(comment.at) });
        const text = Object.assign(document.createElement("span"), { textContent: comment.text });
        button.title = `${comment.authorEmail || "A member"} at ${formatMoment(comment.at)}: ${comment.text}`;
        button.append(time, text);
        button.addEventListener("click", () => stage.player && stage.player.goto(comment.at + 1));
        item.append(button);
        return item;
      }),
    );
  };
  api
    .comments(recording.id)
    .then((comments) => {
      stage.comments = comments;
      render();
      for (const comment of comments) stage.timeline?.addComment(comment);
    })
    .catch(() => {});
  $("#comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const at = stage.player && !stage.live ? Math.max(0, Math.floor(stage.player.getReplayer().getCurrentTime())) : 0;
    try {
      const added = await api.addComment(recording.id, at, $("#comment-text").value);
      stage.comments = [...stage.comments, added].sort((a, b) => a.at - b.at || a.createdAt - b.createdAt);
      stage.timeline?.addComment(added);
      $("#comment-text").value = "";
      render();
    } catch (error) {
      explain(`The comment was not saved: ${error.message}`);
    }
  });
}

/** The share panel: a new read-only link (at this moment, if paused in it), and the links that exist. */
function bindShare(api, recording) {
  const button = $("#share");
  const list = $("#share-links");
  button.hidden = false;
  const render = async () => {
    const links = await api.shares(recording.id);
    list.replaceChildren(
      ...links.map((link) => {
        const item = document.createElement("li");
        item.textContent = `Link until ${new Date(link.expiresAt).toLocaleDateString()}${link.at != null ? ` at ${formatMoment(link.at)}` : ""} `;
        const revoke = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: "Revoke" });
        revoke.addEventListener("click", async () => {
          await api.revokeShare(recording.id, link.id);
          item.remove();
        });
        item.append(revoke);
        return item;
      }),
    );
    list.hidden = !links.length;
  };
  button.addEventListener("click", async () => {
    // Where the player stands (before it started, the replayer says a negative time: the start).
    const now = stage.player && !stage.live ? Math.floor(stage.player.getReplayer().getCurrentTime()) : 0;
    const at = now > 0 ? now : null;
    try {
      const link = await api.share(recording.id, at);
      const field = $("#share-link");
      field.value = new URL(`replay.html?share=${encodeURIComponent(link.token)}`, location.href).href;
      field.hidden = false;
      field.select();
      await render();
    } catch (error) {
      explain(`The link could not be made: ${error.message}`);
    }
  });
  render().catch(() => {});
}

function bindCopyMoment() {
  const button = $("#copy-moment");
  const label = button.textContent;
  button.addEventListener("click", async () => {
    if (!stage.player || stage.live) return;
    const url = momentUrl(stage.player.getReplayer().getCurrentTime(), location.href, stage.workspace);
    const field = $("#moment-link");
    try {
      await navigator.clipboard.writeText(url);
      field.hidden = true;
      button.textContent = "Link copied";
      setTimeout(() => (button.textContent = label), 2000);
    } catch {
      // No clipboard here (permission refused, say): the link, selected, to copy by hand.
      field.value = url;
      field.hidden = false;
      field.select();
    }
  });
}

function loadingIndicator(expected) {
  const progress = $("#progress");
  progress.max = 100;
  return {
    show(loaded) {
      const percent = Math.min(100, Math.floor((loaded * 100) / Math.max(1, expected, loaded)));
      progress.value = percent;
      $("#progress-label").textContent = `Loading ${percent}%`;
      $("#loading").title = `${loaded} of ${Math.max(expected, loaded)} events loaded`;
    },
    failed(message) {
      $("#progress-label").textContent = `Loading stopped: ${message}`;
    },
    arriving(until) {
      // Why it waits: an ended recording nobody watched settles a window after its end.
      const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      $("#progress-label").textContent =
        `The last events are still arriving (within ${seconds} s): recordings nobody watches are stored in batches`;
    },
    done() {
      $("#loading").hidden = true;
    },
  };
}

/** Gives a player more events, a slice per turn of the event loop, its controller's length too. */
async function feed(player, events) {
  const replayer = player.getReplayer();
  for (let from = 0; from < events.length; from += SLICE) {
    const to = Math.min(events.length, from + SLICE);
    for (let i = from; i < to - 1; i += 1) replayer.addEvent(events[i]);
    player.addEvent(events[to - 1]);
    await nextTurn();
  }
}

/**
 * Loads a recording that is not live and plays it from its first part on. `moment` (ms
 * from the start, or null) is where it opens, once loaded that far.
 */
async function replay({ api, recording, moment, showFacts }) {
  const loading = new Loading(api, recording, { watch: false });
  const indicator = loadingIndicator(recording.eventCount);
  indicator.show(0);
  const first = [];
  let hasSnapshot = false;
  let player = null;
  let moments = null;
  let loaded = 0;
  const span = { from: null, to: null };
  let opening = moment;
  let complete = false;
  let seenEnd = false;
  // Playback that reached the end of what had loaded so far, and where.
  let caughtUp = null;
  const open = (done, fresh = false) => {
    const total = player.getMetaData().totalTime;
    if (opening !== null && (done || total >= opening)) {
      const at = Math.min(opening, total);
      opening = null;
      // A player made in this same turn still has rrweb's own start queued (a timer that
      // lays out the first snapshot at the first page's size): seeking before it runs
      // would have that size win over the window the visitor had at the moment.
      if (fresh) setTimeout(() => player.goto(at, false), START_SETTLE_MS);
      else player.goto(at, false);
    }
  };
  const assets = new AssetResolver(api);
  // One part of the recording as read: counted as stored (Asset events included); the
  // player gets it resolved, once there is a snapshot to start from.
  const take = async (raw) => {
    let created = false;
    loaded += raw.length;
    const part = await assets.resolve(raw);
    indicator.show(loaded);
    if (!part.length) return;
    seenEnd = seenEnd || ended(part);
    if (span.from === null) span.from = part[0].timestamp;
    span.to = part[part.length - 1].timestamp;
    if (player) {
      await feed(player, part);
      moments.add(part);
      if (caughtUp !== null) {
        player.goto(caughtUp, true);
        caughtUp = null;
      }
    } else {
      append(first, part);
      hasSnapshot = hasSnapshot || part.some((event) => event.type === FULL_SNAPSHOT);
      if (hasSnapshot && first.length >= 2) {
        player = createPlayer(first, { live: false });
        created = true;
        moments = momentsFor(player, recording);
        moments.add(first);
        first.length = 0;
        // rrweb says "finish" when playing reaches the last event, and also after a seek
        // there: only the first, while more is loading, is a wait for the rest.
        let state = null;
        let wasPlaying = false;
        player.addEventListener("state-change", ({ player: now }) => {
          if (!now) return;
          wasPlaying = state === "playing";
          state = now.value;
        });
        player.addEventListener("finish", () => {
          if (!complete && wasPlaying) caughtUp = player.getMetaData().totalTime;
        });
      }
    }
    indicator.show(loaded);
    if (player) open(false, created);
  };
  try {
    for await (const raw of loading.parts()) await take(raw);
    // Just ended by its recorder (stop()): its last batches may still be on their way to
    // storage, for up to the unwatched consumer's window (90 s on prod) when nobody
    // watched. The last holds the end event: read on until it is here, or the API's
    // settlesAt has passed.
    const settles = recording.settlesAt ?? (recording.endedAt ? recording.endedAt + END_WAIT_MS : 0);
    while (!seenEnd && Date.now() < settles) {
      indicator.arriving(settles);
      await new Promise((resolve) => setTimeout(resolve, END_POLL_MS));
      const read = await readOn(api, recording.id, loading.position, { watch: false });
      loading.position = read.position;
      await take(read.events);
    }
  } catch (error) {
    if (!player || leaving(error)) throw error;
    // What loaded still plays.
    indicator.failed(unreachable(error) ? "the API is unreachable" : error.message);
    console.error("replay: loading stopped:", error);
    return;
  } finally {
    complete = true;
  }
  indicator.done();
  showFacts({ count: loaded, durationMs: span.to - span.from, notKept: assets.notKept });
  if (!player) {
    explain("Nothing to replay yet: events arrive within seconds of being recorded.");
    return;
  }
  open(true);
  window.__replayEvents = loaded;
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
    stopped(why, lastEventAt, settlesAt = null) {
      box.classList.add("ended");
      $("#live-state").textContent = why === STOPPED ? "NOT FOLLOWING" : "ENDED";
      const last = lastEventAt ? `last event at ${new Date(lastEventAt).toLocaleTimeString()}` : "no events";
      // What was recorded before anyone watched is stored within the unwatched window,
      // after the point this page followed from: a reload then plays all of it.
      const whole = settlesAt
        ? ` · all of it, from before you watched too, is stored by ${new Date(settlesAt).toLocaleTimeString()}: check again then`
        : "";
      detail(why === STOPPED ? last : `${why} · ${last}${whole}`);
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
async function follow({ api, recording, events, position, showFacts, assets, stored }) {
  const badge = liveBadge();
  let why = null;
  let settlesAt = null; // the API's, once it says the recorder stopped the recording
  $("#live-stop").addEventListener("click", () => (why = STOPPED), { once: true });
  let player = events.length >= 2 ? createPlayer(events, { live: true }) : null;
  const newest = () => (events.length ? events[events.length - 1].timestamp : null);
  // `stored` counts the recording's events as stored (Asset events included, which the
  // player never gets): what the page reports, as the API counts them.
  const facts = () => showFacts({ count: stored, durationMs: liveDurationMs(recording, events) });
  // A recorder whose clock runs ahead of this one stamps events in this clock's future,
  // which the player would hold back by the difference: shift them back by the most seen.
  let ahead = 0;
  const take = (fresh) => {
    append(events, fresh);
    if (!player) {
      if (events.length >= 2) player = createPlayer(events, { live: true });
    } else {
      for (const event of fresh) {
        ahead = Math.max(ahead, event.timestamp - Date.now());
        player.addEvent(ahead > 0 ? { ...event, timestamp: event.timestamp - ahead } : event);
      }
    }
    window.__replayEvents = stored;
    facts();
  };
  window.__replayEvents = stored;
  facts();
  badge.following(newest());
  const clock = setInterval(() => badge.following(newest()), 1000);
  let lastNewAt = Date.now();
  let checkedAt = Date.now();
  try {
    while (!why) {
      const started = Date.now();
      try {
        const read = await readOn(api, recording.id, position, { watch: true });
        position = read.position;
        stored += read.events.length;
        const fresh = await assets.resolve(read.events);
        if (fresh.length) {
          lastNewAt = Date.now();
          take(fresh);
          badge.following(newest());
        }
        if (!why && Date.now() - checkedAt >= LIVE_CHECK_MS) {
          checkedAt = Date.now();
          const now = await api.recording(recording.id);
          if (!now.live) {
            why = now.endedAt ? "the recorder stopped it" : "the recording took no new events for a minute";
            settlesAt = now.settlesAt || null;
          }
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
  badge.stopped(why, newest(), settlesAt);
  if (!player) {
    explain("Nothing to replay: the recording never sent its first events.");
    return;
  }
  // rrweb's live state has no way back to playing or seeking: a new player has.
  player.$destroy();
  const replayer = createPlayer(events, { live: false });
  momentsFor(replayer, recording).add(events);
  window.__replayEvents = stored;
  // Went quiet: keep showing where it ended. Asked for: from the start.
  if (why !== STOPPED) replayer.goto(replayer.getMetaData().totalTime);
}

async function main() {
  const query = new URLSearchParams(location.search);
  const id = query.get("id");
  // A share link: this recording's replay alone, without an account (shared-api.js).
  const shared = query.get("share");
  const config = await loadConfig();
  const api = shared ? new SharedApi(config, shared) : new Api(config);
  if (shared) document.body.classList.add("shared");
  else {
    if (!id) {
      explain("No recording selected: pick one from ", { link: RECORDINGS });
      return;
    }
    stage.workspace = api.workspace;
    if (!api.signedIn) {
      location.href = `index.html?next=${encodeURIComponent(location.pathname + location.search)}`;
      return;
    }
    // The header's switcher, as on every page; switching goes to that workspace's list.
    mountWorkspaceSwitcher(api, undefined, () => location.assign(RECORDINGS.href)).catch(() => {});
  }
  let recording;
  try {
    recording = await api.recording(id);
  } catch (error) {
    if (leaving(error)) return;
    if (shared && error.status === 404) {
      explain("This link does not open anything: it may have expired or been revoked.");
    } else if (error.status === 404 || error.status === 400) {
      explain("No such recording (it may have been deleted): pick one from ", { link: RECORDINGS });
    } else if (unreachable(error)) {
      explain(`The API (${api.base}) is unreachable: check the connection, then`, {
        action: { text: "try again", run: () => location.reload() },
      });
    } else {
      explain(`The recording could not be loaded: ${error.message}`);
    }
    return;
  }
  const title = recording.title || recording.url || recording.id;
  $("#title").textContent = title;
  $("#title").title = title;
  document.title = `${title} · Replay · rrweb-s3-storage`;
  const showFacts = ({ count, durationMs, notKept = 0 }) => {
    const facts = [recording.url || "", formatDuration(durationMs), `${Math.max(count, recording.eventCount)} events`];
    // The recorder could not keep these (cross-origin without CORS, too large): the
    // replay loads them from the site, which may have changed since.
    if (notKept) facts.push(`${notKept} page asset${notKept === 1 ? "" : "s"} not kept`);
    $("#facts").textContent = facts.filter(Boolean).join(" · ");
    $("#facts").title = $("#facts").textContent;
  };
  showFacts({ count: 0, durationMs: recording.durationMs });
  $("#live-again").addEventListener("click", () => location.reload());
  let resizing = false;
  addEventListener("resize", () => {
    if (resizing) return;
    resizing = true;
    requestAnimationFrame(() => {
      resizing = false;
      stage.fit();
    });
  });
  bindKeys(() => (stage.player && !stage.live ? stage.player : null));
  bindTabs();
  if (!shared) {
    bindCopyMoment();
    bindShare(api, recording);
    bindComments(api, recording);
  }
  const moment = parseMoment(query.get("t")) ?? (shared && api.at != null ? api.at : null);
  if (!recording.live) {
    await replay({ api, recording, moment, showFacts });
    return;
  }
  // Reading a live recording already counts as watching it: its recorder speeds up now.
  const indicator = loadingIndicator(recording.eventCount);
  const loading = new Loading(api, recording, { watch: true });
  const events = [];
  const assets = new AssetResolver(api);
  let stored = 0;
  for await (const part of loading.parts()) {
    stored += part.length;
    append(events, await assets.resolve(part));
    indicator.show(stored);
  }
  indicator.done();
  await follow({ api, recording, events, position: loading.position, showFacts, assets, stored });
}

main().catch((error) => {
  if (leaving(error)) return;
  console.error("replay:", error);
  explain(unreachable(error) ? "The API is unreachable: check the connection, then reload." : `Replay failed: ${error.message}`);
});
