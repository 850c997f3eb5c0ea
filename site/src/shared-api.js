/**
 * The replay page's API for a share link (`replay.html?share=rrs_...`): no account, one
 * recording. It answers the calls the replay makes of `Api` (recording, eventsPage,
 * blocks, assetUrls) through `/shared/<token>/...`; the asset reads come with the events
 * pages and block lists that name them, so only the recording's own assets are readable.
 */
export class SharedApi {
  constructor(config, token) {
    this.base = config.apiUrl.replace(/\/$/, "");
    this.token = token;
    this.signedIn = true; // the link stands in for an account on this page
    this.workspace = null;
    this.assets = new Map(); // sha256 -> short-lived read
    this.at = null; // the moment the link opens at (ms), or null
  }

  async json(path) {
    let response;
    try {
      response = await fetch(`${this.base}/shared/${encodeURIComponent(this.token)}${path}`);
    } catch (cause) {
      throw Object.assign(new Error(`Cannot reach the API at ${this.base}; is it running?`), { code: "unreachable", cause });
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw Object.assign(new Error((data && data.error && data.error.message) || `HTTP ${response.status}`), {
        status: response.status,
        code: data && data.error && data.error.code,
      });
    }
    for (const [hash, url] of Object.entries((data && data.assets) || {})) this.assets.set(hash, url);
    return data;
  }

  async recording() {
    const shown = await this.json("");
    this.at = shown.at;
    return shown.recording;
  }

  async eventsPage(_id, after) {
    const page = await this.json(after ? `/events?${new URLSearchParams({ after })}` : "/events");
    return { events: page.events, next: page.next, tail: null };
  }

  blocks(_id, after = null) {
    return this.json(after ? `/blocks?${new URLSearchParams({ after })}` : "/blocks");
  }

  async assetUrls(hashes) {
    return Object.fromEntries(hashes.filter((hash) => this.assets.has(hash)).map((hash) => [hash, this.assets.get(hash)]));
  }
}
