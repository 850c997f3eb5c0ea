/**
 * The moments of a recording worth jumping to: page views (rrweb Meta events after the
 * first), clicks, console errors (the console plugin's error-level records) and custom
 * events (identify, say). Each is a mark on the player's progress bar and a row in the
 * list beside it; either seeks there. Inactive stretches (no input for 10 s, which the
 * player skips) are shaded on the bar. Events are added in order as they load, so the
 * bar and the list grow with the recording.
 */
import { EventType, IncrementalSource, MouseInteractions, NodeType } from "@rrweb/types";
import { END_TAG } from "./end-tag.js";
import { consoleText } from "./replay-console.js";

const { Meta: META, FullSnapshot: FULL_SNAPSHOT, IncrementalSnapshot: INCREMENTAL, Custom: CUSTOM, Plugin: PLUGIN } = EventType;
const { Mutation: MUTATION, MouseInteraction: MOUSE_INTERACTION, Input: INPUT } = IncrementalSource;
const CLICK = MouseInteractions.Click;
const CONSOLE = "rrweb/console@1";
// rrweb-player's own idea of an inactive period (Replayer's inactivePeriodThreshold).
const INACTIVE_MS = 10000;
// Marks closer than this share one (a page of clicks would otherwise be a solid bar).
const SLOTS = 300;
const KINDS = {
  page: ["page view", "page views"],
  click: ["click", "clicks"],
  error: ["error", "errors"],
  custom: ["custom event", "custom events"],
  comment: ["comment", "comments"],
};
const counted = (count, kind) => `${count} ${KINDS[kind][count === 1 ? 0 : 1]}`;

/** m:ss, or h:mm:ss from an hour on. */
export function formatMoment(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
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

/** What a click landed on, from the serialized node: `button#like "Like"`. */
function describeNode(node) {
  if (!node || node.type !== NodeType.Element) return "";
  const attributes = node.attributes || {};
  const id = attributes.id ? `#${attributes.id}` : "";
  const text = textOf(node, 40) || attributes["aria-label"] || attributes.placeholder || attributes.name || "";
  return `${node.tagName}${id}${text ? ` "${text}"` : ""}`;
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
    this.counts = { page: 0, click: 0, error: 0, custom: 0 };
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
      const moment = this.moment(event);
      if (moment) {
        const at = event.timestamp - this.start;
        this.counts[moment.kind] += 1;
        const row = this.row(moment, at);
        rows.append(row);
        const mark = this.mark(moment, at);
        if (mark) marks.append(mark);
        this.opening = moment.kind === "page" ? [row.firstChild, mark].filter(Boolean) : null;
      } else if (event.type === FULL_SNAPSHOT && this.opening) {
        // A page view shows once its snapshot (the event after its Meta) is in: seek there.
        for (const element of this.opening) element.dataset.at = String(event.timestamp - this.start + 1);
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
      if (this.metas > 1) return { kind: "page", label: data.href || "(no address)", title: `Page view: ${data.href || ""}` };
    } else if (type === INCREMENTAL && data.source === MUTATION) {
      for (const add of data.adds || []) this.learn(add.node);
    } else if (type === INCREMENTAL && data.source === MOUSE_INTERACTION && data.type === CLICK) {
      const target = describeNode(this.nodes.get(data.id));
      return { kind: "click", label: target ? `Click on ${target}` : "Click", title: target ? `Click on ${target}` : "Click" };
    } else if (type === PLUGIN && data.plugin === CONSOLE && data.payload && data.payload.level === "error") {
      const text = consoleText(data.payload);
      return { kind: "error", label: text.length > 160 ? `${text.slice(0, 159)}…` : text, title: `Console error: ${text}` };
    } else if (type === CUSTOM && data.tag === END_TAG) {
      return { kind: "custom", label: "Recording ended", title: "The recorder's stop() ended the recording here" };
    } else if (type === CUSTOM) {
      return { kind: "custom", label: data.tag || "custom event", title: `Custom event: ${data.tag || ""}` };
    }
    return null;
  }

  learn(node) {
    if (!node) return;
    if (node.type === NodeType.Element) this.nodes.set(node.id, node);
    for (const child of node.childNodes || []) this.learn(child);
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
