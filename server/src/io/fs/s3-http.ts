// The S3 reads (HEAD, ranged GET, ListObjectsV2) over node:http signed with SigV4 by `aws4` (a few kB, no dependencies). Loading
// the AWS SDK costs ~100 ms of CPU (more on a busy machine) in the driver and again in every worker,
// before their first request: a preview of files on S3 waited for it twice. Used where the credentials
// are static (given, or in the environment, where the SDK's chain would take them first) and the
// endpoint is known; everything else (writes, other credential sources) stays with the SDK.
import { createHash } from "node:crypto";
import type http from "node:http";
import type { S3Description } from "./types";

/** What S3 answered when it refused a request: its error code (NoSuchKey, AccessDenied, ...), message and HTTP status. */
export class S3HttpError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
    this.name = code;
  }
}

export interface ListedPage {
  keys: { key: string; size: number; etag: string }[];
  keyCount: number;
  nextToken?: string;
}

const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");
/** Network errors worth another attempt (the SDK's standard retry mode retries these too). */
const TRANSIENT_NETWORK = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ECONNABORTED"]);
// Loaded on the first request: a thread that never reads S3 (a worker of a local job) spends nothing on them.
let loaded: { aws4: typeof import("aws4"); http: typeof http; https: typeof import("node:https"); agents: { http: http.Agent; https: http.Agent } } | undefined;
function modules(): NonNullable<typeof loaded> {
  if (!loaded) {
    const nodeHttp = require("node:http") as typeof http;
    const nodeHttps = require("node:https") as typeof import("node:https");
    loaded = {
      aws4: require("aws4") as typeof import("aws4"), http: nodeHttp, https: nodeHttps,
      agents: { http: new nodeHttp.Agent({ keepAlive: true }), https: new nodeHttps.Agent({ keepAlive: true }) },
    };
  }
  return loaded;
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters; "/" kept in paths. */
export function uriEncode(text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, "/") : encoded;
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" };
function xmlText(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => name[0] === "#"
    ? String.fromCodePoint(name[1].toLowerCase() === "x" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10))
    : XML_ENTITIES[name] ?? whole);
}
function xmlTag(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return match ? xmlText(match[1]) : undefined;
}

export class S3HttpClient {
  private constructor(
    private readonly endpoint: URL, private readonly customEndpoint: boolean, private readonly region: string,
    private readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, private readonly maxAttempts: number,
  ) {}

