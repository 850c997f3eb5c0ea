/** Ingest keys page: create and revoke keys, and the snippet that records a page with one. */
import { Api, escapeHtml, loadConfig, requireSignIn } from "./api.js";
import { mountControls } from "./key-controls.js";
import { mountWorkspaceSwitcher } from "./workspace.js";

const $ = (selector) => document.querySelector(selector);

const PURPOSES = { demo: "used by the demo page", bookmarklet: "used by the bookmarklet" };

/** The script tag for a page to record itself, with this site's real addresses. */
function recorderSnippet({ siteOrigin, ingestUrl, key, keyControls }) {
  const attribute = (value) => String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  return `<script src="${attribute(`${siteOrigin}/assets/recorder.js`)}" async
        data-ingest-url="${attribute(ingestUrl)}" data-ingest-key="${attribute(key)}"${keyControls ? " data-key-controls" : ""}></script>`;
}

/**
 * Put text on the clipboard; where the Clipboard API is missing or refused (an http
 * origin, a denied permission), select the element's text so Ctrl+C takes it.
 * Resolves to true when the text was copied, false when it is only selected.
 */
async function copyText(text, element) {
  if (navigator.clipboard && navigator.clipboard.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused: fall back to selecting it.
    }
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

function snippetBox(config) {
  const code = $("#snippet");
  const button = $("#copy-snippet");
  const siteOrigin = location.origin;
  const ingestUrl = new URL(config.ingestUrl || config.apiUrl, location.href).href.replace(/\/$/, "");
  let reset = null;
  let shown = null;
  const show = (key) => {
    shown = key;
    const keyControls = $("#snippet-key-controls").checked;
    code.textContent = recorderSnippet({ siteOrigin, ingestUrl, key: key || "CREATE_A_KEY_ABOVE", keyControls });
    $("#snippet-needs-key").hidden = Boolean(key);
    button.disabled = !key;
  };
  $("#snippet-key-controls").addEventListener("change", () => show(shown));
  button.addEventListener("click", async () => {
    const copied = await copyText(code.textContent, code);
    button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
    clearTimeout(reset);
    reset = setTimeout(() => (button.textContent = "Copy"), 2500);
  });
  show(null);
  return show;
}

/** When a key was last used; for a revoked key still sent by some page, that it is. */
function usage(key) {
  const when = (ms) => new Date(ms).toLocaleString();
  if (key.revoked && key.lastRefusedAt) {
    const times = key.refusals === 1 ? "once" : `${key.refusals} times`;
    return `Still sent by a page: refused ${times}, last at ${when(key.lastRefusedAt)}. Take it off that page.`;
  }
  if (key.lastUsedAt) return `last used ${when(key.lastUsedAt)}`;
  return key.revoked ? "" : "never used yet";
}

/**
 * What went wrong for a key's pages lately: another origin refused, a page's policy
 * blocking the recorder. The origin to allow is this stack's own (`ingestOrigin`), never
 * the report's: a report comes with a public key, and a forged one could name any.
 */
function troubles(key, ingestOrigin) {
  const when = (ms) => new Date(ms).toLocaleString();
  const said = [];
  if (key.lastOriginRefusedAt) {
    said.push(`Refused on ${key.refusedOrigin}, not one of its allowed origins (last at ${when(key.lastOriginRefusedAt)}).`);
  }
  if (key.lastBlockedAt) {
    said.push(
      `A page's Content-Security-Policy blocked the recorder (its ${key.blockedDirective}, last at ${when(key.lastBlockedAt)}): add ${ingestOrigin} to that page's connect-src.`,
    );
  }
  return said;
}

async function keysPage(api, config) {
  const list = $("#keys");
  const status = $("#keys-status");
  const fail = (error) => {
    if (error.code === "session_expired") return;
    status.textContent = error.message.charAt(0).toUpperCase() + error.message.slice(1);
    status.className = "error";
  };
  const showSnippet = snippetBox(config);
  const ingestOrigin = new URL(config.ingestUrl || config.apiUrl, location.href).origin;

  // Renders can overlap (the page's first, and the one after a key is made): only the
  // newest one's answer is drawn, so a slower, older list never replaces a newer one.
  let renders = 0;
  async function render() {
    const generation = (renders += 1);
    const { keys } = await api.keys();
    if (generation !== renders) return;
    list.replaceChildren();
    if (!keys.length) list.innerHTML = '<li class="empty">No keys yet.</li>';
    for (const key of keys) {
      const item = document.createElement("li");
      item.dataset.id = key.id;
      if (key.purpose) item.dataset.purpose = key.purpose;
      const purpose = PURPOSES[key.purpose] || (key.purpose ? `for ${key.purpose}` : "");
      item.innerHTML = `
        <div class="key-name"><strong>${escapeHtml(key.name || key.purpose || "ingest key")}</strong>${
          purpose ? ` <span class="badge">${escapeHtml(purpose)}</span>` : ""
        }</div>
        <div class="key-facts"><code>rrk_${escapeHtml(key.id)}_…</code> <small>created ${escapeHtml(new Date(key.createdAt).toLocaleString())}</small>
          <small class="key-used">${escapeHtml(usage(key))}</small>${troubles(key, ingestOrigin)
            .map((text) => `<small class="key-trouble error">${escapeHtml(text)}</small>`)
            .join("")}</div>
        <div class="key-actions">${
          key.revoked ? '<span class="revoked">Revoked</span>' : '<button type="button" class="revoke secondary">Revoke</button>'
        }</div>`;
      if (!key.revoked) mountControls(item, key, api);
      const revoke = item.querySelector(".revoke");
      if (revoke)
        revoke.addEventListener("click", async () => {
          if (!confirm(`Revoke "${key.name || key.purpose}"? Pages using it stop recording.`)) return;
          try {
            await api.revokeKey(key.id);
            await render();
          } catch (error) {
            fail(error);
          }
        });
      list.append(item);
    }
  }

  $("#create-key").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || $("#create-key button");
    button.disabled = true;
    status.textContent = "";
    try {
      const created = await api.createKey($("#key-name").value.trim() || "ingest key");
      $("#new-key").hidden = false;
      $("#new-key-value").textContent = created.key;
      showSnippet(created.key);
      $("#key-name").value = "";
      await render();
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  });
  // The page ships the button disabled: clicked (or Enter pressed) before this handler
  // existed, the browser would submit the form itself, to keys.html?, and make no key.
  $("#create-key button").disabled = false;
  await render().catch((error) => {
    // A member of a team workspace: keys are its admins' (the form would only be refused).
    if (error.code === "admin_only") {
      $("#create-key").hidden = true;
      status.textContent = "Only this workspace's admins see and make its ingest keys.";
      return;
    }
    fail(error);
  });
}

async function main() {
  const config = await loadConfig();
  const api = new Api(config);
  $("#sign-out").addEventListener("click", () => {
    api.signOut();
    location.assign("index.html");
  });
  if (!requireSignIn(api)) return;
  // Beside the page, not before it: the keys page says itself when the API is unreachable.
  mountWorkspaceSwitcher(api).catch(() => null);
  await keysPage(api, config);
}

main().catch((error) => document.querySelector("main").prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
