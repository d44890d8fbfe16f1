// The HTTP API: routes, validation, token check, closed CORS, body limits and JSON errors.
import { createHash, timingSafeEqual } from "node:crypto";
import fs from "node:fs/promises";
import express, { type NextFunction, type Request, type Response } from "express";
import { refineSchema } from "../block";
import { MetadataCache, assertSameFileSchema, fileMetadata, listFiles, type FileRef } from "../io";
import {
  API_VERSION, CHECKPOINT_PAGE_DEFAULT, CHECKPOINT_PAGE_MAX, FINISHED_STATES, type ApiErrorResponse, type ApiResponse, type JobEvent, type JobOptions,
  type JobSource, type SchemaResponse, type CheckpointViewName,
} from "../contract";
import { HttpError } from "./errors";
import type { JobManager } from "./jobs";
import { clusterView } from "./cluster";
import type { Membership } from "../cluster";
import type { PathRoots } from "./paths";
import { schemaFields } from "../runner";

export interface AppOptions {
  jobs: JobManager;
  roots: PathRoots;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body, e.g. "10mb" (an uploaded bundle is the largest body there is). */
  bodyLimit: string;
  version: string;
  /** The server's cluster port: the nodes joined there and where they join. */
  cluster?: { membership: Membership; url: string };
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const SSE_HEARTBEAT_MS = 15_000;

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Constant-time: both sides are hashed to equal-length digests first. */
function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function send(res: Response, status: number, body: ApiResponse): void {
  res.status(status).json(body);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function bad(message: string): HttpError {
  return new HttpError(400, "bad_request", message);
}

function parseSource(value: unknown): JobSource {
  if (!isRecord(value)) throw bad("source must be an object: { kind: 'path', path } or { kind: 'bundle', filename, code }");
  if (value.kind === "path") {
    if (typeof value.path !== "string") throw bad("source.path must be a string");
    return { kind: "path", path: value.path };
  }
  if (value.kind === "bundle") {
    if (typeof value.filename !== "string" || value.filename.length === 0 || value.filename.length > 4096) {
      throw bad("source.filename must be a non-empty string");
    }
    if (typeof value.code !== "string" || value.code.length === 0) throw bad("source.code must be a non-empty string");
    return { kind: "bundle", filename: value.filename, code: value.code };
  }
  throw bad("source.kind must be 'path' or 'bundle'");
}

function parseOptions(value: unknown): JobOptions {
  if (value === undefined) return {};
  if (!isRecord(value)) throw bad("options must be an object");
  const options: JobOptions = {};
  for (const [key, max] of [["preview", 1_000_000], ["workers", 1024], ["memoryBytes", 2 ** 50]] as const) {
    const n = value[key];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isInteger(n) || n <= 0 || n > max) throw bad(`options.${key} must be a positive integer up to ${max}`);
    options[key] = n;
  }
  const until = value.untilOperator;
  if (until !== undefined) {
    if (typeof until !== "number" || !Number.isInteger(until) || until < 0 || until > 100_000) throw bad("options.untilOperator must be an operator index (an integer from 0)");
    options.untilOperator = until;
  }
  const unknown = Object.keys(value).filter((k) => !["preview", "workers", "memoryBytes", "untilOperator"].includes(k));
  if (unknown.length) throw bad(`unknown option ${unknown.join(", ")}`);
  return options;
}

/** A pipeline file named by a client: inside the roots, and a file. */
async function pipelineFile(roots: PathRoots, userPath: string): Promise<string> {
  const resolved = await roots.resolve(userPath);
  if (!(await fs.stat(resolved)).isFile()) throw bad(`${userPath} is not a file`);
  return resolved;
}

/** A paging query parameter: absent gives the default; anything but a decimal integer in [min, max] is a 400. */
function pageParam(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw bad(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value).slice(0, 40)}`);
  return n;
}

const CHECKPOINT_VIEWS: Record<string, CheckpointViewName> = { ids: "ids", rows: "rows", errors: "errors" };

function requestType(body: unknown, expected: string): Record<string, unknown> {
  if (!isRecord(body)) throw bad("the request body must be a JSON object");
  if (body.type !== expected) throw bad(`the request body's type must be '${expected}'`);
  return body;
}

