// The replay page's loader: a compacted recording's blocks, listed by the API a bounded
// number per answer, then /events; and /events from the start when the blocks fail.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { gzipSync } from "node:zlib";

import { Loading } from "../src/replay-load.js";

const event = (n) => ({ type: 3, timestamp: n, data: { n } });
const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/**
 * A compacted object of `count` blocks of two events each, listed `perAnswer` blocks an
 * answer (each answer with its own URL), and the requests the loader made of it.
 */
function compacted(count, perAnswer, { failAnswer = null, holdAnswer = null, complete = false } = {}) {
  const members = Array.from({ length: count }, (_, b) =>
    gzipSync([event(2 * b), event(2 * b + 1)].map((e) => JSON.stringify(e) + "\n").join("")),
  );
  const ranges = [];
  let offset = 0;
  for (const member of members) {
    ranges.push({ start: offset, member });
    offset += member.length;
  }
  const seen = { answers: [], fetched: [], pages: [] };
  const answer = (index) => {
    const first = index * perAnswer;
    const last = Math.min(first + perAnswer, count);
    return {
      url: `https://bucket.test/data?answer=${index}`,
      blocks: ranges.slice(first, last).map(({ start, member }) => ({
        range: `bytes=${start}-${start + member.length - 1}`,
        events: 2,
      })),
      next: last < count ? `cursor-${index + 1}` : null,
      events: 2 * count,
      after: "events-after-the-blocks",
      complete,
      expiresIn: 300,
    };
  };
  globalThis.fetch = async (url, { headers }) => {
    seen.fetched.push([url, headers.Range]);
    const found = ranges.find(({ start, member }) => headers.Range === `bytes=${start}-${start + member.length - 1}`);
    return new Response(found.member, { status: 206 });
  };
  const api = {
    async blocks(id, after = null) {
      seen.answers.push(after);
      const index = after ? Number(after.split("-")[1]) : 0;
      if (index === holdAnswer?.index) await holdAnswer.released;
      if (index === failAnswer) throw new Error("HTTP 409 blocks_changed");
      return answer(index);
    },
    async eventsPage(id, after) {
      seen.pages.push(after);
      // Everything from the start (a fallback), or nothing after the blocks.
      const events = after ? [] : Array.from({ length: 2 * count }, (_, n) => event(n));
      return { events, next: null, tail: "tail" };
    },
  };
  return { api, seen, answer };
}

async function load(api, { watch = false } = {}) {
  const loading = new Loading(api, { id: "rec-1", compacted: true }, { watch });
  const parts = [];
  for await (const events of loading.parts()) parts.push(events);
  return { parts, position: loading.position };
}

test("follows next until the last answer, fetching every block once with its own answer's URL", async () => {
  const { api, seen, answer } = compacted(10, 4);
  const { parts } = await load(api);
  assert.deepEqual(seen.answers, [null, "cursor-1", "cursor-2"]);
  assert.deepEqual(
    seen.fetched,
    [0, 1, 2].flatMap((index) => answer(index).blocks.map((block) => [answer(index).url, block.range])),
  );
  assert.deepEqual(parts.flat(), Array.from({ length: 20 }, (_, n) => event(n)));
  assert.equal(parts.length, 10); // each block as its own part, then nothing new from /events
  assert.deepEqual(seen.pages, ["events-after-the-blocks"]);
});

test("the first block is handed over before the next answer arrives", async () => {
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  const { api, seen } = compacted(6, 2, { holdAnswer: { index: 1, released } });
  const loading = new Loading(api, { id: "rec-1", compacted: true }, { watch: false });
  const reading = loading.parts();
  assert.deepEqual((await reading.next()).value, [event(0), event(1)]);
  assert.deepEqual(seen.answers, [null, "cursor-1"]); // asked for, still on its way
  release();
  const rest = [];
  for await (const events of reading) rest.push(...events);
  assert.deepEqual(rest, Array.from({ length: 10 }, (_, n) => event(n + 2)));
});

test("a failed answer after the first reads /events from the start without repeating what was handed over", async () => {
  const { api, seen } = compacted(6, 2, { failAnswer: 2 });
  const { parts } = await load(api);
  assert.deepEqual(parts.flat(), Array.from({ length: 12 }, (_, n) => event(n))); // each event once, in order
  assert.deepEqual(seen.pages, [null]);
});

test("a complete answer ends the replay's reading at the blocks, unless it follows the recording live", async () => {
  const { api, seen } = compacted(3, 4, { complete: true });
  const { parts, position } = await load(api);
  assert.deepEqual(parts.flat(), Array.from({ length: 6 }, (_, n) => event(n)));
  assert.deepEqual(seen.pages, [], "no /events after blocks that hold everything stored");
  assert.deepEqual(position, { after: "events-after-the-blocks", skip: 0 });

  const following = compacted(3, 4, { complete: true });
  await load(following.api, { watch: true });
  assert.deepEqual(following.seen.pages, ["events-after-the-blocks"]);
});
