/**
 * Resolving a recording's page assets before the player sees its events.
 *
 * The recorder (recorder/assets.js) sends an Asset event (type 7) for each image, font or
 * large stylesheet the page used, naming its SHA-256, just before the DOM that uses it,
 * and replaces inline bytes (data: URLs, large stylesheet text) by `rrweb-asset:sha256=<hex>`.
 * `AssetResolver.resolve(events)` takes the events a part at a time, in order: it learns
 * each asset's hash, asks the API for short-lived reads of the owner's assets it has not
 * fetched yet (`POST /assets/urls`), fetches their bytes into blob: URLs of this page (so
 * fonts load without the site's CORS, and nothing depends on the site still serving them),
 * and rewrites the events' URLs and references to those blob: URLs. Asset events never
 * reach the player. An asset the recorder could not keep keeps its URL (loaded from the
 * site, as before); `notKept` counts them for the page to say so.
 *
 * Each blob keeps the type the upload pinned (an image, a font or CSS, never a document):
 * drawn by <img> or CSS, an SVG's script never runs. And only attributes that load media
 * or a stylesheet are rewritten: `src` of <img>, <source>, <video>, <audio> and
 * <input type=image>, `poster`, `srcset`, `style`, and `href` of <link>. An <embed>,
 * <object>, <iframe> or <a> naming the same URL keeps it: a local copy there could open
 * as a document of this site's origin.
 */
import { REFERENCE, replaceCssUrls, srcsetUrls } from "./recorder/assets.js";

const ASSET_EVENT = 7;
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;
const REFERENCE_PATTERN = /rrweb-asset:sha256=([0-9a-f]{64})/g;
const BATCH = 300;
// Elements whose `src` only ever loads an image or media.
const MEDIA_SRC = new Set(["img", "source", "video", "audio", "input"]);
// An id seen with two tags (see learnTag).
const MIXED = "#mixed";

export class AssetResolver {
  /** api: {assetUrls(hashes) -> {hex: url}}; fetchBlob(url) -> Blob (tests replace it). */
  constructor(api, { fetchBlob = defaultFetchBlob, createUrl = (blob) => URL.createObjectURL(blob) } = {}) {
    this.api = api;
    this.fetchBlob = fetchBlob;
    this.createUrl = createUrl;
    this.byUrl = new Map(); // page URL -> sha256
    this.local = new Map(); // sha256 -> blob: URL (or null when it could not be fetched)
    this.texts = new Map(); // sha256 -> stylesheet text
    this.sheets = new Map(); // sha256 -> blob: URL of the stylesheet with its url()s local
    this.notKept = 0;
    this.tags = new Map(); // node id -> tag name, for attribute changes (they name no tag)
  }

  /** The part's events for the player: Asset events taken out, URLs of kept assets rewritten. */
  async resolve(events) {
    const wanted = new Set();
    for (const event of events) {
      if (event.type === ASSET_EVENT) {
        const { url, payload, failed } = event.data || {};
        if (failed) this.notKept += 1;
        else if (payload?.sha256 && url) {
          this.byUrl.set(url, payload.sha256);
          wanted.add(payload.sha256);
        }
      } else if (event.type === FULL_SNAPSHOT || (event.type === INCREMENTAL && event.data?.source === MUTATION)) {
        for (const match of JSON.stringify(event.data).matchAll(REFERENCE_PATTERN)) wanted.add(match[1]);
      }
    }
    await this.fetchMissing([...wanted].filter((hash) => !this.local.has(hash)));
    return events.filter((event) => event.type !== ASSET_EVENT).map((event) => this.rewrite(event));
  }

  async fetchMissing(hashes) {
    for (let start = 0; start < hashes.length; start += BATCH) {
      const slice = hashes.slice(start, start + BATCH);
      let urls = {};
      try {
        urls = await this.api.assetUrls(slice);
      } catch (error) {
        console.warn("replay: the page's assets could not be listed; the site's own URLs are used", error);
      }
      await Promise.all(
        slice.map(async (hash) => {
          if (!urls[hash]) return this.local.set(hash, null);
          try {
            const blob = await this.fetchBlob(urls[hash]);
            if (blob.type === "text/css") this.texts.set(hash, await blob.text());
            this.local.set(hash, this.createUrl(blob));
          } catch (_) {
            this.local.set(hash, null); // not stored (the visitor left before uploading): the URL stays
          }
        }),
      );
    }
  }

