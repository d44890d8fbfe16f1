// New Pipeline: writes a starter pipeline into a folder, with what makes `import * as rd from "rdpipe"`
// type-check in the editor when the folder has no rdpipe package installed: the API's declarations
// (copied from the extension into .rdpipe/types/rdpipe/) and a tsconfig.json mapping "rdpipe" to them.
import fs from "node:fs";
import path from "node:path";

export const STARTER_PIPELINE = `// A pipeline: read → transform → write. Run it with the Run CodeLens above the export,
// or "rdpipe: Run Pipeline" in the command palette; its progress shows in the rdpipe panel.
import * as rd from "rdpipe";

function addLength(row: rd.Row) {
  return { ...row, length: String(row.text).length };
}

export default rd
  .fromItems([{ id: 1, text: "hello" }, { id: 2, text: "streaming" }, { id: 3, text: "world" }])
  .map(addLength)
  .filter((row) => (row.length as number) > 4);
`;

const TYPES_DIR = path.join(".rdpipe", "types", "rdpipe");

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022", module: "commonjs", moduleResolution: "node", strict: true, skipLibCheck: true, noEmit: true,
    esModuleInterop: true, baseUrl: ".", paths: { rdpipe: [TYPES_DIR.split(path.sep).join("/")] },
  },
  include: ["**/*.rdpipe.ts"],
};

export interface ScaffoldResult { pipeline: string; wrote: string[]; notes: string[] }

/**
 * Writes `<name>.rdpipe.ts` into `folder` (never over an existing file) and, unless the folder already
 * resolves `rdpipe` (an installed package), the API's declarations and a tsconfig.json.
 */
export function scaffoldPipeline(folder: string, name: string, bundledPackage: string): ScaffoldResult {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`a pipeline name may hold letters, digits, '.', '-' and '_' only, got '${name}'`);
  const pipeline = path.join(folder, `${name.replace(/\.rdpipe\.ts$/, "")}.rdpipe.ts`);
  if (fs.existsSync(pipeline)) throw new Error(`${pipeline} already exists`);
  const wrote: string[] = [];
  const notes: string[] = [];
  fs.writeFileSync(pipeline, STARTER_PIPELINE, { flag: "wx" });
  wrote.push(pipeline);
  if (fs.existsSync(path.join(folder, "node_modules", "rdpipe", "package.json"))) return { pipeline, wrote, notes };

  const types = path.join(folder, TYPES_DIR);
  fs.rmSync(types, { recursive: true, force: true });
  fs.cpSync(path.join(bundledPackage, "types"), types, { recursive: true });
  fs.writeFileSync(path.join(types, "package.json"), JSON.stringify({ name: "rdpipe", types: "api/index.d.ts" }, null, 2));
  wrote.push(types);
  const tsconfig = path.join(folder, "tsconfig.json");
  if (fs.existsSync(tsconfig)) {
    notes.push(`${tsconfig} exists and was left alone: add "paths": { "rdpipe": ["${TSCONFIG.compilerOptions.paths.rdpipe[0]}"] } to its compilerOptions`);
  } else {
    fs.writeFileSync(tsconfig, `${JSON.stringify(TSCONFIG, null, 2)}\n`);
    wrote.push(tsconfig);
  }
  return { pipeline, wrote, notes };
}
