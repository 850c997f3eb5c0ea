/**
 * A recording's events, in order, a part at a time (a compacted block, an /events page),
 * so the replay can start on the first part while the rest loads.
 *
 * A compacted recording's events come straight from S3 (presigned byte ranges, each one
 * gzip member of JSON lines), then /events after them for what arrived since. The API
 * lists the blocks a bounded number at a time (one presigned URL per answer, `next` for
 * the following ones). Any other recording, and any failure on the way through the
 * blocks or their lists, reads /events from the start, leaving out the events already
 * handed over: replay never depends on the blocks.
 */

const parseLines = (text) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

async function blockEvents(url, block) {
  const response = await fetch(url, { headers: { Range: block.range } });
  // Only the requested range is one gzip member; a whole object answered with 200 is not.
  if (response.status !== 206) throw new Error(`block ${block.range}: HTTP ${response.status}`);
  const text = await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).text();
  const events = parseLines(text);
  if (events.length !== block.events) throw new Error(`block ${block.range} holds ${events.length} events, not ${block.events}`);
  return events;
}

/**
 * /events from `position`, page by page, until the API has nothing more now. A position
 * is the tail cursor the API returns, with no events to skip. Where the API does not
 * expose that header to this origin (a cross-origin API that leaves X-Tail-Cursor out of
 * Access-Control-Expose-Headers), it is the start of the last page and how many of its
 * events were taken already. Yields each page's new events; returns the position after them.
 */
async function* pages(api, id, position, { watch, omit = 0 }) {
  let { after, skip } = position;
  let reading = api.eventsPage(id, after, { watch });
  for (;;) {
    const page = await reading;
    // The next page is asked for before this one is handed over: the API reads it
    // while the player takes this one.
    if (page.next) {
      reading = api.eventsPage(id, page.next, { watch });
      reading.catch(() => {}); // met when its turn comes
    }
    let events = page.events.slice(skip);
    if (omit) {
      const left = Math.min(omit, events.length);
      events = events.slice(left);
      omit -= left;
    }
    if (events.length) yield events;
    if (page.next) {
      after = page.next;
      skip = 0;
    } else if (page.tail) {
      return { after: page.tail, skip: 0 };
    } else {
      return { after, skip: Math.max(skip, page.events.length) };
    }
  }
}

/** Reads /events from `position` until the API has nothing more now: {events, position}. */
export async function readOn(api, id, position, { watch }) {
  const events = [];
  const reading = pages(api, id, position, { watch });
  for (;;) {
    const { value, done } = await reading.next();
    if (done) return { events, position: value };
    for (const event of value) events.push(event);
  }
}

/** Every block of one answer, fetched at once with the answer's URL; a failure is met when its turn comes. */
function fetchAll(listing) {
  const fetching = listing.blocks.map((block) => blockEvents(listing.url, block));
  for (const pending of fetching) pending.catch(() => {}); // (or never, after an earlier one's)
  return fetching;
}

/**
 * The blocks' events in order, each as soon as it and those before it arrived, from the
 * first answer of GET /blocks on, following `next`. While one answer's blocks are handed
 * over, the next answer is asked for and its blocks fetched as soon as it comes: no
 * block waits for its list, and at most two answers' blocks (and URLs) are in flight.
 */
export async function* compactedEvents(api, id, first) {
  let listing = first;
  let fetching = fetchAll(listing);
  for (;;) {
    const following = listing.next
      ? api.blocks(id, listing.next).then((answer) => ({ answer, fetching: fetchAll(answer) }))
      : null;
    following?.catch(() => {}); // met after this answer's blocks
    for (const pending of fetching) yield await pending;
    if (!following) return;
    ({ answer: listing, fetching } = await following);
  }
}

/**
 * Everything the API has for a recording now, in order, a part at a time: `for await
 * (const events of loading.parts())`; `loading.position` is then where /events goes on.
 */
export class Loading {
  constructor(api, recording, { watch }) {
    this.api = api;
    this.recording = recording;
    this.watch = watch;
    this.position = { after: null, skip: 0 };
  }

  async *parts() {
    const { api, recording, watch } = this;
    let handed = 0;
    if (recording.compacted) {
      try {
        const listing = await api.blocks(recording.id);
        if (listing.blocks.length) {
          for await (const events of compactedEvents(api, recording.id, listing)) {
            handed += events.length;
            yield events;
          }
          this.position = { after: listing.after, skip: 0 };
          // Nothing was stored since the compaction (the API read the item): /events
          // after the blocks has nothing, unless the replay follows the recording live.
          if (listing.complete && !watch) return;
        }
      } catch (error) {
        console.warn("replay: the compacted blocks failed, reading the events through the API instead:", error);
        this.position = { after: null, skip: 0 };
      }
    }
    // After a failed block, /events starts over: the events already handed over stay out.
    const omit = this.position.after ? 0 : handed;
    const reading = pages(api, recording.id, this.position, { watch, omit });
    for (;;) {
      const { value, done } = await reading.next();
      if (done) {
        this.position = value;
        return;
      }
      yield value;
    }
  }
}
