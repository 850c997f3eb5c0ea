// identify(): validated like the API, kept in the session, sent once, recorded as a custom event.
import assert from "node:assert/strict";
import { test } from "node:test";

import { validateUser } from "../src/recorder/identify.js";
import { LIMITS } from "../src/recorder/limits.js";
import { MemoryStorage, advance, click, openPage, refused, useClock } from "./fake-browser.js";

// The API's own limits (api/chalicelib/settings.py, through site/src/generated/limits.json).
const { userIdLength, traits: maxTraits, traitKeyLength, traitValueLength, traitsBytes } = LIMITS;

test("validateUser takes what the API takes", () => {
  assert.deepEqual(validateUser("user-42"), { id: "user-42", traits: {} });
  assert.deepEqual(validateUser("u", { plan: "team", seats: 3, admin: false, note: null }), {
    id: "u",
    traits: { plan: "team", seats: 3, admin: false, note: null },
  });
  const most = Object.fromEntries(Array.from({ length: maxTraits }, (_, i) => [`k${i}`, i]));
  assert.equal(validateUser("x".repeat(userIdLength), most).id.length, userIdLength);
  assert.ok(validateUser("u", { ["k".repeat(traitKeyLength)]: "v".repeat(traitValueLength) }));
});

for (const [what, userId, traits] of [
  ["an empty id", "", {}],
  [`an id over ${userIdLength} characters`, "x".repeat(userIdLength + 1), {}],
  ["a number id", 42, {}],
  ["traits that are an array", "u", ["a"]],
  ["traits that are a Date", "u", new Date()],
  [`${maxTraits + 1} traits`, "u", Object.fromEntries(Array.from({ length: maxTraits + 1 }, (_, i) => [`k${i}`, i]))],
  [`a trait name over ${traitKeyLength} characters`, "u", { ["k".repeat(traitKeyLength + 1)]: 1 }],
  ["an empty trait name", "u", { "": 1 }],
  ["a nested trait", "u", { address: { city: "Paris" } }],
  [`a trait string over ${traitValueLength} characters`, "u", { bio: "b".repeat(traitValueLength + 1) }],
  ["a NaN trait", "u", { score: NaN }],
  [`traits over ${traitsBytes} bytes of JSON`, "u", Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "é".repeat(300)]))],
]) {
  test(`validateUser refuses ${what}`, () => {
    assert.throws(() => validateUser(userId, traits), TypeError);
  });
}

test("identify() sends the user with the next batch only, and records an identify custom event", async (t) => {
  useClock(t);
  const page = openPage();
  await page.recorder.flush();
  page.recorder.identify("user-42", { plan: "team" });
  await page.recorder.flush();
  page.record.emit(click());
  await page.recorder.flush();
  page.recorder.identify("user-42", { plan: "team" });
  await page.recorder.flush();
  page.recorder.identify("user-42", { plan: "enterprise" });
  await page.recorder.flush();

  const [, identified, plain, same, changed] = page.api.requests;
  assert.deepEqual(identified.body.user, { id: "user-42", traits: { plan: "team" } });
  assert.deepEqual(identified.body.events, [{ type: 5, data: { tag: "identify", payload: { id: "user-42", traits: { plan: "team" } } }, timestamp: identified.body.events[0].timestamp }]);
  assert.equal("user" in plain.body, false);
  assert.equal("user" in same.body, false, "unchanged: not sent again");
  assert.equal(same.body.events[0].data.tag, "identify");
  assert.deepEqual(changed.body.user, { id: "user-42", traits: { plan: "enterprise" } });
});

test("identify() before the recording is created puts the user in the create", async (t) => {
  useClock(t);
  const page = openPage();
  page.recorder.identify("user-7");
  await page.recorder.flush();
  assert.deepEqual(page.api.requests[0].body.user, { id: "user-7", traits: {} });
});

test("the identified user goes with every later page's create of the session", async (t) => {
  useClock(t);
  const storage = new MemoryStorage();
  const first = openPage({}, { storage });
  first.recorder.identify("user-42", { plan: "team" });
  await advance(1000);
  const second = openPage({}, { storage });
  await second.recorder.flush();
  assert.deepEqual(second.api.requests[0].body.user, { id: "user-42", traits: { plan: "team" } });
});

test("a user whose batch was given up goes with the next batch", async (t) => {
  useClock(t);
  const page = openPage();
  await page.recorder.flush();
  const answers = [refused(413, "payload_too_large")];
  page.api.answer = (request, api) => (answers.length ? answers.shift() : api.acknowledge(request));
  page.recorder.identify("user-42");
  await page.recorder.flush();
  page.record.emit(click());
  await page.recorder.flush();
  assert.deepEqual(page.api.requests[2].body.user, { id: "user-42", traits: {} });
});

test("an invalid identify() throws and changes nothing", async (t) => {
  useClock(t);
  const page = openPage();
  assert.throws(() => page.recorder.identify("", {}), TypeError);
  await page.recorder.flush();
  assert.equal("user" in page.api.requests[0].body, false);
  assert.equal(page.api.requests[0].body.events.length, 2);
});
