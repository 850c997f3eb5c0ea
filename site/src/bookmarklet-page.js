/** The bookmarklet page: a drag-to-bookmarks link carrying the account's bookmarklet ingest key. */
import { Api, keyFor, loadConfig, requireSignIn } from "./api.js";

const $ = (selector) => document.querySelector(selector);

const BANNER_STYLE = {
  position: "fixed",
  zIndex: "2147483647",
  top: "0",
  left: "0",
  right: "0",
  padding: "12px 16px",
  background: "#b00020",
  color: "#fff",
  font: "14px/1.4 system-ui,sans-serif",
};

/**
 * The javascript: URL of the bookmarklet. Inline and self-contained: it runs on any page,
 * loads assets/bookmarklet.js from the site, and when that fails says why with a banner
 * (styled through CSSOM, which a CSP without 'unsafe-inline' styles still allows): the
 * page's Content-Security-Policy refused our script (a securitypolicyviolation event names
 * its URL; id rrweb-s3-csp-banner), or else the site could not be reached (id
 * rrweb-s3-unreachable-banner).
 */
export function bookmarkletHref({ siteOrigin, ingestUrl, key }) {
  const json = JSON.stringify;
  const messages = {
    csp: `Recording is blocked on this page: its Content-Security-Policy does not allow scripts from ${siteOrigin}.`,
    unreachable: `Recording could not start: ${siteOrigin} is unreachable (offline, or the site is down). Try again later.`,
  };
  // The violation event is its own task, which may come after the script's error event:
  // the banner waits a moment for it.
  const code =
    `(()=>{if(window.__rrwebS3)return;var d=document,o=${json(siteOrigin)},c=!1,` +
    `v=function(e){var u=String(e.blockedURI||'');if(e.disposition!=='report'&&u&&(u.indexOf(o)===0||o.indexOf(u)===0))c=!0},` +
    `s=d.createElement('script');d.addEventListener('securitypolicyviolation',v);` +
    `s.src=${json(`${siteOrigin}/assets/bookmarklet.js`)};s.dataset.key=${json(key)};` +
    `s.dataset.ingest=${json(ingestUrl)};s.dataset.site=${json(siteOrigin)};` +
    `s.onload=function(){d.removeEventListener('securitypolicyviolation',v)};` +
    `s.onerror=function(){setTimeout(function(){d.removeEventListener('securitypolicyviolation',v);` +
    `var b=d.createElement('div');b.id=c?'rrweb-s3-csp-banner':'rrweb-s3-unreachable-banner';` +
    `b.setAttribute('role','alert');b.textContent=c?${json(messages.csp)}:${json(messages.unreachable)};` +
    `Object.assign(b.style,${json(BANNER_STYLE)});(d.body||d.documentElement).appendChild(b);` +
    `setTimeout(function(){b.remove()},8000)},150)};(d.head||d.documentElement).appendChild(s)})()`;
  return `javascript:${encodeURIComponent(code)}`;
}

async function main() {
  const config = await loadConfig();
  const api = new Api(config);
  if (!requireSignIn(api)) return;
  const key = await keyFor(api, "bookmarklet");
  const link = $("#bookmarklet");
  link.href = bookmarkletHref({ siteOrigin: location.origin, ingestUrl: new URL(config.ingestUrl, location.href).href, key });
  link.hidden = false;
}

if (typeof document !== "undefined" && document.querySelector("#bookmarklet")) {
  main().catch((error) => document.body.prepend(Object.assign(document.createElement("p"), { className: "error", textContent: error.message })));
}
