// Bundles the site's scripts into public/assets (one IIFE per page, rrweb and
// rrweb-player from the pinned packages in package-lock.json).
import { build } from "esbuild";
import { rrwebFix } from "./rrweb-fix.mjs";

await build({
  entryPoints: {
    app: "src/app.js",
    keys: "src/keys.js",
    members: "src/members.js",
    replay: "src/replay.js",
    demo: "src/demo.js",
    bookmarklet: "src/bookmarklet.js",
    "bookmarklet-page": "src/bookmarklet-page.js",
    recorder: "src/recorder-global.js",
  },
  bundle: true,
  format: "iife",
  minify: true,
  sourcemap: true,
  target: ["chrome109", "firefox115", "safari16"],
  outdir: "public/assets",
  logLevel: "warning",
  plugins: [rrwebFix],
});
