/**
 * The network plugin: the page's fetch and XMLHttpRequest calls as rrweb plugin events
 * ("rrweb/network@1"), one per finished request: method, URL, status (0 for a network
 * error), start, duration and sizes. Headers and bodies only where the site opts in
 * (recordNetwork: {headers: true, bodies: true}), and even then secrets are redacted by
 * name: Authorization, cookies, and any header, query parameter or JSON field whose name
 * says token, secret, password, key or session, plus the site's own names. The
 * recorder's own requests are never recorded (it keeps the browser's fetch from before
 * the plugin).
 */

export const NETWORK_PLUGIN = "rrweb/network@1";
const SECRET = /authorization|cookie|token|secret|passw|api[-_]?key|session|csrf|xsrf|signature|credential/i;
const REDACTED = "[redacted]";
// Bodies are cut to this many characters: a replay is not an archive of the API.
const BODY_CHARS = 10_000;
const URL_CHARS = 2_000;

/** Whether a header, parameter or field name is a secret's (the default deny-list, and the site's). */
function secretName(name, extra) {
  const lower = String(name).toLowerCase();
  return SECRET.test(lower) || extra.includes(lower);
}

/** A URL with the values of secret-named query parameters redacted, cut to URL_CHARS. */
export function redactUrl(url, extra = []) {
  try {
    const parsed = new URL(url, globalThis.location ? globalThis.location.href : undefined);
    for (const name of [...parsed.searchParams.keys()]) {
      if (secretName(name, extra)) parsed.searchParams.set(name, REDACTED);
    }
    return parsed.href.slice(0, URL_CHARS);
  } catch (_) {
    return String(url).slice(0, URL_CHARS);
  }
}

/** Headers as an object, secret-named ones redacted. */
export function redactHeaders(entries, extra = []) {
  const out = {};
  for (const [name, value] of entries) out[name.toLowerCase()] = secretName(name, extra) ? REDACTED : String(value);
  return out;
}

/** A body as text, secret-named JSON fields redacted (at any depth), cut to BODY_CHARS. */
export function redactBody(text, extra = []) {
  if (typeof text !== "string") return null;
  try {
    const walk = (value) => {
      if (Array.isArray(value)) return value.map(walk);
      if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, secretName(key, extra) ? REDACTED : walk(inner)]));
      }
      return value;
    };
    return JSON.stringify(walk(JSON.parse(text))).slice(0, BODY_CHARS);
  } catch (_) {
    // Not JSON: form-encoded secrets are redacted by name, anything else kept as it is.
    if (/^[^=&\s]+=[^&]*(&[^=&\s]+=[^&]*)*$/.test(text)) {
      const params = new URLSearchParams(text);
      for (const name of [...params.keys()]) if (secretName(name, extra)) params.set(name, REDACTED);
      return params.toString().slice(0, BODY_CHARS);
    }
    return text.slice(0, BODY_CHARS);
  }
}

const sizeOf = (body) => (typeof body === "string" ? body.length : body && body.byteLength ? body.byteLength : body && body.size ? body.size : null);

/**
 * The rrweb record plugin. `ignore(url)` says which URLs are the recorder's own;
 * `options` is recordNetwork's object: {headers, bodies, redact: [names]}.
 */
export function networkPlugin({ ignore, options = {} }) {
  const extra = (options.redact || []).map((name) => String(name).toLowerCase());
  const headers = Boolean(options.headers);
  const bodies = Boolean(options.bodies);
  return {
    name: NETWORK_PLUGIN,
    options: {},
    observer(emit, win) {
      const restore = [];
      const report = (entry) => {
        try {
          emit(entry);
        } catch (_) {
          /* recording must never break the page's requests */
        }
      };
      const { fetch: pageFetch, XMLHttpRequest: Xhr, performance } = win;
      const clock = () => (performance && performance.now ? performance.now() : Date.now());
      if (typeof pageFetch === "function") {
        win.fetch = function recordedFetch(input, init) {
          const url = typeof input === "string" ? input : input && input.url ? input.url : String(input);
          if (ignore(url)) return pageFetch.apply(this, arguments);
          const method = String((init && init.method) || (input && input.method) || "GET").toUpperCase();
          const startedAt = Date.now();
          const started = clock();
          const entry = { type: "fetch", method, url: redactUrl(url, extra), startedAt };
          const requestBody = init && init.body;
          entry.requestBytes = sizeOf(requestBody);
          if (headers && init && init.headers) entry.requestHeaders = redactHeaders(new Headers(init.headers).entries(), extra);
          if (bodies && typeof requestBody === "string") entry.requestBody = redactBody(requestBody, extra);
          return pageFetch.apply(this, arguments).then(
            (response) => {
              entry.status = response.status;
              entry.durationMs = Math.round(clock() - started);
              const length = response.headers.get("content-length");
              entry.responseBytes = length === null ? null : Number(length);
              if (headers) entry.responseHeaders = redactHeaders(response.headers.entries(), extra);
              if (bodies) {
                response
                  .clone()
                  .text()
                  .then((text) => {
                    entry.responseBody = redactBody(text, extra);
                    report(entry);
                  }, () => report(entry));
              } else report(entry);
              return response;
            },
            (error) => {
              entry.status = 0;
              entry.durationMs = Math.round(clock() - started);
              entry.error = String((error && error.message) || error).slice(0, 200);
              report(entry);
              throw error;
            },
          );
        };
        restore.push(() => (win.fetch = pageFetch));
      }
      if (Xhr && Xhr.prototype) {
        const { open, send, setRequestHeader } = Xhr.prototype;
        Xhr.prototype.open = function recordedOpen(method, url) {
          this.__rrNetwork = { type: "xhr", method: String(method).toUpperCase(), rawUrl: String(url), requestHeaders: [] };
          return open.apply(this, arguments);
        };
        Xhr.prototype.setRequestHeader = function recordedHeader(name, value) {
          if (this.__rrNetwork) this.__rrNetwork.requestHeaders.push([name, value]);
          return setRequestHeader.apply(this, arguments);
        };
        Xhr.prototype.send = function recordedSend(body) {
          const pending = this.__rrNetwork;
          if (pending && !ignore(pending.rawUrl)) {
            const started = clock();
            const entry = { type: "xhr", method: pending.method, url: redactUrl(pending.rawUrl, extra), startedAt: Date.now() };
            entry.requestBytes = sizeOf(body);
            if (headers) entry.requestHeaders = redactHeaders(pending.requestHeaders, extra);
            if (bodies && typeof body === "string") entry.requestBody = redactBody(body, extra);
            this.addEventListener("loadend", () => {
              entry.status = this.status;
              entry.durationMs = Math.round(clock() - started);
              const length = this.getResponseHeader("content-length");
              entry.responseBytes = length === null ? null : Number(length);
              if (headers) {
                const lines = (this.getAllResponseHeaders() || "").trim().split(/[\r\n]+/).filter(Boolean);
                entry.responseHeaders = redactHeaders(lines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]), extra);
              }
              if (bodies && (this.responseType === "" || this.responseType === "text")) entry.responseBody = redactBody(this.responseText, extra);
              report(entry);
            });
          }
          return send.apply(this, arguments);
        };
        restore.push(() => Object.assign(Xhr.prototype, { open, send, setRequestHeader }));
      }
      return () => restore.forEach((undo) => undo());
    },
  };
}
