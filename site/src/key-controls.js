/**
 * The keys page's form for one key's recording controls and allowed origins (PATCH
 * /keys/{id}): what pages whose snippet has data-key-controls record with that key (each
 * field left empty keeps the snippet's own option), and which sites' pages may use it.
 */
import { escapeHtml } from "./api.js";

const LEVELS = ["error", "warn", "info", "log"];
// What the API takes (chalicelib/controls.py), said here first, next to the field.
const URL_RULE = /^(?:https?:\/\/|\*)\S*$/;
const ORIGIN = /^https?:\/\/(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$/i;
const MOST = 20;

const lines = (text) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);

/** A one-line account of a key's controls and origins, for its row. */
export function describeControls(controls, origins = []) {
  const parts = [];
  if (origins.length) parts.push(`only on ${origins.length === 1 ? origins[0] : `${origins.length} origins`}`);
  if (controls.sampleRate != null) parts.push(`${Math.round(controls.sampleRate * 1000) / 10}% of visits`);
  if (controls.urlAllow?.length) parts.push(`${controls.urlAllow.length} URL rule${controls.urlAllow.length === 1 ? "" : "s"} to record`);
  if (controls.urlDeny?.length) parts.push(`${controls.urlDeny.length} URL rule${controls.urlDeny.length === 1 ? "" : "s"} never to record`);
  if (controls.minimumDurationMs) parts.push(`visits of ${controls.minimumDurationMs / 1000} s or more`);
  if (controls.onErrorBufferMs) parts.push(`only on ${(controls.onErrorLevels || ["error"]).join("/")}, with ${controls.onErrorBufferMs / 1000} s before`);
  if (controls.maskAllText) parts.push("text masked");
  if (controls.blockMedia) parts.push("media blocked");
  return parts.length ? parts.join(", ") : "none: the snippet's options hold, on any site";
}

/** An error about one field of the form (`field`: its name), shown next to it. */
class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/**
 * The controls and origins a form holds, as the API takes them: every control, null
 * where its field is empty (the API then keeps no value, so the snippet's option holds);
 * allowedOrigins null when there are none. Throws the list of every field's FieldError.
 */
export function readForm(form) {
  const errors = [];
  const number = (name, label, most, scale) => {
    const field = form.elements[name];
    // A typo ("5e") reads as an empty value: only validity says it is not one.
    if (field.validity.badInput) {
      errors.push(new FieldError(name, `${label}: not a number.`));
      return null;
    }
    if (field.value.trim() === "") return null;
    const value = Number(field.value);
    if (!(value >= 0 && value <= most)) {
      errors.push(new FieldError(name, `${label}: a number from 0 to ${most}.`));
      return null;
    }
    return Math.round(value * scale * 1e6) / 1e6;
  };
  const controls = {
    sampleRate: number("sampleRate", "Sample rate", 100, 0.01),
    minimumDurationMs: number("minimumDurationMs", "Minimum visit", 600, 1000) || null,
    onErrorBufferMs: number("onErrorBufferMs", "Only on errors", 300, 1000) || null,
    urlAllow: null,
    urlDeny: null,
    onErrorLevels: null,
    maskAllText: form.elements.maskAllText.checked || null,
    blockMedia: form.elements.blockMedia.checked || null,
  };
  for (const [name, label] of [
    ["urlAllow", "Record only URLs"],
    ["urlDeny", "Never record URLs"],
  ]) {
    const rules = lines(form.elements[name].value);
    const bad = rules.findIndex((rule) => !URL_RULE.test(rule));
    if (bad >= 0) errors.push(new FieldError(name, `${label}, line ${bad + 1}: a pattern starts with https://, http:// or *, without spaces.`));
    else if (rules.length > MOST) errors.push(new FieldError(name, `${label}: at most ${MOST} patterns.`));
    else if (rules.length) controls[name] = rules;
  }
  if (controls.onErrorBufferMs) {
    const levels = LEVELS.filter((level) => form.elements[`level-${level}`].checked);
    if (!levels.length) errors.push(new FieldError("onErrorBufferMs", "Only on errors: choose at least one console level."));
    controls.onErrorLevels = levels;
  }
  const origins = lines(form.elements.allowedOrigins.value);
  const badOrigin = origins.findIndex((origin) => !ORIGIN.test(origin.replace(/\/$/, "")));
  if (badOrigin >= 0) {
    errors.push(new FieldError("allowedOrigins", `Allowed origins, line ${badOrigin + 1}: an origin such as https://shop.example or https://*.shop.example, without a path.`));
  } else if (origins.length > MOST) {
    errors.push(new FieldError("allowedOrigins", `Allowed origins: at most ${MOST}.`));
  }
  if (errors.length) throw errors;
  return { controls, allowedOrigins: origins.length ? origins : null };
}

// Which field an API refusal is about: from its code, or the control its message names.
function fieldOf(error) {
  if (error.code === "invalid_origins") return "allowedOrigins";
  const named = /^(sampleRate|urlAllow|urlDeny|minimumDurationMs|onErrorBufferMs|onErrorLevels)\b/.exec(error.message || "");
  if (!named) return null;
  return named[1] === "onErrorLevels" ? "onErrorBufferMs" : named[1];
}