  /** A client for the description, or undefined where only the SDK knows how to reach the store or sign for it. */
  static for(description: S3Description): S3HttpClient | undefined {
    const env = process.env;
    const credentials = description.credentials
      ?? (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN || undefined } : undefined);
    if (!credentials || !description.region) return undefined;
    const endpoint = description.endpoint ?? `https://s3.${description.region}.amazonaws.com`;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return undefined;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return new S3HttpClient(url, description.endpoint !== undefined, description.region, credentials, description.maxAttempts ?? 8);
  }

  async head(bucket: string, key: string): Promise<{ size: number; etag: string } | null> {
    const response = await this.request("HEAD", bucket, key, {}, {}, true);
    if (!response) return null;
    return { size: Number(response.headers["content-length"] ?? 0), etag: String(response.headers.etag ?? "") };
  }

  async get(bucket: string, key: string, range?: string): Promise<Uint8Array> {
    return (await this.request("GET", bucket, key, {}, range ? { range } : {}))!.body;
  }

  async list(bucket: string, prefix: string, maxKeys: number, token?: string): Promise<ListedPage> {
    const query: Record<string, string> = { "list-type": "2", "max-keys": String(maxKeys), prefix };
    if (token) query["continuation-token"] = token;
    const xml = Buffer.from((await this.request("GET", bucket, "", query, {}))!.body).toString("utf8");
    const keys = [...xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)].map(([, entry]) => ({
      key: xmlTag(entry, "Key") ?? "", size: Number(xmlTag(entry, "Size") ?? 0), etag: xmlTag(entry, "ETag") ?? "",
    }));
    const truncated = xmlTag(xml, "IsTruncated") === "true";
    return { keys, keyCount: Number(xmlTag(xml, "KeyCount") ?? keys.length), nextToken: truncated ? xmlTag(xml, "NextContinuationToken") : undefined };
  }

  /** Sends with retries of throttling, 5xx and network errors (backoff as the SDK's standard mode); a 404 is null where `missingIsNull`. */
  private async request(
    method: string, bucket: string, key: string, query: Record<string, string>, headers: Record<string, string>, missingIsNull = false,
  ): Promise<{ body: Uint8Array; headers: http.IncomingHttpHeaders } | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.send(method, bucket, key, query, headers);
        if (response.status < 300) return response;
        if (response.status === 404 && missingIsNull) return null;
        throw this.serviceError(response.status, response.body, key === "" ? "" : key);
      } catch (e) {
        if (attempt >= this.maxAttempts || !transient(e)) throw e;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20_000, 100 * 2 ** attempt)));
      }
    }
  }

  private serviceError(status: number, body: Uint8Array, key: string): S3HttpError {
    const xml = Buffer.from(body).toString("utf8");
    const code = xmlTag(xml, "Code") ?? (status === 404 ? (key ? "NotFound" : "NoSuchBucket") : status === 403 ? "AccessDenied" : `HTTP${status}`);
    return new S3HttpError(code, xmlTag(xml, "Message") ?? `HTTP ${status}`, status);
  }

  private send(method: string, bucket: string, key: string, query: Record<string, string>, extra: Record<string, string>): Promise<{ status: number; body: Uint8Array; headers: http.IncomingHttpHeaders }> {
    const base = this.endpoint.pathname.replace(/\/$/, "");
    // A custom endpoint is addressed path-style (as the SDK client is configured); AWS virtual-hosted, but for bucket names with dots (as the SDK does).
    const pathStyle = this.customEndpoint || bucket.includes(".");
    const host = pathStyle ? this.endpoint.host : `${bucket}.${this.endpoint.host}`;
    const path = `${base}${pathStyle ? `/${uriEncode(bucket, false)}` : ""}/${uriEncode(key, true)}`;
    const queryText = Object.keys(query).sort().map((k) => `${uriEncode(k, false)}=${uriEncode(query[k], false)}`).join("&");
    const headers = signedHeaders({ method, host, path, query: queryText, headers: extra }, this.credentials, this.region, new Date());
    const secure = this.endpoint.protocol === "https:";
    const { agents, ...transports } = modules();
    return new Promise((resolve, reject) => {
      const request = (secure ? transports.https : transports.http).request({
        method, host: this.endpoint.hostname, port: this.endpoint.port || undefined, path: queryText ? `${path}?${queryText}` : path, headers,
        agent: secure ? agents.https : agents.http,
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks), headers: response.headers }));
        response.on("error", reject);
      });
      request.on("error", reject);
      request.end();
    });
  }

}

/**
 * The headers of an S3 request without a body, signed with SigV4 (the `aws4` library) at `now`: `path`
 * and `query` as sent (URI-encoded, the query's parameters sorted), `headers` lower-case.
 */
export function signedHeaders(
  request: { method: string; host: string; path: string; query: string; headers: Record<string, string> },
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, region: string, now: Date,
): Record<string, string> {
  const headers: Record<string, string> = {
    host: request.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": now.toISOString().replace(/[-:]|\.\d{3}/g, ""), ...request.headers,
  };
  // doNotEncodePath: the path is already encoded as S3 wants it (aws4 would encode it again).
  const signed = modules().aws4.sign({
    service: "s3", region, method: request.method, host: request.host, headers, doNotEncodePath: true,
    path: request.query ? `${request.path}?${request.query}` : request.path,
  }, credentials);
  return Object.fromEntries(Object.entries(signed.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]));
}

/** Throttling, server errors and dropped connections are worth another attempt; what S3 refused otherwise is final. */
function transient(e: unknown): boolean {
  if (e instanceof S3HttpError) return e.status >= 500 || e.status === 429 || /^(SlowDown|Throttl|RequestTimeout)/.test(e.code);
  const code = (e as NodeJS.ErrnoException)?.code;
  return code !== undefined && TRANSIENT_NETWORK.has(code);
}
