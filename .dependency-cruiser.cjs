// The layering of ARCHITECTURE.md, checked in `npm test` (test/architecture.test.ts).
// Server layers, top to bottom: entries → api → exec → cluster → checkpoint → plan → io → block,
// with contract/ (the wire types) and errors/ (the error base class) leaves that import nothing.
const src = "^server/src/";
const layer = (...names) => `${src}(${names.join("|")})/`;

const ENTRIES = ["cli", "http", "runner", "worker", "debug", "loader"];
/** What each engine layer may import besides the leaves. */
const BELOW = {
  api: ["exec", "cluster", "checkpoint", "plan", "io", "block"],
  exec: ["cluster", "checkpoint", "plan", "io", "block"],
  cluster: ["checkpoint", "plan", "io", "block"],
  checkpoint: ["plan", "io", "block"],
  plan: ["io", "block"],
  io: ["block"],
  block: [],
};
/** Leaves: every layer may import them, and they import nothing from server/src. */
const LEAVES = ["contract", "errors"];

const rule = (name, allowed) => ({
  name: `no-upward-from-${name}`,
  comment: `${name}/ may import only ${allowed.length ? allowed.join(", ") : "nothing"} from server/src`,
  severity: "error",
  from: { path: layer(name) },
  to: { path: src, pathNot: layer(name, ...allowed) },
});
const upward = [
  ...Object.entries(BELOW).map(([name, allowed]) => rule(name, [...allowed, ...LEAVES])),
  ...LEAVES.map((leaf) => rule(leaf, [])),
];

module.exports = {
  forbidden: [
    { name: "no-circular", comment: "imports never run in a circle", severity: "error", from: {}, to: { circular: true } },
    ...upward,
    {
      name: "clients-use-the-contract",
      comment: "the extension and the webview reach the server only through server/src/contract",
      severity: "error",
      from: { path: "^(extension|webview)/" },
      to: { path: src, pathNot: layer("contract") },
    },
    {
      name: "entries-are-not-imported-by-the-engine",
      comment: "nothing beneath the entries imports an entry",
      severity: "error",
      from: { path: layer(...Object.keys(BELOW), ...LEAVES) },
      to: { path: layer(...ENTRIES) },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
