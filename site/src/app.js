/** Recordings page: sign up / sign in, then the owner's recordings, newest first. */
import { Api, escapeHtml, formatDuration, loadConfig } from "./api.js";

const $ = (selector) => document.querySelector(selector);

async function main() {
  const api = new Api(await loadConfig());
  if (api.signedIn) showRecordings(api);
  else showAuth(api);
  $("#sign-out").addEventListener("click", () => {
    api.signOut();
    location.reload();
  });
}

function showAuth(api) {
  $("#auth").hidden = false;
  $("#recordings-section").hidden = true;
  const message = $("#auth-message");
  const values = () => [$("#email").value.trim(), $("#password").value];
  $("#sign-in").addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      await api.signIn(...values());
      location.reload();
    } catch (error) {
      message.textContent = error.code === "not_confirmed" ? "Enter the code we emailed you, then sign in." : error.message;
      if (error.code === "not_confirmed") $("#confirm-row").hidden = false;
    }
  });
  $("#sign-up").addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const [email, password] = values();
      await api.signUp(email, password);
      $("#confirm-row").hidden = false;
      message.textContent = "Account created. Enter the code we emailed you.";
    } catch (error) {
      message.textContent = error.message;
    }
  });
  $("#confirm").addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const [email, password] = values();
      await api.confirm(email, $("#code").value.trim());
      await api.signIn(email, password);
      location.reload();
    } catch (error) {
      message.textContent = error.message;
    }
  });
}

function card(recording) {
  const when = new Date(recording.createdAt).toLocaleString();
  const element = document.createElement("article");
  element.className = "recording";
  element.dataset.id = recording.id;
  element.innerHTML = `
    <a class="thumb" href="replay.html?id=${encodeURIComponent(recording.id)}">
      <img alt="" loading="lazy" src="${escapeHtml(recording.screenshotUrl)}">
    </a>
    <div class="meta">
      <a class="title" href="replay.html?id=${encodeURIComponent(recording.id)}">${escapeHtml(recording.title || recording.url || recording.id)}</a>
      <div class="url">${escapeHtml(recording.url || "")}</div>
      <div class="facts"><time>${escapeHtml(when)}</time> · <span class="duration">${formatDuration(recording.durationMs)}</span> · ${recording.eventCount} events</div>
      <button class="delete" type="button">Delete</button>
    </div>`;
  const image = element.querySelector("img");
  image.addEventListener("error", () => image.replaceWith(Object.assign(document.createElement("span"), { className: "no-thumb", textContent: "no screenshot" })));
  element.querySelector(".delete").addEventListener("click", async () => {
    if (!confirm(`Delete this recording for good?\n${recording.title || recording.url || recording.id}`)) return;
    card.api.deleteRecording(recording.id).then(() => element.remove(), (error) => alert(error.message));
  });
  return element;
}

function showRecordings(api) {
  card.api = api;
  $("#auth").hidden = true;
  $("#recordings-section").hidden = false;
  const list = $("#recordings");
  const sentinel = $("#more");
  let cursor = null;
  let done = false;
  let loading = false;
  async function more() {
    if (loading || done) return;
    loading = true;
    try {
      const page = await api.recordings(cursor);
      page.recordings.forEach((recording) => list.append(card(recording)));
      cursor = page.cursor;
      done = !cursor;
      sentinel.textContent = done ? (list.children.length ? "" : "No recordings yet: open the demo page or use the bookmarklet.") : "Loading more…";
    } catch (error) {
      sentinel.textContent = error.status === 401 ? "Session expired: sign in again." : error.message;
      if (error.status === 401) api.signOut();
    } finally {
      loading = false;
    }
  }
  new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && more()).observe(sentinel);
  more();
}

main().catch((error) => {
  document.body.prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message }));
});
