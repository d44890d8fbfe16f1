// New Pipeline: writes a starter pipeline into a folder, and a tsconfig.json for pipeline files when the
// folder has none. `import * as rd from "rdpipe"` type-checks through the extension's TypeScript plugin
// (./ts-plugin), which resolves "rdpipe" to the bundled declarations where no rdpipe package is installed.
import fs from "node:fs";
import path from "node:path";

const STARTER_PIPELINE = `// A pipeline: read → transform → write. Run it with the Run CodeLens above the last operator,
// or "rdpipe: Run Pipeline" in the command palette; its progress shows in the rdpipe panel.
import * as rd from "rdpipe";

function addLength(row: rd.Row) {
  return { ...row, length: String(row.text).length };
}

export default rd
  .fromItems([{ id: 1, text: "hello" }, { id: 2, text: "streaming" }, { id: 3, text: "world" }])
  .map(addLength)
  .filter((row) => (row.length as number) > 5);
`;

const TSCONFIG = {
  compilerOptions: { target: "ES2022", module: "commonjs", moduleResolution: "node", strict: true, skipLibCheck: true, noEmit: true, esModuleInterop: true },
  include: ["**/*.rdpipe.ts"],
};

export interface ScaffoldResult { pipeline: string; wrote: string[] }

/** Writes `<name>.rdpipe.ts` into `folder` (never over an existing file), and a tsconfig.json when there is none. */
export function scaffoldPipeline(folder: string, name: string): ScaffoldResult {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`a pipeline name may hold letters, digits, '.', '-' and '_' only, got '${name}'`);
  const pipeline = path.join(folder, `${name.replace(/\.rdpipe\.ts$/, "")}.rdpipe.ts`);
  if (fs.existsSync(pipeline)) throw new Error(`${pipeline} already exists`);
  fs.writeFileSync(pipeline, STARTER_PIPELINE, { flag: "wx" });
  const wrote = [pipeline];
  const tsconfig = path.join(folder, "tsconfig.json");
  if (!fs.existsSync(tsconfig)) {
    fs.writeFileSync(tsconfig, `${JSON.stringify(TSCONFIG, null, 2)}\n`);
    wrote.push(tsconfig);
  }
  return { pipeline, wrote };
}
