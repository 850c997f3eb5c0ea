/**
 * Recordings page: sign in (sign-in.js), then the owner's recordings, newest first, with a
 * search box and filters kept in the page's own query string (so a filtered list can be
 * shared and reloaded).
 */
import { Api, escapeHtml, formatDuration, loadConfig, mailNote, sentence } from "./api.js";
import { showAuth } from "./sign-in.js";
import { mountWorkspaceSwitcher } from "./workspace.js";

const $ = (selector) => document.querySelector(selector);

const PAGE_SIZE = 24;
// A filtered search may walk many pages that hold nothing: this many empty pages in a
// row, then the visitor decides whether to go on.
const EMPTY_PAGES_PER_RUN = 10;
// Names in this page's query string (kept short and human: dates, seconds).
const FILTERS = ["q", "from", "to", "min", "max", "user", "errors"];

async function main() {
  const api = new Api(await loadConfig());
  $("#sign-out").addEventListener("click", () => {
    api.signOut();
    location.assign("index.html");
  });
  if (api.signedIn) {
    await joinInvited(api);
    showRecordings(api);
  } else {
    if (new URLSearchParams(location.search).has("invite")) {
      $("#invite-notice").textContent = `You were invited to a workspace: sign in with the email address the invite was sent to. New here? That address was emailed a temporary password to sign in with.${mailNote(api)}`;
      $("#invite-notice").hidden = false;
    }
    showAuth(api);
  }
}

/** The cards picked with their checkboxes: "Delete selected" deletes them, 50 a request. */
function bindSelection(api, list) {
  const picked = () => [...list.querySelectorAll(".pick:checked")].map((box) => box.closest("article").dataset.id);
  list.addEventListener("change", (event) => {
    if (!event.target.classList.contains("pick")) return;
    const count = picked().length;
    $("#selection").hidden = !count;
    $("#delete-selected").textContent = `Delete ${count} selected`;
    $("#selection-status").textContent = "";
  });
  $("#delete-selected").addEventListener("click", async () => {
    const ids = picked();
    if (!ids.length || !confirm(`Delete ${ids.length} recording${ids.length === 1 ? "" : "s"}? This cannot be undone.`)) return;
    try {
      let deleted = 0;
      for (let start = 0; start < ids.length; start += 50) {
        const report = await api.deleteRecordings(ids.slice(start, start + 50));
        for (const id of [...report.deleted, ...report.notFound]) list.querySelector(`article[data-id="${CSS.escape(id)}"]`)?.remove();
        deleted += report.deleted.length;
      }
      $("#selection-status").textContent = `Deleted ${deleted} recording${deleted === 1 ? "" : "s"}.`;
      $("#delete-selected").textContent = "Delete 0 selected";
    } catch (error) {
      $("#selection-status").textContent = sentence(error);
    }
  });
}

/**
 * With the list filtered to one identified visitor, an admin may delete every recording
 * of that person in the workspace (a data-deletion request), 50 a request until none is left.
 */
async function offerPersonDelete(api, user, workspace, reload) {
  const actions = $("#person-actions");
  actions.hidden = true;
  if (!user || (await workspace)?.role !== "admin") return;
  const button = $("#delete-person");
  button.textContent = `Delete every recording of ${user}`;
  actions.hidden = false;
  button.onclick = async () => {
    if (!confirm(`Delete every recording of ${user} in this workspace? This cannot be undone.`)) return;
    button.disabled = true;
    let deleted = 0;
    try {
      for (;;) {
        const report = await api.deletePerson(user);
        deleted += report.deleted.length;
        $("#person-status").textContent = `Deleted ${deleted} recording${deleted === 1 ? "" : "s"}…`;
        if (!report.more) break;
      }
      $("#person-status").textContent = `Deleted ${deleted} recording${deleted === 1 ? "" : "s"} of ${user}.`;
      reload();
    } catch (error) {
      $("#person-status").textContent = sentence(error);
    } finally {
      button.disabled = false;
    }
  };
}

/**
 * An invite link (`?invite=<token>`), once signed in (the sign-in form keeps the query):
 * join its workspace and switch to it, then take the token out of the address.
 */
async function joinInvited(api) {
  const query = new URLSearchParams(location.search);
  const token = query.get("invite");
  if (!token) return;
  query.delete("invite");
  history.replaceState(null, "", `${location.pathname}${String(query) ? `?${query}` : ""}`);
  const notice = $("#invite-notice");
  try {
    const workspace = await api.redeemInvite(token);
    api.workspace = workspace.id;
    notice.textContent = `You joined ${workspace.name}.`;
  } catch (error) {
    // The API answers one 404 for used, revoked, expired and someone else's invites.
    notice.textContent =
      error.code === "no_such_invite"
        ? "This invite cannot be used: it was used already, revoked or expired, or it was sent to another email address than this account's."
        : `This invite cannot be used: ${sentence(error)}`;
    notice.classList.add("error");
  }
  notice.hidden = false;
}

