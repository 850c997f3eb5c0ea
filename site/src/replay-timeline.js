/**
 * The moments of a recording worth jumping to: page views (rrweb Meta events after the
 * first), clicks, console errors (the console plugin's error-level records) and custom
 * events (identify, say). Each is a mark on the player's progress bar and a row in the
 * list beside it; either seeks there. Inactive stretches (no input for 10 s, which the
 * player skips) are shaded on the bar. Events are added in order as they load, so the
 * bar and the list grow with the recording.
 */
import { EventType, IncrementalSource, MouseInteractions, NodeType } from "@rrweb/types";
import { END_TAG, SNAPSHOT_TAG } from "./end-tag.js";
import { formatMoment } from "./replay-time.js";
import { consoleText } from "./replay-console.js";
import { failed, networkRecord } from "./replay-network.js";

const { Meta: META, FullSnapshot: FULL_SNAPSHOT, IncrementalSnapshot: INCREMENTAL, Custom: CUSTOM, Plugin: PLUGIN } = EventType;
const { Mutation: MUTATION, MouseInteraction: MOUSE_INTERACTION, Input: INPUT, Scroll: SCROLL } = IncrementalSource;
const CLICK = MouseInteractions.Click;
const CONSOLE = "rrweb/console@1";
// rrweb-player's own idea of an inactive period (Replayer's inactivePeriodThreshold).
const INACTIVE_MS = 10000;
// A click the page answers with no change within this long is a dead click.
const DEAD_MS = 1000;
// Rage: at least RAGE_CLICKS clicks within RAGE_MS, all within RAGE_PX of the first.
const RAGE_CLICKS = 3;
const RAGE_MS = 1000;
const RAGE_PX = 30;
// Marks closer than this share one (a page of clicks would otherwise be a solid bar).
const SLOTS = 300;
const KINDS = {
  page: ["page view", "page views"],
  click: ["click", "clicks"],
  error: ["error", "errors"],
  custom: ["custom event", "custom events"],
  rage: ["rage click", "rage clicks"],
  failed: ["failed request", "failed requests"],
  dead: ["dead click", "dead clicks"],
  comment: ["comment", "comments"],
};
const counted = (count, kind) => `${count} ${KINDS[kind][count === 1 ? 0 : 1]}`;


/** Whether an event changes what the page shows: what makes a click not dead. */
function changes(event) {
  if (event.type === META || event.type === FULL_SNAPSHOT) return true;
  if (event.type !== INCREMENTAL) return false;
  const { source, adds, removes, texts, attributes } = event.data;
  if (source === MUTATION) return Boolean(adds?.length || removes?.length || texts?.length || attributes?.length);
  return source === INPUT || source === SCROLL;
}

/** The text of a snapshot's <title>, if it has one. */
function pageTitle(node, depth = 0) {
  if (!node || depth > 4) return "";
  if (node.type === NodeType.Element && node.tagName === "title") return textOf(node, 120);
  for (const child of node.childNodes || []) {
    const found = pageTitle(child, depth + 1);
    if (found) return found;
  }
  return "";
}

