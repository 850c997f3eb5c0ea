/**
 * The site's API client: config, tokens (refreshed once on 401), and every route it uses.
 *
 * The browser keeps nothing of the account but its tokens (localStorage['rrweb.tokens']):
 * ingest keys for the demo page and the bookmarklet come from the API each time, so
 * whoever is signed in records into their own account.
 */
const TOKENS = "rrweb.tokens";
// The team workspace this browser acts in (absent: the user's personal one).
const WORKSPACE = "rrweb.workspace";
const PREFIX = "rrweb.";

export async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error("config.json is missing");
  return response.json();
}

/** Where the browser goes to sign in, coming back to this page (path and query) afterwards. */
export function signInUrl() {
  // The sign-in form is on the recordings page: there, its own query (filters, next) stays.
  if (/\/(index\.html)?$/.test(location.pathname)) return `index.html${location.search}`;
  return `index.html?next=${encodeURIComponent(`${location.pathname}${location.search}`)}`;
}

/** Send a signed-out visitor to sign in; true when the page may go on. */
export function requireSignIn(api) {
  if (api.signedIn) return true;
  location.assign(signInUrl());
  return false;
}

/**
 * The page of this site a sign-in should return to (`?next=`, a path or a page name), or
 * null. Anything that resolves elsewhere (another host, a javascript: URL) is ignored.
 */
export function nextPage(search = location.search) {
  const next = new URLSearchParams(search).get("next");
  if (!next) return null;
  let target;
  try {
    target = new URL(next, location.href);
  } catch {
    return null;
  }
  return target.origin === location.origin ? `${target.pathname}${target.search}${target.hash}` : null;
}

/** What follows "we emailed you": on the local stack, which sends no email, where to read it. */
export function mailNote(api) {
  return api.mailbox ? ` This local stack sends no email: it is written to ${api.mailbox}.` : "";
}

/** Thrown when the session is over and the browser is already on its way to sign in again. */
export class SessionExpired extends Error {
  constructor() {
    super("Your session has expired: sign in again.");
    this.status = 401;
    this.code = "session_expired";
  }
}