const slot = (name) => `<span class="field-error error" data-for="${name}"></span>`;

/** The form's markup for a key's `controls` (its fields named as the controls are) and `origins`. */
export function controlsForm(controls, origins = []) {
  const seconds = (ms) => (ms ? String(ms / 1000) : "");
  const levels = controls.onErrorLevels || ["error"];
  const rate = controls.sampleRate != null ? Math.round(controls.sampleRate * 1000) / 10 : "";
  return `
    <form class="key-controls-form" novalidate>
      <label>Sample rate <span class="hint">% of visits recorded</span>
        <input name="sampleRate" type="number" min="0" max="100" step="0.1" value="${rate}" placeholder="100">${slot("sampleRate")}</label>
      <label>Minimum visit <span class="hint">seconds; shorter visits are never sent</span>
        <input name="minimumDurationMs" type="number" min="0" max="600" step="1" value="${seconds(controls.minimumDurationMs)}" placeholder="0">${slot("minimumDurationMs")}</label>
      <label>Record only URLs <span class="hint">one pattern a line, * a wildcard</span>
        <textarea name="urlAllow" rows="2" placeholder="https://shop.example/*">${escapeHtml((controls.urlAllow || []).join("\n"))}</textarea>${slot("urlAllow")}</label>
      <label>Never record URLs <span class="hint">one pattern a line</span>
        <textarea name="urlDeny" rows="2" placeholder="*/account*">${escapeHtml((controls.urlDeny || []).join("\n"))}</textarea>${slot("urlDeny")}</label>
      <label>Only on errors <span class="hint">seconds kept before the error; 0 or empty: off</span>
        <input name="onErrorBufferMs" type="number" min="0" max="300" step="1" value="${seconds(controls.onErrorBufferMs)}" placeholder="0">${slot("onErrorBufferMs")}</label>
      <fieldset><legend>Console levels that send it</legend>${LEVELS.map(
        (level) => `<label class="check"><input type="checkbox" name="level-${level}"${levels.includes(level) ? " checked" : ""}> ${level}</label>`,
      ).join("")}</fieldset>
      <label>Allowed origins <span class="hint">one a line, e.g. https://shop.example or https://*.shop.example; empty: any site</span>
        <textarea name="allowedOrigins" rows="2" placeholder="https://shop.example">${escapeHtml(origins.join("\n"))}</textarea>${slot("allowedOrigins")}</label>
      <label class="check"><input type="checkbox" name="maskAllText"${controls.maskAllText ? " checked" : ""}> Mask all text</label>
      <label class="check"><input type="checkbox" name="blockMedia"${controls.blockMedia ? " checked" : ""}> Block media</label>
      <div class="key-controls-actions">
        <button type="submit">Save controls</button>
        <button type="button" class="secondary clear-controls">Clear</button>
        <span class="key-controls-status" role="status"></span>
      </div>
    </form>`;
}

/** Mounts a key's controls (a disclosure with its form) in `item`. */
export function mountControls(item, key, api) {
  const box = document.createElement("details");
  box.className = "key-controls";
  box.innerHTML = `<summary>Recording controls: <span class="controls-summary">${escapeHtml(
    describeControls(key.controls || {}, key.allowedOrigins || []),
  )}</span></summary>${controlsForm(key.controls || {}, key.allowedOrigins || [])}`;
  const form = box.querySelector("form");
  const status = box.querySelector(".key-controls-status");
  const say = (text, error = false) => {
    status.textContent = text;
    status.className = `key-controls-status ${error ? "error" : "ok"}`;
  };
  // Each error next to its field, the field marked invalid, the first one focused.
  function showErrors(errors) {
    for (const place of form.querySelectorAll(".field-error")) place.textContent = "";
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    for (const error of errors) {
      form.querySelector(`.field-error[data-for="${error.field}"]`).textContent = error.message;
      form.elements[error.field].setAttribute("aria-invalid", "true");
    }
    if (!errors.length) return;
    form.elements[errors[0].field].focus();
    say(errors.length === 1 ? "Not saved: a field to correct." : `Not saved: ${errors.length} fields to correct.`, true);
  }
  async function save(controls, allowedOrigins) {
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      const answer = await api.configureKey(key.id, { controls, allowedOrigins });
      box.querySelector(".controls-summary").textContent = describeControls(answer.controls, answer.allowedOrigins);
      say("Saved. Pages read it within 5 minutes.");
    } catch (error) {
      const field = fieldOf(error);
      const text = error.message.charAt(0).toUpperCase() + error.message.slice(1);
      if (field) showErrors([new FieldError(field, text)]);
      else say(text, true);
    } finally {
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let read;
    try {
      read = readForm(form);
    } catch (errors) {
      if (!Array.isArray(errors)) throw errors;
      showErrors(errors);
      return;
    }
    showErrors([]);
    save(read.controls, read.allowedOrigins);
  });
  form.querySelector(".clear-controls").addEventListener("click", () => {
    // Every field back to "the snippet's option holds".
    for (const field of form.querySelectorAll("input, textarea")) {
      if (field.type === "checkbox") field.checked = field.name === "level-error";
      else field.value = "";
    }
    showErrors([]);
    save(null, null);
  });
  item.append(box);
  return box;
}
