/**
 * The console panel beside the player: every console record of the recording (the
 * console plugin's "rrweb/console@1" events, at every level the recorder kept), with its
 * arguments and stack trace, filtered by level and by text. A row seeks the player to
 * its moment; while the player runs, the rows up to the moment shown are marked and the
 * newest of them kept in view. Texts are put in as text, never as markup: a page's
 * console may hold anything.
 */
import { EventType } from "@rrweb/types";
import { formatMoment } from "./replay-time.js";

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

/**
 * A list of timed records beside the player: rows filtered by kind (toggles with
 * data-kind and aria-pressed) and by text, marked up to the moment shown (the newest of
 * them kept in view), seeking on click. A kind of panel says which events are its
 * records (`read`), what kind each is, and how a row looks (`cells`, `details`).
 */
export class TimedPanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.list where the rows go (an <ol>)
   * @param {HTMLElement} options.count where the number of records goes (the tab's label)
   * @param {HTMLElement} options.filters kind toggles: buttons with data-kind and aria-pressed
   * @param {HTMLInputElement} options.search the text filter
   * @param {HTMLElement} options.empty shown while no row passes the filters
   * @param {(ms: number) => void} options.onSeek called with a row's offset from the start
   * @param {string[]} kinds the kinds of record, in the toggles' order
   * @param {string} noun what a record is called ("console record")
   */
  constructor({ list, count, filters, search, empty, onSeek }, kinds, noun) {
    this.list = list;
    this.count = count;
    this.empty = empty;
    this.search = search;
    this.noun = noun;
    this.start = null;
    this.rows = [];
    this.current = null;
    this.kinds = new Set(kinds);
    this.perKind = Object.fromEntries(kinds.map((kind) => [kind, 0]));
    this.toggles = [...filters.querySelectorAll("[data-kind]")];
    for (const toggle of this.toggles) {
      toggle.onclick = () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        if (on) this.kinds.add(toggle.dataset.kind);
        else this.kinds.delete(toggle.dataset.kind);
        this.filter();
      };
    }
    search.oninput = () => this.filter();
    // A new panel (for a new player) takes the list over.
    this.list.replaceChildren();
    this.list.onclick = (event) => {
      if (event.target.closest("details")) return; // opening details is not a seek
      const row = event.target.closest("[data-at]");
      if (row) onSeek(Number(row.dataset.at));
    };
    this.render();
  }

  /** Adds events (in order, after those added before): the records among them become rows. */
  add(events) {
    const rows = document.createDocumentFragment();
    for (const event of events) {
      if (this.start === null) this.start = event.timestamp;
      const record = this.read(event);
      if (!record) continue;
      const row = this.row(record, this.at(record, event) - this.start);
      this.rows.push(row);
      this.perKind[row.dataset.kind] = (this.perKind[row.dataset.kind] || 0) + 1;
      row.hidden = !this.passes(row);
      rows.append(row);
    }
    this.list.append(rows);
    this.render();
  }

  /** When a record happened (its event's time; a panel may know better). */
  at(record, event) {
    return event.timestamp;
  }

  row(record, at) {
    const row = document.createElement("li");
    const kind = this.kindOf(record);
    row.className = `timed-row ${this.className} kind-${kind}`;
    row.dataset.at = String(Math.max(0, at));
    row.dataset.kind = kind;
    const { cells, text, details } = this.describe(record);
    row.dataset.text = `${text}\n${details ? details.text : ""}`.toLowerCase();
    const button = Object.assign(document.createElement("button"), { type: "button", title: text });
    button.append(Object.assign(document.createElement("time"), { textContent: formatMoment(at) }));
    for (const [className, content] of cells) button.append(Object.assign(document.createElement("span"), { className, textContent: content }));
    row.append(button);
    if (details) {
      const opened = document.createElement("details");
      const summary = Object.assign(document.createElement("summary"), { textContent: details.summary });
      const pre = Object.assign(document.createElement("pre"), { textContent: details.text });
      opened.append(summary, pre);
      row.append(opened);
    }
    return row;
  }

  passes(row) {
    const words = this.search.value.trim().toLowerCase();
    return this.kinds.has(row.dataset.kind) && (!words || row.dataset.text.includes(words));
  }

  filter() {
    for (const row of this.rows) row.hidden = !this.passes(row);
    this.render();
  }

  render() {
    const shown = this.rows.filter((row) => !row.hidden).length;
    this.count.textContent = String(this.rows.length);
    this.empty.hidden = shown > 0;
    this.empty.textContent = this.rows.length ? `No ${this.noun} matches the filters.` : `No ${this.noun}s in this recording.`;
    for (const toggle of this.toggles) toggle.textContent = `${toggle.dataset.kind} ${this.perKind[toggle.dataset.kind] || 0}`;
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

/** The console panel: every console record the recorder kept, by level. */
export class ConsolePanel extends TimedPanel {
  constructor(options) {
    super(options, LEVELS, "console record");
    this.className = "console-row";
  }

  read(event) {
    return consoleRecord(event);
  }

  kindOf(record) {
    return record.level;
  }

  describe(record) {
    return {
      text: record.text,
      cells: [
        ["console-level", record.level],
        ["console-text", record.text],
      ],
      details: record.trace.length ? { summary: "Stack trace", text: record.trace.join("\n") } : null,
    };
  }
}