export class Api {
  constructor(config) {
    this.base = config.apiUrl.replace(/\/$/, "");
    this.ingestBase = (config.ingestUrl || config.apiUrl).replace(/\/$/, "");
    // The local stack's file of "emailed" codes and passwords (it has no mail server), or null.
    this.mailbox = config.mailbox || null;
    // Purpose keys fetched during this page's life: never written anywhere.
    this.purposeKeys = new Map();
    // A link into a team workspace (`?w=`, the replay's moment links) acts in it.
    const linked = new URLSearchParams(globalThis.location ? location.search : "").get("w");
    if (linked && /^ws-[A-Za-z0-9]{20}$/.test(linked)) this.workspace = linked;
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

  /** The team workspace every request acts in (X-Workspace), or null for the personal one. */
  get workspace() {
    return localStorage.getItem(WORKSPACE);
  }

  set workspace(id) {
    if (id) localStorage.setItem(WORKSPACE, id);
    else localStorage.removeItem(WORKSPACE);
  }

  /** The browser's fetch, with "could not connect" said in words a person can act on. */
  async fetch(url, init) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (init && init.signal && init.signal.aborted) throw error;
      const unreachable = new Error(`Cannot reach the API at ${this.base}; is it running?`);
      unreachable.code = "unreachable";
      unreachable.cause = error;
      throw unreachable;
    }
  }

  async request(method, path, { body, headers = {}, retry = true } = {}) {
    const tokens = this.tokens;
    const sent = { ...headers };
    if (tokens) sent.Authorization = `Bearer ${tokens.accessToken}`;
    const workspace = this.workspace;
    if (workspace && !path.startsWith("/auth/")) sent["X-Workspace"] = workspace;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const response = await this.fetch(`${this.base}${path}`, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 404 && workspace && (await this.noSuchWorkspace(response))) {
      // Removed from it, or another account signed in here: back to the personal workspace.
      this.workspace = null;
      return this.request(method, path, { body, headers, retry });
    }
    if (response.status === 401 && tokens && !path.startsWith("/auth/")) {
      if (retry && tokens.refreshToken && (await this.refresh())) {
        return this.request(method, path, { body, headers, retry: false });
      }
      this.expired();
    }
    return response;
  }

  async noSuchWorkspace(response) {
    try {
      return (await response.clone().json()).error.code === "no_such_workspace";
    } catch {
      return false;
    }
  }

  /** The session cannot be renewed: forget it and sign in again, then come back here. */
  expired() {
    this.signOut();
    location.assign(signInUrl());
    throw new SessionExpired();
  }

  async json(method, path, options) {
    const response = await this.request(method, path, options);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      // A proxy's HTML error page: the status says enough.
      if (response.ok) throw error;
    }
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || `The API answered HTTP ${response.status}`);
      error.status = response.status;
      error.code = data && data.error && data.error.code;
      throw error;
    }
    return data;
  }

  async refresh() {
    const response = await this.fetch(`${this.base}/auth/refresh`, {
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

  /**
   * Sign in; null once signed in, or, for an invited user's temporary password, the
   * challenge ({challenge: "NEW_PASSWORD_REQUIRED", session}) that `setNewPassword` answers.
   */
  async signIn(email, password) {
    const answer = await this.json("POST", "/auth/signin", { body: { email, password } });
    if (answer.challenge) return answer;
    this.signOut();
    this.tokens = answer;
    return null;
  }

  /** An invited user's own password in place of the temporary one; signs them in. */
  async setNewPassword(session, password) {
    const tokens = await this.json("POST", "/auth/new-password", { body: { session, password } });
    this.signOut();
    this.tokens = tokens;
  }

  /** Ask for a reset code by email (the API answers the same whether or not the address has an account). */
  /** A new sign-up confirmation code (the old one expired, or was lost). */
  resendCode(email) {
    return this.json("POST", "/auth/resend", { body: { email } });
  }

  forgotPassword(email) {
    return this.json("POST", "/auth/forgot", { body: { email } });
  }

  resetPassword(email, code, password) {
    return this.json("POST", "/auth/reset", { body: { email, code, password } });
  }

  /** Forget the account in this browser: every `rrweb.*` entry (tokens, and keys older versions kept). */
  signOut() {
    this.purposeKeys.clear();
    for (const storage of [localStorage, sessionStorage]) {
      const names = [];
      for (let i = 0; i < storage.length; i += 1) names.push(storage.key(i));
      for (const name of names) if (name && name.startsWith(PREFIX)) storage.removeItem(name);
    }
  }

  /**
   * One page of the owner's recordings, newest first. `filters` holds the API's own
   * query parameters (q, user, from, to, minDurationMs, maxDurationMs, errors); a
   * filtered page may be short, even empty, and still carry a cursor.
   */
  recordings(cursor, filters = {}, limit = 24) {
    const query = new URLSearchParams({ limit: String(limit) });
    for (const [name, value] of Object.entries(filters)) {
      if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
    }
    if (cursor) query.set("cursor", cursor);
    return this.json("GET", `/recordings?${query}`);
  }

  recording(id) {
    return this.json("GET", `/recordings/${encodeURIComponent(id)}`);
  }

  deleteRecording(id) {
    return this.json("DELETE", `/recordings/${encodeURIComponent(id)}`);
  }

  /** A read-only link to the recording (opening at `at` ms, when given); its token is shown once. */
  share(id, at = null) {
    return this.json("POST", `/recordings/${encodeURIComponent(id)}/shares`, { body: at == null ? {} : { at } });
  }

  async shares(id) {
    return (await this.json("GET", `/recordings/${encodeURIComponent(id)}/shares`)).shares;
  }

  revokeShare(id, shareId) {
    return this.json("DELETE", `/recordings/${encodeURIComponent(id)}/shares/${encodeURIComponent(shareId)}`);
  }

  /** Delete a selection of up to 50 recordings: {deleted, notFound}. */
  deleteRecordings(ids) {
    return this.json("POST", "/recordings/delete", { body: { ids } });
  }

  /** Delete up to 50 recordings of one identified visitor: {deleted, notFound, more}. */
  deletePerson(user) {
    return this.json("DELETE", `/people/${encodeURIComponent(user)}/recordings`);
  }

  async comments(id) {
    return (await this.json("GET", `/recordings/${encodeURIComponent(id)}/comments`)).comments;
  }

  /** A comment at `at` ms from the recording's start. */
  addComment(id, at, text) {
    return this.json("POST", `/recordings/${encodeURIComponent(id)}/comments`, { body: { at, text } });
  }

  /** Short-lived reads of the signed-in owner's page assets: {sha256: url}. */
  async assetUrls(hashes) {
    return (await this.json("POST", "/assets/urls", { body: { sha256: hashes } })).urls;
  }

  /**
   * Presigned byte ranges of a compacted recording, a bounded number per answer:
   * {url, blocks: [{range, events}], next, events, after}. `next`, when not null, is the
   * `after` of the answer with the following blocks.
   */
  blocks(id, after = null) {
    const query = after ? `?${new URLSearchParams({ after })}` : "";
    return this.json("GET", `/recordings/${encodeURIComponent(id)}/blocks${query}`);
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
    // The API sends gzip pages (larger, and inflated by the browser) only when the first
    // Accept type is one it sends as binary; anything else gets the same lines as text.
    const response = await this.request("GET", `/recordings/${encodeURIComponent(id)}/events${search}`, {
      headers: { Accept: "application/x-ndjson" },
    });
    if (!response.ok) throw new Error(`loading events failed: HTTP ${response.status}`);
    const text = await response.text();
    const events = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    return { events, next: response.headers.get("X-Next-Cursor"), tail: response.headers.get("X-Tail-Cursor") };
  }

  keys() {
    return this.json("GET", "/keys");
  }

  /** The user's workspaces, the personal one first: [{id, name, role, personal}]. */
  async workspaces() {
    return (await this.json("GET", "/workspaces")).workspaces;
  }

  createWorkspace(name) {
    return this.json("POST", "/workspaces", { body: { name } });
  }

  async members(workspace) {
    return (await this.json("GET", `/workspaces/${encodeURIComponent(workspace)}/members`)).members;
  }

  describeWorkspace(workspace) {
    return this.json("GET", `/workspaces/${encodeURIComponent(workspace)}`);
  }

  /** The email domain invites must be for (null: any). */
  /** Keep the workspace's recordings ``days`` days (null: the stack's retention); admins only. */
  setRetention(workspace, days) {
    return this.json("PATCH", `/workspaces/${encodeURIComponent(workspace)}`, { body: { retentionDays: days } });
  }

  setAllowedDomain(workspace, domain) {
    return this.json("PATCH", `/workspaces/${encodeURIComponent(workspace)}`, { body: { allowedDomain: domain } });
  }

  /** A new invite; the answer's token is shown once. */
  invite(workspace, email, role) {
    return this.json("POST", `/workspaces/${encodeURIComponent(workspace)}/invites`, { body: { email, role } });
  }

  async invites(workspace) {
    return (await this.json("GET", `/workspaces/${encodeURIComponent(workspace)}/invites`)).invites;
  }

  revokeInvite(workspace, id) {
    return this.json("DELETE", `/workspaces/${encodeURIComponent(workspace)}/invites/${encodeURIComponent(id)}`);
  }

  /** Join the workspace an invite token is for (made out to this account's email). */
  redeemInvite(token) {
    return this.json("POST", "/invites/redeem", { body: { token } });
  }

  /** Make a member an admin or a member (admins only; the last admin stays one). */
  setRole(workspace, user, role) {
    return this.json("PATCH", `/workspaces/${encodeURIComponent(workspace)}/members/${encodeURIComponent(user)}`, { body: { role } });
  }

  removeMember(workspace, user) {
    return this.json("DELETE", `/workspaces/${encodeURIComponent(workspace)}/members/${encodeURIComponent(user)}`);
  }

  /** A new named key; the answer is the only time its secret is shown. */
  createKey(name) {
    return this.json("POST", "/keys", { body: { name } });
  }

  /** The account's active key for a purpose ("demo", "bookmarklet"), created if it has none. */
  purposeKey(purpose) {
    return this.json("POST", "/keys", { body: { purpose } });
  }

  /** Set (or, with null, clear) a key's recording controls and allowed origins; answers both as stored. */
  configureKey(id, { controls, allowedOrigins }) {
    return this.json("PATCH", `/keys/${encodeURIComponent(id)}`, { body: { controls, allowedOrigins } });
  }

  async revokeKey(id) {
    const answer = await this.json("DELETE", `/keys/${encodeURIComponent(id)}`);
    // A revoked key must never be handed out again, not even from this page's memory.
    for (const [purpose, pending] of this.purposeKeys) {
      const key = await pending.catch(() => null);
      if (!key || key.id === id) this.purposeKeys.delete(purpose);
    }
    return answer;
  }
}

/**
 * The signed-in account's ingest key for one purpose ("demo" page, "bookmarklet"). The
 * API answers with the same active key every time (a new one once it is revoked), so
 * nothing is stored: another account signing in on this browser gets its own.
 */
export async function keyFor(api, purpose) {
  if (!api.purposeKeys.has(purpose)) {
    const pending = api.purposeKey(purpose);
    api.purposeKeys.set(purpose, pending);
    pending.catch(() => api.purposeKeys.delete(purpose));
  }
  return (await api.purposeKeys.get(purpose)).key;
}

/** An API error message as a sentence: capitalised, whatever the API sent. */
export function sentence(error) {
  const text = String((error && error.message) || error);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function formatDuration(ms) {
  const seconds = Math.round((ms || 0) / 1000);
  if (seconds >= 3600) {
    const minutes = Math.floor(seconds / 60) % 60;
    return `${Math.floor(seconds / 3600)}:${String(minutes).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
  }
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
