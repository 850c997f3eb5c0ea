/** The site's API client: config, tokens (refreshed once on 401), and every route it uses. */
const TOKENS = "rrweb.tokens";

export async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error("config.json is missing");
  return response.json();
}

export class Api {
  constructor(config) {
    this.base = config.apiUrl.replace(/\/$/, "");
    this.ingestBase = (config.ingestUrl || config.apiUrl).replace(/\/$/, "");
  }

  get tokens() {
    return JSON.parse(localStorage.getItem(TOKENS) || "null");
  }

  set tokens(value) {
    if (value) localStorage.setItem(TOKENS, JSON.stringify(value));
    else localStorage.removeItem(TOKENS);
  }

  get signedIn() {
    return Boolean(this.tokens);
  }

  async request(method, path, { body, headers = {}, retry = true } = {}) {
    const tokens = this.tokens;
    const sent = { ...headers };
    if (tokens) sent.Authorization = `Bearer ${tokens.accessToken}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && retry && tokens && tokens.refreshToken) {
      if (await this.refresh()) return this.request(method, path, { body, headers, retry: false });
      this.tokens = null;
    }
    return response;
  }

  async json(method, path, options) {
    const response = await this.request(method, path, options);
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = data && data.error && data.error.code;
      throw error;
    }
    return data;
  }

  async refresh() {
    const response = await fetch(`${this.base}/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: this.tokens.refreshToken }),
    });
    if (!response.ok) return false;
    this.tokens = { ...this.tokens, ...(await response.json()) };
    return true;
  }

  signUp(email, password) {
    return this.json("POST", "/auth/signup", { body: { email, password } });
  }

  confirm(email, code) {
    return this.json("POST", "/auth/confirm", { body: { email, code } });
  }

  async signIn(email, password) {
    this.tokens = await this.json("POST", "/auth/signin", { body: { email, password } });
  }

  signOut() {
    this.tokens = null;
  }

  recordings(cursor) {
    const query = new URLSearchParams({ limit: "24" });
    if (cursor) query.set("cursor", cursor);
    return this.json("GET", `/recordings?${query}`);
  }

  recording(id) {
    return this.json("GET", `/recordings/${encodeURIComponent(id)}`);
  }

  deleteRecording(id) {
    return this.json("DELETE", `/recordings/${encodeURIComponent(id)}`);
  }

  /** Presigned byte ranges of a compacted recording: {blocks: [{url, range, events}], events, after}. */
  blocks(id) {
    return this.json("GET", `/recordings/${encodeURIComponent(id)}/blocks`);
  }

  /**
   * One page of events: {events, next, tail}; the browser inflates gzip pages itself.
   * `next` is where the next page starts when this one was cut short; `tail` is where
   * events recorded later will start (null if the API does not expose it to this
   * origin). `watch` tells the API someone follows the recording live, so its recorder
   * sends more often.
   */
  async eventsPage(id, after, { watch = false } = {}) {
    const query = new URLSearchParams();
    if (after) query.set("after", after);
    if (watch) query.set("watch", "1");
    const search = String(query) ? `?${query}` : "";
    const response = await this.request("GET", `/recordings/${encodeURIComponent(id)}/events${search}`);
    if (!response.ok) throw new Error(`loading events failed: HTTP ${response.status}`);
    const text = await response.text();
    const events = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    return { events, next: response.headers.get("X-Next-Cursor"), tail: response.headers.get("X-Tail-Cursor") };
  }

  keys() {
    return this.json("GET", "/keys");
  }

  createKey(name) {
    return this.json("POST", "/keys", { body: { name } });
  }

  revokeKey(id) {
    return this.json("DELETE", `/keys/${encodeURIComponent(id)}`);
  }
}

/** A key the site keeps in this browser for one purpose (demo page, bookmarklet). */
export async function keyFor(api, purpose) {
  const stored = localStorage.getItem(`rrweb.key.${purpose}`);
  if (stored) return stored;
  const created = await api.createKey(purpose);
  localStorage.setItem(`rrweb.key.${purpose}`, created.key);
  return created.key;
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function formatDuration(ms) {
  const seconds = Math.round((ms || 0) / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