function writeEvent(res: Response, event: JobEvent): void {
  res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
}

export function createApp(options: AppOptions): express.Express {
  const { jobs, roots } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");

  // CORS is closed: no browser page may call this API (no Access-Control-* headers, no preflight).
  app.use((req, _res, next) => {
    if (req.method === "OPTIONS" || req.headers.origin !== undefined) {
      throw new HttpError(403, "forbidden", "cross-origin requests are not allowed");
    }
    // Without a token the server is on loopback; a foreign Host header means DNS rebinding.
    if (!options.token && !LOOPBACK_HOSTS.has((req.headers.host ?? "").replace(/:\d+$/, ""))) {
      throw new HttpError(403, "forbidden", "this server only answers requests addressed to localhost");
    }
    if (options.token) {
      const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
      if (!match || !tokenMatches(match[1], options.token)) throw new HttpError(401, "unauthorized", "missing or wrong token (Authorization: Bearer <token>)");
    }
    if (req.method === "POST" && !req.is("application/json")) {
      throw new HttpError(415, "unsupported_media_type", "POST bodies must be application/json");
    }
    next();
  });
  app.use(express.json({ limit: options.bodyLimit, strict: true }));

  app.get("/health", (_req, res) => send(res, 200, { type: "health", ok: true, apiVersion: API_VERSION, version: options.version }));

  app.get("/jobs", (_req, res) => send(res, 200, { type: "jobs", jobs: jobs.list() }));

  app.get("/cluster", (_req, res) => {
    const { cluster } = options;
    if (!cluster) throw new HttpError(404, "not_found", "this server heads no cluster: start it with --cluster-port P (and --cluster-host H) for nodes to join");
    send(res, 200, clusterView(cluster.membership, cluster.url, jobs));
  });

  app.post("/jobs", async (req, res) => {
    const body = requestType(req.body, "submitJob");
    const source = parseSource(body.source);
    const jobOptions = parseOptions(body.options);
    const resolved = source.kind === "path" ? await pipelineFile(roots, source.path) : undefined;
    send(res, 201, { type: "job", job: jobs.submit(source, resolved, jobOptions) });
  });

  app.get("/jobs/:id", (req, res) => send(res, 200, { type: "job", ...jobs.get(req.params.id) }));

  app.post("/jobs/:id/cancel", (req, res) => send(res, 202, { type: "job", job: jobs.cancel(req.params.id) }));

  app.post("/jobs/:id/resume", async (req, res) => {
    const body = requestType(req.body, "resumeJob");
    const options = parseOptions(body.options);
    const original = jobs.resumable(req.params.id);
    let resolved: string | undefined;
    let bundle: Extract<JobSource, { kind: "bundle" }> | undefined;
    if (original.sourceKind === "path") {
      if (body.source !== undefined) throw bad("a path job is resumed from its pipeline file as it is on disk now (fix the file there); source is only for bundle jobs");
      resolved = await pipelineFile(roots, original.pipeline); // checked again: the file may have moved or become a symlink
    } else if (body.source !== undefined) {
      const source = parseSource(body.source);
      if (source.kind !== "bundle") throw bad("a bundle job is resumed with a bundle: source must be { kind: 'bundle', filename, code }");
      bundle = source;
    }
    send(res, 201, { type: "job", job: jobs.resume(req.params.id, resolved, bundle, options) });
  });

  app.get(["/jobs/:id/checkpoint", "/jobs/:id/checkpoint/:part"], async (req, res) => {
    const { id, part } = req.params as { id: string; part?: string };
    const view = part === undefined ? "summary" : Object.hasOwn(CHECKPOINT_VIEWS, part) ? CHECKPOINT_VIEWS[part] : undefined;
    if (!view) throw new HttpError(404, "not_found", `no checkpoint view '${String(part).slice(0, 40)}' (ids, rows or errors)`);
    const offset = pageParam(req.query.offset, "offset", 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = pageParam(req.query.limit, "limit", 1, CHECKPOINT_PAGE_MAX, CHECKPOINT_PAGE_DEFAULT);
    send(res, 200, await jobs.checkpointView(id, view, offset, limit));
  });

  app.get("/jobs/:id/events", (req, res) => {
    jobs.get(req.params.id); // an unknown or malformed id is answered with a JSON error, before the stream starts
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
    const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), SSE_HEARTBEAT_MS);
    // The stream ends once the job has finished: after its `finished` event, or at once for a finished job.
    const lastEventId = Number(req.headers["last-event-id"]);
    const unsubscribe = jobs.subscribe(req.params.id, (event) => {
      writeEvent(res, event);
      if (event.type === "finished" || (event.type === "state" && FINISHED_STATES.includes(event.job.state))) res.end();
    }, Number.isSafeInteger(lastEventId) && lastEventId >= 0 ? lastEventId : undefined);
    req.on("close", () => { clearInterval(heartbeat); unsubscribe(); });
    if (res.writableEnded) { clearInterval(heartbeat); unsubscribe(); }
  });

  app.post("/plan", async (req, res) => {
    const source = parseSource(requestType(req.body, "inspectPlan").source);
    const pipeline = source.kind === "path" ? { filename: await roots.resolve(source.path) } : { filename: source.filename, code: source.code };
    send(res, 200, { type: "plan", pipeline: source.kind === "path" ? pipeline.filename : source.filename, ...await jobs.inspectPlan(pipeline) });
  });

  app.get("/schema", async (req, res) => {
    const target = await roots.resolve(req.query.path);
    let files: FileRef[];
    let metadata: Awaited<ReturnType<typeof fileMetadata>>[];
    try {
      const listed = await roots.listFiles(target);
      if (!listed.some((file) => file.toLowerCase().endsWith(".parquet"))) throw new Error(`no .parquet files in ${target}`);
      files = await listFiles(listed, { fileExtensions: ["parquet"] });
      // The same cache a readParquet(target) run fills and reuses, keyed by (path, size, etag).
      const cache = await MetadataCache.open("parquet", [target]);
      metadata = await Promise.all(files.map((f) => fileMetadata("parquet", f, undefined, cache)));
      await cache.save();
      // The editor must not complete columns of a read that cannot run: files readParquet would refuse are an error here too.
      files.forEach((file, i) => assertSameFileSchema({ file: files[0].path, schema: metadata[0].schema! }, { file: file.path, schema: metadata[i].schema! }));
    } catch (e) {
      throw new HttpError(422, "data_unreadable", `cannot read Parquet metadata under ${req.query.path}: ${(e as Error).message}`);
    }
    const body: SchemaResponse = {
      type: "schema", path: target, files: files.length, rows: metadata.reduce((sum, m) => sum + (m.rows ?? 0), 0),
      // A column null in every row of the first file takes its type from the others.
      schema: metadata[0]?.schema ? schemaFields(metadata.reduce((schema, m) => refineSchema(schema, m.schema!), metadata[0].schema)) : null,
    };
    send(res, 200, body);
  });

  app.use((req) => {
    throw new HttpError(404, "not_found", `no route ${req.method} ${req.path.slice(0, 200)}`);
  });

  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const body = (status: number, code: ApiErrorResponse["error"]["code"], message: string) =>
      send(res, status, { type: "error", error: { code, message } });
    if (error instanceof HttpError) return body(error.status, error.code, error.message);
    const parserError = error as { type?: string; status?: number; message?: string };
    if (parserError.type === "entity.too.large") return body(413, "payload_too_large", `the request body is larger than ${options.bodyLimit}`);
    if (typeof parserError.status === "number" && parserError.status >= 400 && parserError.status < 500) {
      return body(parserError.status, "bad_request", `malformed request: ${parserError.message}`);
    }
    console.error("internal error:", error);
    return body(500, "internal", "internal server error");
  });
  return app;
}
