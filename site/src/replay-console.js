/**
 * The console panel beside the player: every console record of the recording (the
 * console plugin's "rrweb/console@1" events, at every level the recorder kept), with its
 * arguments and stack trace, filtered by level and by text. A row seeks the player to
 * its moment; while the player runs, the rows up to the moment shown are marked and the
 * newest of them kept in view. Texts are put in as text, never as markup: a page's
 * console may hold anything.
 */
import { EventType } from "@rrweb/types";
import { formatMoment } from "./replay-timeline.js";

const CONSOLE = "rrweb/console@1";
export const LEVELS = ["error", "warn", "info", "log", "debug"];

/** A console record's arguments as text (the plugin stringifies each; strings come as JSON). */
export function consoleText(payload) {
  const parts = (payload.payload || []).map((part) => {
    if (typeof part !== "string") return String(part);
    try {
      const parsed = JSON.parse(part);
      return typeof parsed === "string" ? parsed : part;
    } catch {
      return part;
    }
  });
  return parts.join(" ") || "(no message)";
}

/** The console record an event holds, or null: {level, text, trace}. */
export function consoleRecord(event) {
  if (event.type !== EventType.Plugin || !event.data || event.data.plugin !== CONSOLE) return null;
  const payload = event.data.payload || {};
  const level = LEVELS.includes(payload.level) ? payload.level : "log";
  const trace = Array.isArray(payload.trace) ? payload.trace.filter((line) => typeof line === "string") : [];
  return { level, text: consoleText(payload), trace };
}

export class ConsolePanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list where the rows go (an <ol>)
   * @param {HTMLElement} options.count where the number of records goes (the tab's label)
   * @param {HTMLElement} options.filters level toggles: buttons with data-level and aria-pressed
   * @param {HTMLInputElement} options.search the text filter
   * @param {HTMLElement} options.empty shown while no row passes the filters
   * @param {(ms: number) => void} options.onSeek called with a row's offset from the start
   */
  constructor({ list, count, filters, search, empty, onSeek }) {
    this.list = list;
    this.count = count;
    this.empty = empty;
    this.search = search;
    this.start = null;
    this.rows = [];
    this.current = null;
    this.levels = new Set(LEVELS);
    this.perLevel = Object.fromEntries(LEVELS.map((level) => [level, 0]));
    this.toggles = [...filters.querySelectorAll("[data-level]")];
    for (const toggle of this.toggles) {
      toggle.onclick = () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        if (on) this.levels.add(toggle.dataset.level);
        else this.levels.delete(toggle.dataset.level);
        this.filter();
      };
    }
    search.oninput = () => this.filter();
    // A new panel (for a new player) takes the list over.
    this.list.replaceChildren();
    this.list.onclick = (event) => {
      if (event.target.closest("details")) return; // opening a trace is not a seek
      const row = event.target.closest("[data-at]");
      if (row) onSeek(Number(row.dataset.at));
    };
    this.render();
  }

  /** Adds events (in order, after those added before): the console records among them become rows. */
  add(events) {
    const rows = document.createDocumentFragment();
    for (const event of events) {
      if (this.start === null) this.start = event.timestamp;
      const record = consoleRecord(event);
      if (!record) continue;
      const row = this.row(record, event.timestamp - this.start);
      this.rows.push(row);
      this.perLevel[record.level] += 1;
      row.hidden = !this.passes(row);
      rows.append(row);
    }
    this.list.append(rows);
    this.render();
  }

  row(record, at) {
    const row = document.createElement("li");
    row.className = `console-row level-${record.level}`;
    row.dataset.at = String(Math.max(0, at));
    row.dataset.level = record.level;
    row.dataset.text = `${record.text}\n${record.trace.join("\n")}`.toLowerCase();
    const button = Object.assign(document.createElement("button"), { type: "button" });
    const time = Object.assign(document.createElement("time"), { textContent: formatMoment(at) });
    const level = Object.assign(document.createElement("span"), { className: "console-level", textContent: record.level });
    const text = Object.assign(document.createElement("span"), { className: "console-text", textContent: record.text });
    button.title = record.text;
    button.append(time, level, text);
    row.append(button);
    if (record.trace.length) {
      const details = document.createElement("details");
      const summary = Object.assign(document.createElement("summary"), { textContent: "Stack trace" });
      const pre = Object.assign(document.createElement("pre"), { textContent: record.trace.join("\n") });
      details.append(summary, pre);
      row.append(details);
    }
    return row;
  }

  passes(row) {
    const words = this.search.value.trim().toLowerCase();
    return this.levels.has(row.dataset.level) && (!words || row.dataset.text.includes(words));
  }

  filter() {
    for (const row of this.rows) row.hidden = !this.passes(row);
    this.render();
  }

  render() {
    const shown = this.rows.filter((row) => !row.hidden).length;
    this.count.textContent = String(this.rows.length);
    this.empty.hidden = shown > 0;
    this.empty.textContent = this.rows.length ? "No console record matches the filters." : "No console records in this recording.";
    for (const toggle of this.toggles) {
      const level = toggle.dataset.level;
      toggle.textContent = `${level} ${this.perLevel[level]}`;
    }
  }

  /** The player shows `ms`: rows up to it are past, the newest of them is current and kept in view. */
  follow(ms, { scroll = true } = {}) {
    let current = null;
    for (const row of this.rows) {
      const past = Number(row.dataset.at) <= ms;
      row.classList.toggle("past", past);
      if (past && !row.hidden) current = row;
    }
    if (current === this.current) return;
    if (this.current) this.current.classList.remove("current");
    this.current = current;
    if (current) {
      current.classList.add("current");
      if (scroll && this.list.offsetParent !== null) current.scrollIntoView({ block: "nearest" });
    }
  }
}