  /** A page URL's local copy, or null (keep the URL). A stylesheet's copy uses local copies in turn. */
  swap(url) {
    const reference = url.startsWith(REFERENCE) ? url.slice(REFERENCE.length) : null;
    const hash = reference || this.byUrl.get(url);
    if (!hash || !this.local.get(hash)) return null;
    if (this.texts.has(hash)) return this.sheet(hash);
    return this.local.get(hash);
  }

  sheet(hash) {
    if (!this.sheets.has(hash)) {
      const text = replaceCssUrls(this.texts.get(hash), (url) => this.swap(url));
      this.sheets.set(hash, this.createUrl(new Blob([text], { type: "text/css" })));
    }
    return this.sheets.get(hash);
  }

  cssText(text) {
    const whole = text.startsWith(REFERENCE) ? this.texts.get(text.slice(REFERENCE.length)) : null;
    return replaceCssUrls(whole ?? text, (url) => this.swap(url));
  }

  /**
   * The tag attribute changes of `id` are judged by. Ids are unique within a page, so an id
   * named with two tags (a crafted recording adding a stray <img> under an <iframe>'s id)
   * is trusted with neither: its `src` changes keep their URL.
   */
  learnTag(id, tag) {
    if (id == null) return tag;
    const known = this.tags.get(id);
    this.tags.set(id, known === undefined || known === tag ? tag : MIXED);
    return tag;
  }

  rewriteNode(node) {
    if (!node || typeof node !== "object") return node;
    let copy = node;
    const tag = node.tagName ? this.learnTag(node.id, String(node.tagName).toLowerCase()) : this.tags.get(node.id) || "";
    const attributes = node.attributes;
    if (attributes) {
      const changed = {};
      for (const [name, value] of Object.entries(attributes)) {
        if (typeof value !== "string") continue;
        let next = value;
        // href only on <link> (stylesheets, icons), src only on media: a link the viewer could
        // follow, or a frame, to a local copy would open it as a document of this site's origin.
        const loads = (name === "src" && MEDIA_SRC.has(tag)) || (name === "poster" && tag === "video");
        if (loads || (name === "href" && tag === "link")) next = this.swap(value) ?? value;
        else if (name === "srcset") {
          next = srcsetUrls(value).reduce((text, url) => {
            const local = this.swap(url);
            return local ? text.split(url).join(local) : text;
          }, value);
        } else if (name === "style") next = this.cssText(value);
        else if (name === "_cssText") next = this.cssText(value);
        if (next !== value) changed[name] = next;
      }
      if (Object.keys(changed).length) copy = { ...node, attributes: { ...attributes, ...changed } };
    }
    if (node.childNodes) {
      const children = node.childNodes.map((child) => this.rewriteNode(child));
      if (children.some((child, index) => child !== node.childNodes[index])) copy = { ...copy, childNodes: children };
    }
    return copy;
  }

  rewrite(event) {
    if (!this.local.size) return event;
    if (event.type === FULL_SNAPSHOT) {
      const node = this.rewriteNode(event.data.node);
      return node === event.data.node ? event : { ...event, data: { ...event.data, node } };
    }
    if (event.type === INCREMENTAL && event.data?.source === MUTATION) {
      const adds = (event.data.adds || []).map((add) => {
        const node = this.rewriteNode(add.node);
        return node === add.node ? add : { ...add, node };
      });
      const attributes = (event.data.attributes || []).map((change) => {
        const node = this.rewriteNode({ id: change.id, attributes: change.attributes });
        return node.attributes === change.attributes ? change : { ...change, attributes: node.attributes };
      });
      return { ...event, data: { ...event.data, adds, attributes } };
    }
    return event;
  }
}

async function defaultFetchBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.blob();
}
