/**
 * Events: what the recorder needs to know of one rrweb event before it buffers it: whether
 * it is the visitor's activity (keeps a session alive), whether it is a full snapshot the
 * rest builds on, its size as the batch bounds measure it, and console records cut to a
 * bounded size.
 */
import { PLUGIN_NAME as CONSOLE_PLUGIN } from "@rrweb/rrweb-plugin-console-record";
import { EventType, IncrementalSource } from "rrweb";

// Console records: every argument and trace is cut to this, so a log of a huge string or
// element cannot make a batch large.
const CONSOLE_TEXT_LIMIT = 2000;
const CONSOLE_ITEMS_LIMIT = 20;

const { FullSnapshot: FULL_SNAPSHOT, IncrementalSnapshot: INCREMENTAL, Meta: META, Custom: CUSTOM, Plugin: PLUGIN } = EventType;
// What a visitor does (keeps a session alive); DOM mutations and style changes do not.
const ACTIVITY_SOURCES = new Set([
  IncrementalSource.MouseMove,
  IncrementalSource.MouseInteraction,
  IncrementalSource.Scroll,
  IncrementalSource.ViewportResize,
  IncrementalSource.Input,
  IncrementalSource.TouchMove,
  IncrementalSource.MediaInteraction,
  IncrementalSource.Drag,
  IncrementalSource.Selection,
]);
// Incremental events whose size varies enough to measure. The rest is small and estimated.
const MEASURED_SOURCES = new Set([
  IncrementalSource.Mutation,
  IncrementalSource.Input,
  IncrementalSource.StyleSheetRule,
  IncrementalSource.StyleDeclaration,
  IncrementalSource.AdoptedStyleSheet,
]);
const ESTIMATED_EVENT_BYTES = 200;

/** Text cut to at most `max` UTF-16 units, never inside a surrogate pair. */
export function clip(text, max) {
  if (typeof text !== "string" || text.length <= max) return text;
  const cut = text.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A console record's arguments and trace cut to a bounded size. */
export function boundedConsole(event) {
  const payload = event.data && event.data.payload;
  if (!payload) return event;
  const cut = (items) =>
    Array.isArray(items)
      ? items.slice(0, CONSOLE_ITEMS_LIMIT).map((item) => (typeof item === "string" && item.length > CONSOLE_TEXT_LIMIT ? `${clip(item, CONSOLE_TEXT_LIMIT)}…` : item))
      : items;
  return { ...event, data: { ...event.data, payload: { ...payload, payload: cut(payload.payload), trace: cut(payload.trace) } } };
}

export const isConsole = (event) => event.type === PLUGIN && event.data && event.data.plugin === CONSOLE_PLUGIN;
export const isConsoleError = (event) => isConsole(event) && event.data.payload && event.data.payload.level === "error";

/** The visitor did something (input, pointer, scroll; not DOM changes): the session stays alive. */
export const isActivity = (event) =>
  event.type === META || event.type === CUSTOM || (event.type === INCREMENTAL && ACTIVITY_SOURCES.has(event.data.source));

/**
 * Full snapshots and their Meta events are what everything after them builds on: always
 * taken, and not counted towards the backlog budget.
 */
export const isWhole = (event) => event.type === FULL_SNAPSHOT || event.type === META;

/** An event's JSON bytes as the batch bounds count them: measured where it varies, else estimated. */
export function eventBytes(event) {
  const measured =
    event.type === FULL_SNAPSHOT ||
    event.type === CUSTOM ||
    event.type === PLUGIN ||
    (event.type === INCREMENTAL && MEASURED_SOURCES.has(event.data.source));
  return measured ? JSON.stringify(event).length : ESTIMATED_EVENT_BYTES;
}
