/**
 * One fix to rrweb 2.2.2, applied as the site is bundled (build.mjs).
 *
 * Before it trusts the page's DOM prototypes, rrweb checks that their getters are native
 * (a framework such as Angular's zone.js may have patched them); when they are not, it
 * builds a hidden iframe, takes the prototype of that fresh window, and removes the frame.
 * Its list of getters to check names Element's `querySelector` and `querySelectorAll`,
 * which are methods: the check can never pass, so every recording start builds and drops
 * such a frame, once for each of the two copies of that code rrweb bundles. Measured with
 * Chrome's profiler on a page with a 500 KB stylesheet, that is 15-30 ms of the start's
 * main-thread task, on every page view. rrweb's own fix (rrweb-io/rrweb#1802, open for
 * 2.2.x) checks them as methods instead, as this does; a page whose prototypes are really
 * patched still gets the iframe.
 *
 * The text must be found in every copy: a new rrweb version fails the build here, to be
 * looked at again, instead of silently shipping without the fix.
 */
import { readFile } from "node:fs/promises";

const ACCESSORS = /(var testableAccessors(?:\$\d+)? = \{[^}]*?Element: \[)\s*"shadowRoot",\s*"querySelector",\s*"querySelectorAll"\s*\]/g;
const METHODS = /(var testableMethods(?:\$\d+)? = \{[^}]*?Element: \[)\]/g;

/** rrweb's source with `querySelector`/`querySelectorAll` checked as Element's methods. */
export function fixUntaintedCheck(source) {
  const copies = (source.match(/var testableAccessors(?:\$\d+)? = \{/g) || []).length;
  let accessors = 0;
  let methods = 0;
  const fixed = source
    .replace(ACCESSORS, (_, head) => {
      accessors += 1;
      return `${head}"shadowRoot"]`;
    })
    .replace(METHODS, (_, head) => {
      methods += 1;
      return `${head}"querySelector", "querySelectorAll"]`;
    });
  if (!copies || accessors !== copies || methods !== copies) {
    throw new Error(
      `rrweb-fix: expected rrweb 2.2.2's untainted-prototype lists (${copies} copies, ${accessors} accessor and ` +
        `${methods} method lists matched); check rrweb-io/rrweb#1802 against this rrweb version`,
    );
  }
  return fixed;
}

/** The esbuild plugin: rrweb's bundle, fixed as above. */
export const rrwebFix = {
  name: "rrweb-untainted-check",
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]rrweb[\\/]dist[\\/]rrweb\.js$/ }, async (args) => ({
      contents: fixUntaintedCheck(await readFile(args.path, "utf8")),
      loader: "js",
    }));
  },
};
