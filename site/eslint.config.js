// The site's linter: ESLint's recommended rules over the browser code, the build
// script and the recorder's unit tests.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "public/assets/"] },
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: { ecmaVersion: 2025, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      // rrweb's event types, sources and node types by name (EventType, IncrementalSource,
      // NodeType from @rrweb/types), never as bare numbers.
      "no-restricted-syntax": [
        "error",
        {
          selector: "BinaryExpression[operator=/^[!=]==?$/][left.property.name=/^(type|source)$/][right.type='Literal'][right.raw=/^[0-9]+$/]",
          message: "Name rrweb's event types, incremental sources and node types (EventType, IncrementalSource, NodeType from @rrweb/types).",
        },
      ],
    },
  },
  {
    files: ["build.mjs", "eslint.config.js", "test/**/*.{js,mjs}"],
    languageOptions: { ecmaVersion: 2025, sourceType: "module", globals: { ...globals.node } },
  },
];
