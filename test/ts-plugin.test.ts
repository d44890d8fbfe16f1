// The extension's TypeScript server plugin, loaded by a real tsserver the way VS Code loads it (a global
// plugin found under the staged extension), and the New Pipeline scaffold type-checked through it.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { scaffoldPipeline } from "../extension/src/scaffold";
import { EXTENSION_STAGE } from "../scripts/code-server";
import { REPO, tempDir } from "./helpers";

interface Diagnostic { text: string; code: number; start: { line: number } }

/** A tsserver over stdio, speaking its JSON protocol. */
class TsServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = "";
  private seq = 0;
  private readonly waiting = new Map<number, (body: unknown) => void>();

  constructor(pluginArgs: string[]) {
    this.child = spawn(process.execPath, [path.join(REPO, "node_modules/typescript/lib/tsserver.js"), "--disableAutomaticTypingAcquisition", ...pluginArgs]);
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => this.receive(chunk));
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const header = /^Content-Length: (\d+)\r\n\r\n/.exec(this.buffer);
      if (!header) return;
      const length = Number(header[1]);
      const body = Buffer.from(this.buffer.slice(header[0].length), "utf8");
      if (body.length < length) return;
      const message = JSON.parse(body.subarray(0, length).toString("utf8")) as { type: string; request_seq?: number; body?: unknown };
      this.buffer = body.subarray(length).toString("utf8").replace(/^\r?\n/, "");
      if (message.type === "response" && message.request_seq !== undefined) this.waiting.get(message.request_seq)?.(message.body);
    }
  }

  request<T>(command: string, args: object): Promise<T> {
    const seq = ++this.seq;
    const answer = new Promise<T>((resolve) => this.waiting.set(seq, resolve as (body: unknown) => void));
    this.child.stdin.write(`${JSON.stringify({ seq, type: "request", command, arguments: args })}\n`);
    return answer;
  }

  async diagnostics(file: string): Promise<Diagnostic[]> {
    await this.request("open", { file });
    return this.request<Diagnostic[]>("semanticDiagnosticsSync", { file });
  }

  stop(): void {
    this.child.kill();
  }
}

const PIPELINE = `import * as rd from "rdpipe";
export default rd.range(10).map((row: rd.Row) => ({ ...row, twice: (row.id as number) * 2 }));
export const wrong = rd.range("ten");
`;

describe("the TypeScript server plugin (rdpipe resolves to the bundled declarations)", function () {
  this.timeout(60_000);
  const stage = EXTENSION_STAGE;
  let dir: string;
  let withPlugin: TsServer;
  let withoutPlugin: TsServer;

  before(() => {
    assert.ok(fs.existsSync(path.join(stage, "node_modules", "rdpipe-typescript-plugin", "index.js")), "npm run build stages the plugin");
    dir = tempDir("rdpipe-tsplugin-");
    withPlugin = new TsServer(["--globalPlugins", "rdpipe-typescript-plugin", "--pluginProbeLocations", stage]);
    withoutPlugin = new TsServer([]);
  });
  after(() => {
    withPlugin?.stop();
    withoutPlugin?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("without it, rdpipe is an unknown module; with it, the file type-checks against the API (a wrong argument is an error)", async () => {
    const file = path.join(dir, "job.rdpipe.ts");
    fs.writeFileSync(file, PIPELINE);
    const plain = await withoutPlugin.diagnostics(file);
    assert.ok(plain.some((d) => d.code === 2307 && /'rdpipe'/.test(d.text)), JSON.stringify(plain));

    const typed = await withPlugin.diagnostics(file);
    assert.deepEqual(typed.map((d) => [d.code, d.start.line]), [[2345, 3]], JSON.stringify(typed));
    assert.match(typed[0].text, /Argument of type 'string' is not assignable to parameter of type 'number'/);
  });

  it("New Pipeline writes a starter pipeline and a tsconfig.json that type-check with no errors, and never overwrites", async () => {
    const folder = path.join(dir, "new");
    fs.mkdirSync(folder);
    const result = scaffoldPipeline(folder, "first");
    assert.deepEqual(result.wrote, [path.join(folder, "first.rdpipe.ts"), path.join(folder, "tsconfig.json")]);
    assert.deepEqual(await withPlugin.diagnostics(result.pipeline), []);
    assert.throws(() => scaffoldPipeline(folder, "first"), /first\.rdpipe\.ts already exists/);
    assert.throws(() => scaffoldPipeline(folder, "../escape"), /may hold letters, digits/);
    fs.writeFileSync(path.join(folder, "tsconfig.json"), "{}\n");
    assert.deepEqual(scaffoldPipeline(folder, "second").wrote, [path.join(folder, "second.rdpipe.ts")], "an existing tsconfig is left alone");
    assert.equal(fs.readFileSync(path.join(folder, "tsconfig.json"), "utf8"), "{}\n");
  });
});