/** The page's filters from its query string (the form's values, as typed). */
function readFilters(search = location.search) {
  const query = new URLSearchParams(search);
  const filters = {};
  for (const name of FILTERS) {
    const value = (query.get(name) || "").trim();
    if (value) filters[name] = value;
  }
  return filters;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const localDay = (value) => {
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day);
};

/** The page's filters as the API's query parameters: days become ms ranges, seconds ms. */
function apiFilters(filters) {
  const query = {};
  if (filters.q) query.q = filters.q.slice(0, 200);
  if (filters.user) query.user = filters.user;
  // Whole days in the visitor's time zone, "to" included.
  if (DATE.test(filters.from || "")) query.from = localDay(filters.from).getTime();
  if (DATE.test(filters.to || "")) {
    const end = localDay(filters.to);
    end.setDate(end.getDate() + 1);
    query.to = end.getTime() - 1;
  }
  const seconds = (value) => (value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Math.round(Number(value) * 1000) : undefined);
  if (seconds(filters.min) !== undefined) query.minDurationMs = seconds(filters.min);
  if (seconds(filters.max) !== undefined) query.maxDurationMs = seconds(filters.max);
  if (filters.errors === "1") query.errors = "1";
  return query;
}

function fillForm(filters) {
  for (const name of FILTERS) {
    const input = $(`#filter-${name}`);
    if (input.type === "checkbox") input.checked = filters[name] === "1";
    else input.value = filters[name] || "";
  }
  // Filters beyond the search box stay folded away unless one is in use.
  $("#more-filters").open = FILTERS.some((name) => name !== "q" && filters[name]);
  $("#clear-filters").hidden = !Object.keys(filters).length;
}

function formFilters() {
  const filters = {};
  for (const name of FILTERS) {
    const input = $(`#filter-${name}`);
    const value = input.type === "checkbox" ? (input.checked ? "1" : "") : input.value.trim();
    if (value) filters[name] = value;
  }
  return filters;
}

function host(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return url || "";
  }
}