/** The first `limit` characters of a serialized node's text. */
function textOf(node, limit) {
  let text = "";
  const walk = (n, depth) => {
    if (text.length >= limit || depth > 6) return;
    if (n.type === NodeType.Text) text += ` ${n.textContent || ""}`;
    for (const child of n.childNodes || []) walk(child, depth + 1);
  };
  walk(node, 0);
  text = text.replace(/\s+/g, " ").trim();
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

// What a person clicks on, rather than what happened to be under the pointer (an icon's path).
const ACTIONABLE = new Set(["a", "button", "input", "select", "textarea", "label", "summary", "option"]);
const ROLES = new Set(["button", "link", "tab", "menuitem", "checkbox", "radio", "switch", "option", "treeitem"]);

function actionable(node) {
  const attributes = node.attributes || {};
  return ACTIONABLE.has(node.tagName) || ROLES.has(attributes.role) || "onclick" in attributes;
}

/** An element's accessible name, roughly as a screen reader would say it. */
function accessibleName(node) {
  const attributes = node.attributes || {};
  const imageAlt = (n) => {
    for (const child of n.childNodes || []) {
      if (child.type !== NodeType.Element) continue;
      const found = (child.tagName === "img" && child.attributes && child.attributes.alt) || imageAlt(child);
      if (found) return found;
    }
    return "";
  };
  const svgTitle = (n) => (n.childNodes || []).find((child) => child.tagName === "title");
  const titled = svgTitle(node);
  return (
    attributes["aria-label"] ||
    textOf(node, 40) ||
    (titled ? textOf(titled, 40) : "") ||
    attributes.title ||
    attributes.alt ||
    imageAlt(node) ||
    attributes.placeholder ||
    (["button", "submit", "reset"].includes(attributes.type) ? attributes.value : "") ||
    attributes.name ||
    ""
  );
}

/**
 * What a click landed on, from the serialized nodes: the nearest element a person means
 * to click (a button, a link, an element with a role; an icon inside one names its
 * owner) and its accessible name, `button#like "Like"`.
 */
function describeNode(node, parentOf = () => null) {
  if (!node || node.type !== NodeType.Element) return "";
  let target = node;
  for (let up = node, depth = 0; up && depth < 8; up = parentOf(up), depth += 1) {
    if (actionable(up)) {
      target = up;
      break;
    }
  }
  const attributes = target.attributes || {};
  const id = attributes.id ? `#${attributes.id}` : "";
  const name = accessibleName(target);
  return `${target.tagName}${id}${name ? ` "${name}"` : ""}`;
}

export class Timeline {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list where the rows go (an <ol>)
   * @param {HTMLElement} options.summary where the counts go
   * @param {number} options.expectedMs the recording's duration as the API knows it (sizes the marks' slots)
   * @param {(ms: number) => void} options.onSeek called with the moment's offset from the start
   */
  constructor({ list, summary, expectedMs, onSeek }) {
    this.list = list;
    this.summary = summary;
    this.onSeek = onSeek;
    this.slotMs = Math.max(250, (expectedMs || 0) / SLOTS);
    this.start = null;
    this.metas = 0;
    this.opening = null; // a page view's row and mark, until its snapshot arrives
    this.lastActive = null;
    this.nodes = new Map();
    this.slots = new Map();
    this.counts = { page: 0, click: 0, error: 0, failed: 0, custom: 0, rage: 0, dead: 0 };
    this.parents = new Map();
    // Clicks not yet followed by a change of the page (dead after DEAD_MS), and the
    // recent ones a rage burst is counted from.
    this.pending = [];
    this.burst = [];
    this.overlay = document.createElement("div");
    this.overlay.className = "replay-marks";
    this.shades = document.createElement("div");
    this.marks = document.createElement("div");
    this.overlay.append(this.shades, this.marks);
    this.overlay.addEventListener("click", (event) => {
      // The bar under the marks seeks to where it is clicked; a mark, to its moment.
      const mark = event.target.closest("[data-at]");
      if (!mark) return;
      event.stopPropagation();
      this.onSeek(Number(mark.dataset.at));
    });
    // A new timeline (for a new player) takes the list over.
    this.list.onclick = (event) => {
      const row = event.target.closest("[data-at]");
      if (row) this.onSeek(Number(row.dataset.at));
    };
  }

  /** Adds events (in order, after those added before). */
  add(events) {
    const rows = document.createDocumentFragment();
    const marks = document.createDocumentFragment();
    const shades = document.createDocumentFragment();
    for (const event of events) {
      if (this.start === null) {
        this.start = event.timestamp;
        this.lastActive = event.timestamp;
      }
      this.settleClicks(event, marks);
      const moment = this.moment(event);
      if (moment) {
        const at = event.timestamp - this.start;
        this.counts[moment.kind] += 1;
        const row = this.row(moment, at);
        rows.append(row);
        const mark = this.mark(moment, at);
        if (mark) marks.append(mark);
        this.opening = moment.kind === "page" ? [row.firstChild, mark].filter(Boolean) : null;
        if (moment.kind === "click") this.clicked(event, moment, { row, mark }, rows, marks);
      } else if (event.type === FULL_SNAPSHOT && this.opening) {
        // A page view shows once its snapshot (the event after its Meta) is in: seek there,
        // and name it by the page's title.
        const title = pageTitle(event.data.node);
        for (const element of this.opening) {
          element.dataset.at = String(event.timestamp - this.start + 1);
          if (!title) continue;
          element.title = element.title.replace(/^Page view: /, `Page view: ${title} — `);
          const label = element.querySelector("span");
          if (label) label.textContent = title;
        }
        this.opening = null;
      }
      this.inactivity(event, shades);
    }
    this.list.append(rows);
    this.marks.append(marks);
    this.shades.append(shades);
    this.summary.textContent = Object.entries(this.counts)
      .filter(([, count]) => count)
      .map(([kind, count]) => counted(count, kind))
      .join(" · ");
  }

  /** The moment an event stands for, if any: {kind, label}. Also learns the nodes clicks land on. */
  moment(event) {
    const { type, data } = event;
    if (type === FULL_SNAPSHOT) {
      this.nodes.clear();
      this.learn(data.node);
    } else if (type === META) {
      this.metas += 1;
      // The Meta of a snapshot the recorder took on the same page (a watcher came, or it
      // resumed) is not a page view.
      const again = this.resnapshot;
      this.resnapshot = false;
      if (this.metas > 1 && !again) return { kind: "page", label: data.href || "(no address)", title: `Page view: ${data.href || ""}` };
    } else if (type === INCREMENTAL && data.source === MUTATION) {
      for (const add of data.adds || []) this.learn(add.node, add.parentId ?? null);
    } else if (type === INCREMENTAL && data.source === MOUSE_INTERACTION && data.type === CLICK) {
      const target = describeNode(this.nodes.get(data.id), (node) => this.nodes.get(this.parents.get(node.id)));
      return { kind: "click", target, label: target ? `Click on ${target}` : "Click", title: target ? `Click on ${target}` : "Click" };
    } else if (type === PLUGIN && data.plugin === CONSOLE && data.payload && data.payload.level === "error") {
      const text = consoleText(data.payload);
      return { kind: "error", label: text.length > 160 ? `${text.slice(0, 159)}…` : text, title: `Console error: ${text}` };
    } else if (type === PLUGIN && networkRecord(event) && failed(networkRecord(event))) {
      const entry = networkRecord(event);
      const status = Number(entry.status) > 0 ? entry.status : "no answer";
      const text = `${entry.method || "GET"} ${entry.url} → ${status}`;
      return { kind: "failed", label: text.length > 160 ? `${text.slice(0, 159)}…` : text, title: `Failed request: ${text}` };
    } else if (type === CUSTOM && data.tag === SNAPSHOT_TAG) {
      this.resnapshot = true;
    } else if (type === CUSTOM && data.tag === END_TAG) {
      return { kind: "custom", label: "Recording ended", title: "The recorder's stop() ended the recording here" };
    } else if (type === CUSTOM) {
      return { kind: "custom", label: data.tag || "custom event", title: `Custom event: ${data.tag || ""}` };
    }
    return null;
  }

  learn(node, parentId = null) {
    if (!node) return;
    if (node.type === NodeType.Element) {
      this.nodes.set(node.id, node);
      if (parentId !== null) this.parents.set(node.id, parentId);
    }
    for (const child of node.childNodes || []) this.learn(child, node.id);
  }

  /** A click: pending until the page changes (or found dead), and counted towards a rage burst. */
  clicked(event, moment, { row, mark: clickMark }, rows, marks) {
    const click = { at: event.timestamp, x: event.data.x, y: event.data.y, row, mark: clickMark, target: moment.target };
    this.pending.push(click);
    const near = (other) => Math.hypot((other.x || 0) - (click.x || 0), (other.y || 0) - (click.y || 0)) <= RAGE_PX;
    this.burst = this.burst.filter((other) => click.at - other.at <= RAGE_MS && near(other));
    this.burst.push(click);
    if (this.burst.length !== RAGE_CLICKS) return; // one rage moment a burst
    const at = click.at - this.start;
    const rage = {
      kind: "rage",
      label: `Rage clicks on ${click.target || "the page"}`,
      title: `Rage clicks: ${RAGE_CLICKS} or more within a second on ${click.target || "the page"}`,
    };
    this.counts.rage += 1;
    rows.append(this.row(rage, at));
    const mark = this.mark(rage, at);
    if (mark) marks.append(mark);
  }

  /** Clicks the page answered (a change within DEAD_MS) leave the pending list; those past it unanswered are dead. */
  settleClicks(event, marks) {
    if (!this.pending.length) return;
    const changed = changes(event);
    this.pending = this.pending.filter((click) => {
      const after = event.timestamp - click.at;
      if (after <= DEAD_MS) return !(changed && after >= 0);
      this.dead(click, marks);
      return false;
    });
  }

  dead(click, marks) {
    const at = click.at - this.start;
    const dead = {
      kind: "dead",
      label: `Dead click on ${click.target || "the page"}`,
      title: `Dead click: nothing on the page changed within a second of the click on ${click.target || "the page"}`,
    };
    this.counts.click -= 1;
    this.counts.dead += 1;
    click.row.className = "moment dead";
    const button = click.row.firstChild;
    button.title = `${dead.title} · ${formatMoment(at)}`;
    button.querySelector("span").textContent = dead.label;
    // Its own click mark becomes the dead one (a mark shared with other clicks stays theirs).
    if (click.mark) {
      click.mark.remove();
      for (const [key, slot] of this.slots) if (slot.element === click.mark) this.slots.delete(key);
    }
    const mark = this.mark(dead, at);
    if (mark) marks.append(mark);
  }

  row(moment, at) {
    const item = document.createElement("li");
    item.className = `moment ${moment.kind}`;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.at = String(at + 1); // just after: the moment itself shown
    button.title = `${moment.title} · ${formatMoment(at)}`;
    const time = document.createElement("time");
    time.textContent = formatMoment(at);
    const label = document.createElement("span");
    label.textContent = moment.label;
    button.append(time, label);
    item.append(button);
    return item;
  }

  mark(moment, at) {
    const key = `${moment.kind}:${Math.floor(at / this.slotMs)}`;
    const shared = this.slots.get(key);
    if (shared) {
      shared.count += 1;
      shared.element.title = `${counted(shared.count, moment.kind)} from ${formatMoment(shared.at)}; the first: ${shared.title}`;
      shared.element.setAttribute("aria-label", shared.element.title);
      return null;
    }
    const element = document.createElement("button");
    element.type = "button";
    element.className = `replay-mark ${moment.kind}`;
    element.dataset.at = String(at + 1);
    element.style.setProperty("--at", String(at));
    element.title = `${moment.title} · ${formatMoment(at)}`;
    element.setAttribute("aria-label", element.title);
    this.slots.set(key, { element, count: 1, at, title: element.title });
    return element;
  }

  /** Shades stretches without input, as the player skips them. */
  inactivity(event, into) {
    if (event.type !== INCREMENTAL || event.data.source <= MUTATION || event.data.source > INPUT) return;
    if (event.timestamp - this.lastActive > INACTIVE_MS) {
      const span = document.createElement("div");
      span.className = "replay-inactive";
      span.style.setProperty("--at", String(this.lastActive - this.start));
      span.style.setProperty("--span", String(event.timestamp - this.lastActive));
      into.append(span);
    }
    this.lastActive = event.timestamp;
  }

  /** A member's comment, as a mark on the bar (the page lists comments apart). */
  addComment(comment) {
    const mark = this.mark({ kind: "comment", title: `Comment: ${comment.text}` }, comment.at);
    if (mark) this.marks.append(mark);
  }

  /** Puts the marks on the player's progress bar (again, for a new player). */
  attach(root) {
    const bar = root.querySelector(".rr-progress");
    if (bar) bar.append(this.overlay);
  }

  /** The length of what the player holds, which the marks are placed against. */
  setTotal(ms) {
    this.overlay.style.setProperty("--total", String(Math.max(1, ms)));
  }
}

export { formatMoment };
