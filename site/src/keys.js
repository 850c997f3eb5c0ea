/** Ingest keys page, and the bookmarklet page (a drag-to-bookmarks link carrying a key). */
import { Api, escapeHtml, keyFor, loadConfig } from "./api.js";

const $ = (selector) => document.querySelector(selector);

export function bookmarkletHref({ siteOrigin, ingestUrl, key }) {
  // Inline and self-contained: it runs on any page. If the page's CSP refuses our
  // script, the error handler shows a banner built with CSSOM (no inline styles).
  const code = `(()=>{if(window.__rrwebS3)return;var d=document,s=d.createElement('script');s.src=${JSON.stringify(
    `${siteOrigin}/assets/bookmarklet.js`,
  )};s.dataset.key=${JSON.stringify(key)};s.dataset.ingest=${JSON.stringify(ingestUrl)};s.dataset.site=${JSON.stringify(
    siteOrigin,
  )};s.onerror=function(){var b=d.createElement('div');b.id='rrweb-s3-csp-banner';b.textContent='Recording is blocked on this page: its Content-Security-Policy does not allow scripts from ${siteOrigin}.';Object.assign(b.style,{position:'fixed',zIndex:'2147483647',top:'0',left:'0',right:'0',padding:'12px 16px',background:'#b00020',color:'#fff',font:'14px/1.4 system-ui,sans-serif'});(d.body||d.documentElement).appendChild(b);setTimeout(function(){b.remove()},8000)};(d.head||d.documentElement).appendChild(s)})()`;
  return `javascript:${encodeURIComponent(code)}`;
}

async function keysPage(api) {
  const list = $("#keys");
  async function render() {
    const { keys } = await api.keys();
    list.innerHTML = keys.length ? "" : "<li>No keys yet.</li>";
    for (const key of keys) {
      const item = document.createElement("li");
      item.dataset.id = key.id;
      item.innerHTML = `<strong>${escapeHtml(key.name)}</strong> <code>rrk_${key.id}_…</code> ${
        key.revoked ? '<span class="revoked">revoked</span>' : '<button type="button" class="revoke">Revoke</button>'
      } <small>${new Date(key.createdAt).toLocaleString()}</small>`;
      const revoke = item.querySelector(".revoke");
      if (revoke)
        revoke.addEventListener("click", async () => {
          if (confirm(`Revoke "${key.name}"? Pages using it stop recording.`)) {
            await api.revokeKey(key.id);
            render();
          }
        });
      list.append(item);
    }
  }
  $("#create-key").addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await api.createKey($("#key-name").value.trim() || "ingest key");
    $("#new-key").hidden = false;
    $("#new-key-value").textContent = created.key;
    render();
  });
  await render();
}

async function bookmarkletPage(api, config) {
  const key = await keyFor(api, "bookmarklet");
  const link = $("#bookmarklet");
  link.href = bookmarkletHref({ siteOrigin: location.origin, ingestUrl: new URL(config.ingestUrl, location.href).href, key });
  link.hidden = false;
}

async function main() {
  const config = await loadConfig();
  const api = new Api(config);
  if (!api.signedIn) {
    location.href = "index.html";
    return;
  }
  if ($("#keys")) await keysPage(api);
  if ($("#bookmarklet")) await bookmarkletPage(api, config);
}

main().catch((error) => document.body.prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
