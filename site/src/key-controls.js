/**
 * The keys page's form for one key's recording controls and allowed origins (PATCH
 * /keys/{id}): what pages whose snippet has data-key-controls record with that key (each
 * field left empty keeps the snippet's own option), and which sites' pages may use it.
 */
import { escapeHtml } from "./api.js";

const LEVELS = ["error", "warn", "info", "log"];

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

/**
 * The controls a form holds, as the API takes them (a field left empty is not sent, so
 * the snippet's option holds); throws an Error naming the field for a value out of range.
 */
export function readControls(form) {
  const value = (name) => form.elements[name].value.trim();
  const controls = {};
  if (value("sampleRate") !== "") {
    const percent = Number(value("sampleRate"));
    if (!(percent >= 0 && percent <= 100)) throw new Error("Sample rate: a percentage from 0 to 100.");
    controls.sampleRate = percent / 100;
  }
  const allow = lines(form.elements.urlAllow.value);
  const deny = lines(form.elements.urlDeny.value);
  if (allow.length) controls.urlAllow = allow;
  if (deny.length) controls.urlDeny = deny;
  for (const [name, field, most] of [
    ["minimumDurationMs", "Minimum visit", 600],
    ["onErrorBufferMs", "Only on errors", 300],
  ]) {
    if (value(name) === "") continue;
    const seconds = Number(value(name));
    if (!(seconds >= 0 && seconds <= most)) throw new Error(`${field}: seconds from 0 to ${most}.`);
    if (seconds) controls[name] = Math.round(seconds * 1000);
  }
  if (controls.onErrorBufferMs) {
    const levels = LEVELS.filter((level) => form.elements[`level-${level}`].checked);
    if (!levels.length) throw new Error("Only on errors: choose at least one console level.");
    controls.onErrorLevels = levels;
  }
  if (form.elements.maskAllText.checked) controls.maskAllText = true;
  if (form.elements.blockMedia.checked) controls.blockMedia = true;
  return controls;
}

/** The allowed origins a form holds (one a line; the API checks each). */
export function readOrigins(form) {
  return lines(form.elements.allowedOrigins.value);
}

/** The form's markup for a key's `controls` (its fields named as the controls are) and `origins`. */
export function controlsForm(controls, origins = []) {
  const seconds = (ms) => (ms ? String(ms / 1000) : "");
  const levels = controls.onErrorLevels || ["error"];
  return `
    <form class="key-controls-form" novalidate>
      <label>Sample rate <span class="hint">% of visits recorded</span>
        <input name="sampleRate" type="number" min="0" max="100" step="0.1" value="${controls.sampleRate != null ? Math.round(controls.sampleRate * 1000) / 10 : ""}" placeholder="100"></label>
      <label>Minimum visit <span class="hint">seconds; shorter visits are never sent</span>
        <input name="minimumDurationMs" type="number" min="0" max="600" step="1" value="${seconds(controls.minimumDurationMs)}" placeholder="0"></label>
      <label>Record only URLs <span class="hint">one pattern a line, * a wildcard</span>
        <textarea name="urlAllow" rows="2" placeholder="https://shop.example/*">${escapeHtml((controls.urlAllow || []).join("\n"))}</textarea></label>
      <label>Never record URLs <span class="hint">one pattern a line</span>
        <textarea name="urlDeny" rows="2" placeholder="*/account*">${escapeHtml((controls.urlDeny || []).join("\n"))}</textarea></label>
      <label>Only on errors <span class="hint">seconds kept before the error; 0 or empty: off</span>
        <input name="onErrorBufferMs" type="number" min="0" max="300" step="1" value="${seconds(controls.onErrorBufferMs)}" placeholder="0"></label>
      <fieldset><legend>Console levels that send it</legend>${LEVELS.map(
        (level) => `<label class="check"><input type="checkbox" name="level-${level}"${levels.includes(level) ? " checked" : ""}> ${level}</label>`,
      ).join("")}</fieldset>
      <label>Allowed origins <span class="hint">one a line, e.g. https://shop.example or https://*.shop.example; empty: any site</span>
        <textarea name="allowedOrigins" rows="2" placeholder="https://shop.example">${escapeHtml(origins.join("\n"))}</textarea></label>
      <label class="check"><input type="checkbox" name="maskAllText"${controls.maskAllText ? " checked" : ""}> Mask all text</label>
      <label class="check"><input type="checkbox" name="blockMedia"${controls.blockMedia ? " checked" : ""}> Block media</label>
      <div class="key-controls-actions">
        <button type="submit">Save controls</button>
        <button type="button" class="secondary clear-controls">Clear</button>
        <span class="key-controls-status" role="status"></span>
      </div>
    </form>`;
}

/** Mounts a key's controls (a disclosure with its form) in `item`; `saved` runs after a change. */
export function mountControls(item, key, api, saved) {
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
  async function save(controls, allowedOrigins) {
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      const answer = await api.configureKey(key.id, { controls, allowedOrigins });
      box.querySelector(".controls-summary").textContent = describeControls(answer.controls, answer.allowedOrigins);
      say("Saved. Pages read it within 5 minutes.");
      saved(answer);
    } catch (error) {
      say(error.message.charAt(0).toUpperCase() + error.message.slice(1), true);
    } finally {
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let controls;
    try {
      controls = readControls(form);
    } catch (error) {
      say(error.message, true);
      return;
    }
    const origins = readOrigins(form);
    save(Object.keys(controls).length ? controls : null, origins.length ? origins : null);
  });
  form.querySelector(".clear-controls").addEventListener("click", () => {
    // Every field back to "the snippet's option holds".
    for (const field of form.querySelectorAll("input, textarea")) {
      if (field.type === "checkbox") field.checked = field.name === "level-error";
      else field.value = "";
    }
    save(null, null);
  });
  item.append(box);
  return box;
}
