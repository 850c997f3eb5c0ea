/**
 * The network panel beside the player: the page's fetch and XHR calls the recorder's
 * network plugin kept ("rrweb/network@1"), each at its start: method, status, URL,
 * duration and size, with headers and bodies where the site recorded them (redacted in
 * the browser already). Failed requests (an error status, or no answer) are a kind of
 * their own, to filter on, and marks on the timeline.
 */
import { EventType } from "@rrweb/types";
import { TimedPanel } from "./replay-console.js";

export const NETWORK_PLUGIN = "rrweb/network@1";

/** The request an event holds, or null. */
export function networkRecord(event) {
  if (event.type !== EventType.Plugin || !event.data || event.data.plugin !== NETWORK_PLUGIN) return null;
  const entry = event.data.payload;
  return entry && typeof entry === "object" && typeof entry.url === "string" ? entry : null;
}

/** Whether a request failed: no answer (status 0) or an error status. */
export function failed(entry) {
  return !(Number(entry.status) > 0 && Number(entry.status) < 400);
}

/**
 * A URL as a row shows it: its path and query first, since the narrow panel cuts the end
 * off, and the host after them (the row's details hold the whole URL).
 */
function shortUrl(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search} · ${parsed.host}`;
  } catch (_) {
    return url;
  }
}

const bytes = (count) => (count == null || Number.isNaN(count) ? "" : count < 1024 ? `${count} B` : `${(count / 1024).toFixed(1)} KB`);

export class NetworkPanel extends TimedPanel {
  constructor(options) {
    super(options, ["ok", "failed"], "request");
    this.className = "network-row";
  }

  read(event) {
    return networkRecord(event);
  }

  /** At its start, not when its answer came (when the event was recorded). */
  at(entry, event) {
    return Number.isFinite(entry.startedAt) && entry.startedAt <= event.timestamp ? entry.startedAt : event.timestamp;
  }

  kindOf(entry) {
    return failed(entry) ? "failed" : "ok";
  }

  describe(entry) {
    const status = Number(entry.status) > 0 ? String(entry.status) : "failed";
    const text = `${entry.method || "GET"} ${entry.url} ${status}${entry.error ? ` ${entry.error}` : ""}`;
    const parts = [];
    if (entry.requestHeaders) parts.push(`Request headers\n${lines(entry.requestHeaders)}`);
    if (entry.requestBody) parts.push(`Request body\n${entry.requestBody}`);
    if (entry.responseHeaders) parts.push(`Response headers\n${lines(entry.responseHeaders)}`);
    if (entry.responseBody) parts.push(`Response body\n${entry.responseBody}`);
    const sizes = [entry.requestBytes != null ? `sent ${bytes(entry.requestBytes)}` : "", entry.responseBytes != null ? `received ${bytes(entry.responseBytes)}` : ""]
      .filter(Boolean)
      .join(", ");
    return {
      text,
      cells: [
        ["network-method", entry.method || "GET"],
        ["network-status", status],
        ["network-url", shortUrl(entry.url)],
        ["network-duration", Number.isFinite(entry.durationMs) ? `${entry.durationMs} ms` : ""],
      ],
      details: { summary: sizes || "Details", text: [`${entry.type || "fetch"} ${entry.url}`, entry.error || "", ...parts].filter(Boolean).join("\n\n") },
    };
  }
}

function lines(headers) {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
}