const plural = (count, one, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

function card(api, recording) {
  const replay = `replay.html?id=${encodeURIComponent(recording.id)}`;
  const title = recording.title || host(recording.url) || recording.id;
  const pages = recording.pages && recording.pages.length ? recording.pages : [{ url: recording.url, title: recording.title }];
  const pageCount = recording.pageCount || pages.length;
  const environment = [recording.browser, recording.os, recording.device].filter(Boolean).join(" · ");
  const errors = recording.errorCount || 0;
  const created = new Date(recording.createdAt);
  const element = document.createElement("article");
  element.className = "recording";
  element.dataset.id = recording.id;
  element.innerHTML = `
    <a class="thumb" href="${replay}" tabindex="-1" aria-hidden="true">
      ${
        recording.screenshotUrl
          ? `<img alt="" loading="lazy" src="${escapeHtml(recording.screenshotUrl)}">`
          : '<span class="no-thumb"><span>No screenshot</span></span>'
      }
      <span class="duration">${formatDuration(recording.durationMs)}</span>
    </a>
    <div class="meta">
      <div class="title-row">
        <input class="pick" type="checkbox" aria-label="Select this recording">
        <a class="title" href="${replay}">${escapeHtml(title)}</a>
        <details class="card-menu">
          <summary aria-label="Actions for this recording" title="Actions">⋯</summary>
          <div class="menu"><button class="delete" type="button" aria-label="Delete recording">Delete…</button></div>
        </details>
      </div>
      <div class="url">${escapeHtml(host(recording.url))}</div>
      <div class="facts">
        <time datetime="${escapeHtml(created.toISOString())}">${escapeHtml(created.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }))}</time>
        ${environment ? `<span class="environment">${escapeHtml(environment)}</span>` : ""}
      </div>
      <div class="badges">
        ${recording.live ? '<span class="badge live">Live</span>' : ""}
        ${
          recording.settlesAt && recording.settlesAt > Date.now()
            ? `<span class="badge arriving" title="Ended: recordings nobody watches are stored in batches; its last events are stored by ${escapeHtml(new Date(recording.settlesAt).toLocaleTimeString())}">Storing</span>`
            : ""
        }
        ${errors ? `<span class="badge errors" title="Console errors">${escapeHtml(plural(errors, "error"))}</span>` : ""}
        ${recording.userId ? `<span class="badge user" title="Identified user">User ${escapeHtml(recording.userId)}</span>` : ""}
      </div>
      <details class="pages">
        <summary><span class="page-count">${escapeHtml(plural(pageCount, "page"))}</span></summary>
        <ol>${pages
          .map(
            (page) =>
              `<li><span class="page-title">${escapeHtml(page.title || host(page.url) || "Untitled")}</span> <small>${escapeHtml(host(page.url))}</small></li>`,
          )
          .join("")}${pageCount > pages.length ? `<li class="more-pages">and ${pageCount - pages.length} more</li>` : ""}</ol>
      </details>
    </div>`;
  const image = element.querySelector("img");
  // A link can still fail (expired, removed since listed): the same placeholder then.
  if (image)
    image.addEventListener("error", () => image.replaceWith(Object.assign(document.createElement("span"), { className: "no-thumb", innerHTML: "<span>No screenshot</span>" })));
  const menu = element.querySelector(".card-menu");
  element.querySelector(".delete").addEventListener("click", async () => {
    menu.open = false;
    if (!confirm(`Delete this recording for good?\n${title}`)) return;
    try {
      await api.deleteRecording(recording.id);
      element.remove();
    } catch (error) {
      alert(sentence(error));
    }
  });
  return element;
}

function showRecordings(api) {
  $("#auth").hidden = true;
  $("#recordings-section").hidden = false;
  $("#sign-out").hidden = false;
  const workspace = mountWorkspaceSwitcher(api).catch((error) => (console.error(error), null));
  const list = $("#recordings");
  const status = $("#more");
  const older = $("#older");
  let run = null;

  bindSelection(api, list);

  function load(filters) {
    fillForm(filters);
    list.replaceChildren();
    $("#selection").hidden = true;
    offerPersonDelete(api, filters.user, workspace, () => load(filters));
    const state = { filters, query: apiFilters(filters), cursor: null, done: false, loading: false, waiting: false };
    run = state;
    more(state);
  }

  // Fetches pages until the viewport is full, the list ends, or a run of empty pages
  // (a narrow filter over a long history) asks the visitor before going further.
  async function more(state) {
    if (state.loading || state.done || state.waiting || state !== run) return;
    state.loading = true;
    older.hidden = true;
    status.textContent = "Loading…";
    let empty = 0;
    try {
      for (;;) {
        const page = await api.recordings(state.cursor, state.query, PAGE_SIZE);
        if (state !== run) return;
        for (const recording of page.recordings) list.append(card(api, recording));
        state.cursor = page.cursor;
        state.done = !page.cursor;
        empty = page.recordings.length ? 0 : empty + 1;
        if (state.done || status.getBoundingClientRect().top > innerHeight + 200) break;
        if (empty >= EMPTY_PAGES_PER_RUN) {
          state.waiting = true;
          break;
        }
      }
      const filtered = Object.keys(state.filters).length > 0;
      if (state.waiting) {
        status.textContent = list.children.length ? "" : "No matches in the most recent recordings.";
        older.hidden = false;
      } else if (!state.done) status.textContent = "";
      else if (list.children.length) status.textContent = "";
      else if (filtered) status.innerHTML = 'No recordings match. <a href="index.html">Show all recordings</a>';
      else status.innerHTML = 'No recordings yet: open the <a href="demo.html">demo page</a> or use the <a href="bookmarklet.html">bookmarklet</a>.';
    } catch (error) {
      if (state === run && error.code !== "session_expired") {
        status.textContent = error.code === "unreachable" ? error.message : `Loading recordings failed: ${sentence(error)}`;
        status.classList.add("error");
      }
    } finally {
      state.loading = false;
    }
  }

  older.addEventListener("click", () => {
    run.waiting = false;
    more(run);
  });
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const filters = formFilters();
    const query = new URLSearchParams(filters);
    history.pushState(null, "", `${location.pathname}${String(query) ? `?${query}` : ""}`);
    status.classList.remove("error");
    load(filters);
  });
  $("#clear-filters").addEventListener("click", (event) => {
    event.preventDefault();
    history.pushState(null, "", location.pathname);
    load({});
  });
  addEventListener("popstate", () => load(readFilters()));
  new IntersectionObserver((entries) => entries.some((entry) => entry.isIntersecting) && more(run)).observe(status);
  load(readFilters());
}

main().catch((error) => {
  if (error.code === "session_expired") return;
  document.querySelector("main").prepend(Object.assign(document.createElement("p"), { className: "error", textContent: sentence(error) }));
});
