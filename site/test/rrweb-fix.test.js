import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { test } from "node:test";

import { fixUntaintedCheck } from "../rrweb-fix.mjs";

const require = createRequire(import.meta.url);
const rrwebSource = () => readFile(require.resolve("rrweb").replace(/rrweb\.cjs$/, "rrweb.js"), "utf8");

// The lists of one copy of rrweb's untainted-prototype check, as objects.
function lists(source) {
  const found = {};
  for (const [, name, body] of source.matchAll(/var (testable(?:Accessors|Methods))(?:\$\d+)? = (\{[^}]*\});/g)) {
    (found[name] ||= []).push(Function(`return (${body});`)());
  }
  return found;
}

test("every copy of rrweb's check tests querySelector and querySelectorAll as Element's methods", async () => {
  const before = lists(await rrwebSource());
  assert.ok(before.testableAccessors.length >= 2, "rrweb bundles several copies of the check");
  for (const accessors of before.testableAccessors) assert.ok(accessors.Element.includes("querySelector"));

  const after = lists(fixUntaintedCheck(await rrwebSource()));
  assert.equal(after.testableAccessors.length, before.testableAccessors.length);
  for (const accessors of after.testableAccessors) assert.deepEqual(accessors.Element, ["shadowRoot"]);
  for (const methods of after.testableMethods) assert.deepEqual(methods.Element, ["querySelector", "querySelectorAll"]);
  // Nothing else of the lists changed.
  for (const [i, accessors] of after.testableAccessors.entries()) {
    assert.deepEqual({ ...accessors, Element: [] }, { ...before.testableAccessors[i], Element: [] });
  }
});

test("an rrweb whose check reads otherwise fails the build instead of shipping without the fix", async () => {
  const source = await rrwebSource();
  assert.throws(() => fixUntaintedCheck(source.replace('"querySelectorAll"\n\t],', '"querySelectorAll", "closest"\n\t],')), /rrweb-io\/rrweb#1802/);
  assert.throws(() => fixUntaintedCheck("export const nothing = 1;"), /rrweb-fix/);
  assert.throws(() => fixUntaintedCheck(fixUntaintedCheck(source)), /rrweb-fix/);
});
