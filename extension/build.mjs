// Builds the VS Code extension:
// - extension/dist/: extension.js (activation, commands, panel host, language client), server.js (the
//   language server) and webview/ (the panel's page bundle), each with its dependencies inlined; only
//   `vscode` comes from the editor.
// - extension/stage/: the unpacked extension as installed (what `npm run package` zips into a VSIX and
//   what the code-server tests install): the manifest, dist/, and rdpipe/ — the execution server the
//   extension starts, as a small rdpipe package whose bundles inline every dependency but esbuild (a
//   native binary) and parquet-wasm (loads its .wasm beside itself) — plus rdpipe/types/, the API's
//   declarations, and node_modules/rdpipe-typescript-plugin, the TypeScript server plugin that resolves
//   `import ... from "rdpipe"` to them where nothing else does.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.dirname(here);
const dist = path.join(here, "dist");
const stage = path.join(here, "stage");

await build({
  entryPoints: { extension: path.join(here, "src/extension.ts"), server: path.join(here, "src/server/main.ts") },
  outdir: dist, bundle: true, platform: "node", target: "node20", format: "cjs",
  external: ["vscode"], sourcemap: true, logLevel: "warning",
});
await build({
  entryPoints: { panel: path.join(repo, "webview/src/panel.ts") }, outdir: path.join(dist, "webview"), bundle: true,
  platform: "browser", target: "chrome120", format: "iife", sourcemap: true, logLevel: "warning",
});

await buildStage();

async function buildStage() {
  fs.rmSync(stage, { recursive: true, force: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(here, "package.json"), "utf8"));
  const rootManifest = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8"));
  fs.mkdirSync(stage, { recursive: true });
  // The plugin is a dependency of the staged manifest only, so that `vsce package` ships it in node_modules/.
  const pluginName = "rdpipe-typescript-plugin";
  fs.writeFileSync(path.join(stage, "package.json"), JSON.stringify({ ...manifest, dependencies: { [pluginName]: manifest.version } }, null, 2));
  for (const file of ["README.md", "LICENSE"]) {
    if (fs.existsSync(path.join(here, file))) fs.copyFileSync(path.join(here, file), path.join(stage, file));
  }
  fs.cpSync(dist, path.join(stage, "dist"), { recursive: true, filter: (file) => !file.endsWith(".map") });
  const plugin = path.join(stage, "node_modules", pluginName);
  await build({
    entryPoints: [path.join(here, "src/ts-plugin/index.ts")], outfile: path.join(plugin, "index.js"), bundle: true,
    platform: "node", target: "node18", format: "cjs", logLevel: "warning",
  });
  fs.writeFileSync(path.join(plugin, "package.json"), JSON.stringify({ name: pluginName, version: manifest.version, main: "index.js" }, null, 2));

  const server = path.join(stage, "rdpipe");
  // apache-arrow stays a package of its own: bundled into dist/, it breaks the source maps of pipeline
  // files (a UDF's stack named line 41 of a 26-line file), so the panel's links and debug-row's breakpoint went astray.
  const external = ["esbuild", "parquet-wasm", "apache-arrow"];
  const externalDependencies = ["flatbuffers", "json-with-bigint", "tslib"]; // apache-arrow's, at run time
  // Native connectors are not shipped (lancedb alone is 150 MB): a pipeline that uses one on the bundled
  // server is told which package to install. Without koffi (FFI) malloc's thresholds are not set in the
  // server's own process; the job runners it starts get them from their environment (engineProcessEnv).
  const notShipped = ["@lancedb/lancedb", "better-sqlite3", "sharp", "koffi"];
  await build({
    entryPoints: {
      cli: path.join(repo, "server/src/cli/index.ts"), worker: path.join(repo, "server/src/worker/index.ts"),
      "job-runner": path.join(repo, "server/src/runner/job-runner.ts"), api: path.join(repo, "server/src/api/index.ts"),
      "code-cache": path.join(repo, "server/src/loader/code-cache.ts"), "cli-start": path.join(repo, "server/src/cli/start.ts"),
    },
    supported: { "dynamic-import": false }, // bin/rdpipe.js and workers load the bundles as vm scripts (server/build.mjs)
    outdir: path.join(server, "dist"), bundle: true, platform: "node", target: "node20", format: "cjs",
    external: [...external, ...notShipped], logLevel: "warning", minifySyntax: true,
  });
  fs.writeFileSync(path.join(server, "package.json"), JSON.stringify({
    name: "rdpipe", version: rootManifest.version, private: true, main: "dist/api.js", types: "types/api/index.d.ts",
  }, null, 2));
  fs.mkdirSync(path.join(server, "bin"));
  fs.copyFileSync(path.join(repo, "bin/rdpipe.js"), path.join(server, "bin/rdpipe.js"));
  const esbuildPlatform = fs.readdirSync(path.join(repo, "node_modules/@esbuild")).map((name) => `@esbuild/${name}`);
  // parquet-wasm also ships builds for browsers and bundlers; Node loads node/. apache-arrow ships its
  // TypeScript sources, ES modules and minified browser builds; Node loads its CommonJS files.
  const otherBuilds = /[\\/]parquet-wasm[\\/](esm|bundler)$|[\\/]apache-arrow[\\/](src$|.*\.mjs(\.map)?$|Arrow\.(es\w+\.min|externs\.\w+\.min)\.js(\.map)?$)/;
  for (const dependency of [...external, ...externalDependencies, ...esbuildPlatform]) {
    fs.cpSync(path.join(repo, "node_modules", dependency), path.join(server, "node_modules", dependency), {
      recursive: true, dereference: true, filter: (file) => !otherBuilds.test(file),
    });
  }
  execFileSync(process.execPath, [
    path.join(repo, "node_modules/typescript/bin/tsc"), "--declaration", "--emitDeclarationOnly", "--skipLibCheck", "--strict",
    "--target", "ES2022", "--module", "commonjs", "--moduleResolution", "node", "--esModuleInterop", "--resolveJsonModule",
    "--types", "node", "--rootDir", path.join(repo, "server/src"), "--outDir", path.join(server, "types"),
    path.join(repo, "server/src/api/index.ts"),
  ], { stdio: "inherit" });
}
