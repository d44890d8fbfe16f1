// S3 and S3-compatible stores through @aws-sdk/client-s3, loaded on first use; reads (HEAD, GET, LIST)
// go through s3-http.ts where the credentials are static, and never load it. A custom endpoint (option,
// or the standard AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL variables) implies path-style addressing.
// Credentials come from the default provider chain unless given. Transient errors (5xx, SlowDown, resets)
// are retried with exponential backoff. Writes are verified uploads (s3-upload.ts).
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { FileInfo, FileSystem, ListingPage, S3Description, S3Options } from "./types";
import { S3HttpClient, S3HttpError, type ListedPage } from "./s3-http";
import { UploadError, isS3ServiceError, s3Sdk, uploadVerified } from "./s3-upload";


// The SDK warns (once per worker thread) that releases after January 2027 need Node 22; ours is pinned.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const MIN_PART_SIZE = 5 * 1024 * 1024;
/** The first listing page is kept short so the first read task can start sooner. */
const FIRST_PAGE_KEYS = 100;

function directoryPrefix(key: string): string {
  return key === "" || key.endsWith("/") ? key : `${key}/`;
}

function parse(path: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(path);
  if (!match) throw new Error(`not an S3 path: ${path}`);
  return { bucket: match[1], key: match[2] };
}

/** 412: the object exists; 409: another conditional write to it is in progress (it will exist). */
function isPreconditionFailure(e: unknown): boolean {
  return isS3ServiceError(e) && (e.$metadata.httpStatusCode === 412 || e.$metadata.httpStatusCode === 409);
}

function isNotFound(e: unknown): boolean {
  return isS3ServiceError(e) && (e.$metadata.httpStatusCode === 404 || e.name === "NotFound" || e.name === "NoSuchKey");
}

/** What S3 answered to a refused request, through the SDK or s3-http. */
function refusal(e: unknown): { name: string; status?: number; message: string } | undefined {
  if (e instanceof S3HttpError) return { name: e.code, status: e.status, message: e.message };
  return isS3ServiceError(e) ? { name: e.name, status: e.$metadata.httpStatusCode, message: e.message } : undefined;
}

/** Error messages that name the path and say what S3 answered. */
function describeError(path: string, e: unknown): Error {
  if (e instanceof UploadError) return e;
  const refused = refusal(e);
  if (refused) {
    const { name, status, message } = refused;
    const what = name === "NoSuchBucket" ? `no such bucket "${parse(path).bucket}"`
      : name === "NoSuchKey" || status === 404 ? "no such key"
      : status === 403 ? `access denied (${name})`
      : `${name}${status ? ` (HTTP ${status})` : ""}: ${message}`;
    return new Error(`${path}: ${what}`, { cause: e });
  }
  // The cause stays, so that callers can tell a store that failed from bytes that did not parse.
  return new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

export class S3FileSystem implements FileSystem {
  private sdkClient?: S3Client;
  /** The SDK-free path for reads, where the credentials allow it. */
  private readonly http?: S3HttpClient;
  readonly description: S3Description;
  /** What this instance did: object GETs, bytes they returned, uploads that went multipart. */
  readonly counters = { gets: 0, bytesRead: 0, multipartUploads: 0 };

  constructor(options: S3Options = {}) {
    this.description = { kind: "s3", ...options };
    this.http = S3HttpClient.for(this.description);
  }

  private get client(): S3Client {
    const description = this.description;
    return this.sdkClient ??= new (s3Sdk().S3Client)({
      endpoint: description.endpoint,
      forcePathStyle: description.endpoint !== undefined,
      region: description.region,
      credentials: description.credentials,
      maxAttempts: description.maxAttempts ?? 8,
      retryMode: "standard",
      // S3-compatible servers do not all know the SDK's default CRC checksums.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  /** Endpoint and region from the standard environment variables, resolved here so that workers get them as data. */
  static fromEnvironment(overrides: S3Options = {}): S3FileSystem {
    const env = process.env;
    return new S3FileSystem({
      endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
      ...(env.AWS_MAX_ATTEMPTS ? { maxAttempts: Number(env.AWS_MAX_ATTEMPTS) } : {}),
      ...overrides,
    });
  }

  listDirectory(dir: string): AsyncIterable<ListingPage> {
    return this.listPages(dir);
  }

  /** One page of the flat listing under dir (no delimiter: it covers all nested "directories"; s3rver also misses common prefixes more than one level down). */
  private async listPage(dir: string, token: string | undefined, maxKeys: number): Promise<ListedPage> {
    const { bucket, key } = parse(dir);
    const prefix = directoryPrefix(key);
    try {
      if (this.http) return await this.http.list(bucket, prefix, maxKeys, token);
      const page = await this.client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: maxKeys }));
      const keys = (page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? "" }));
      return { keys, keyCount: page.KeyCount ?? keys.length, nextToken: page.IsTruncated ? page.NextContinuationToken : undefined };
    } catch (e) {
      throw describeError(dir, e);
    }
  }

  private firstPageKeys(): number {
    return Math.min(FIRST_PAGE_KEYS, this.description.listPageSize ?? 1000);
  }

  /** The listing's pages, from `first` (its first page, already asked for) when given. */
  private async *listPages(dir: string, first?: Promise<ListedPage>): AsyncIterable<ListingPage> {
    const { bucket } = parse(dir);
    let pending = first ?? this.listPage(dir, undefined, this.firstPageKeys());
    for (;;) {
      const page = await pending;
      yield {
        files: page.keys.filter((o) => !o.key.endsWith("/")).map((o) => ({ path: `s3://${bucket}/${o.key}`, size: o.size, etag: o.etag })),
        directories: [],
      };
      if (!page.nextToken) return;
      pending = this.listPage(dir, page.nextToken, this.description.listPageSize ?? 1000);
    }
  }

  /** Both questions and the listing's first page at once: is it an object, and which objects are under it? */
  async statAndList(path: string): Promise<{ info: FileInfo | "directory" | null; pages?: AsyncIterable<ListingPage> }> {
    const first = this.listPage(path, undefined, this.firstPageKeys());
    first.catch(() => undefined); // a HEAD that finds the object makes the listing moot
    const object = await this.headObject(path);
    if (object) return { info: object };
    return { info: (await first).keyCount > 0 ? "directory" : null, pages: this.listPages(path, first) };
  }

  /** The object's info, null when there is none (or the path names a prefix). */
  private async headObject(path: string): Promise<FileInfo | null> {
    const { bucket, key } = parse(path);
    if (key === "" || key.endsWith("/")) return null;
    try {
      if (this.http) {
        const object = await this.http.head(bucket, key);
        return object && { path, ...object };
      }
      const object = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: key }));
      return { path, size: object.ContentLength ?? 0, etag: object.ETag ?? "" };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw describeError(path, e);
    }
  }

  async stat(path: string): Promise<FileInfo | "directory" | null> {
    // Both questions at once: is it an object, and are there objects under it?
    const [object, listing] = await Promise.all([this.headObject(path), this.listPage(path, undefined, 1)]);
    return object ?? (listing.keyCount > 0 ? "directory" : null);
  }

  private async get(path: string, range?: string) {
    const { bucket, key } = parse(path);
    this.counters.gets++;
    try {
      return await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: key, Range: range }));
    } catch (e) {
      throw describeError(path, e);
    }
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    // Always an explicit range: some S3-compatible servers answer suffix ranges (bytes=-N) wrongly.
    return this.getBytes(path, `bytes=${start}-${end - 1}`);
  }

  readAll(path: string): Promise<Uint8Array> {
    return this.getBytes(path);
  }

  private async getBytes(path: string, range?: string): Promise<Uint8Array> {
    let bytes: Uint8Array;
    if (this.http) {
      const { bucket, key } = parse(path);
      this.counters.gets++;
      try {
        bytes = await this.http.get(bucket, key, range);
      } catch (e) {
        throw describeError(path, e);
      }
    } else {
      bytes = await (await this.get(path, range)).Body!.transformToByteArray();
    }
    this.counters.bytesRead += bytes.byteLength;
    return bytes;
  }

  readStream(path: string): Readable {
    const get = () => this.get(path);
    return Readable.from((async function* () {
      const response = await get();
      yield* response.Body as Readable;
    })());
  }

  async write(path: string, chunks: Iterable<Uint8Array>): Promise<number> {
    try {
      const { bytes, parts } = await uploadVerified(this.client, path, parse(path), chunks, Math.max(MIN_PART_SIZE, this.description.partSize ?? MIN_PART_SIZE));
      if (parts > 1) this.counters.multipartUploads++;
      return bytes;
    } catch (e) {
      throw describeError(path, e);
    }
  }

  private conditionalWrites?: Promise<boolean>;

  async writeIfAbsent(path: string, data: Uint8Array): Promise<"created" | "exists" | "unsupported"> {
    this.conditionalWrites ??= this.description.conditionalWrites !== undefined
      ? Promise.resolve(this.description.conditionalWrites) : this.probeConditionalWrites(path);
    if (!(await this.conditionalWrites.catch((e: unknown) => { this.conditionalWrites = undefined; throw e; }))) return "unsupported";
    const { bucket, key } = parse(path);
    try {
      await this.client.send(new (s3Sdk().PutObjectCommand)({ Bucket: bucket, Key: key, Body: data, ContentLength: data.byteLength, IfNoneMatch: "*" }));
      return "created";
    } catch (e) {
      if (isPreconditionFailure(e)) return "exists";
      throw describeError(path, e);
    }
  }

  /** Writes a probe object beside path twice, the second time on the condition that it does not exist. */
  private async probeConditionalWrites(path: string): Promise<boolean> {
    const { bucket, key } = parse(path);
    const probe = `${key.slice(0, key.lastIndexOf("/") + 1)}.conditional-write-probe-${randomBytes(6).toString("hex")}.tmp`;
    try {
      await this.client.send(new (s3Sdk().PutObjectCommand)({ Bucket: bucket, Key: probe, Body: "", ContentLength: 0 }));
      await this.client.send(new (s3Sdk().PutObjectCommand)({ Bucket: bucket, Key: probe, Body: "", ContentLength: 0, IfNoneMatch: "*" }));
      return false;
    } catch (e) {
      if (isPreconditionFailure(e)) return true;
      if (isS3ServiceError(e) && e.$metadata.httpStatusCode === 501) return false;
      throw describeError(`s3://${bucket}/${probe}`, e);
    } finally {
      await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: bucket, Key: probe })).catch(() => undefined);
    }
  }

  async deleteByPrefix(dir: string, namePrefix: string): Promise<number> {
    const { bucket, key } = parse(dir);
    const prefix = `${key === "" || key.endsWith("/") ? key : `${key}/`}${namePrefix}`;
    let deleted = 0;
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new (s3Sdk().ListObjectsV2Command)({
          Bucket: bucket, Prefix: prefix, ContinuationToken: token, Delimiter: namePrefix === "" ? undefined : "/",
        }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) await this.deleteObjects(bucket, keys);
        deleted += keys.length;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      if (isS3ServiceError(e) && e.name === "NoSuchBucket") return 0;
      throw describeError(dir, e);
    }
    return deleted;
  }

  async renameFile(from: string, to: string): Promise<void> {
    const source = parse(from);
    const target = parse(to);
    try {
      // CopySource is "bucket/key", URL-encoded: encodeURI keeps reserved characters (a partition folder's "=")
      // as they are, which stores that decode it with decodeURI (s3rver) need; "?" and "#" would start a query.
      const copySource = `${source.bucket}/${encodeURI(source.key).replace(/[?#]/g, (c) => encodeURIComponent(c))}`;
      await this.client.send(new (s3Sdk().CopyObjectCommand)({ Bucket: target.bucket, Key: target.key, CopySource: copySource }));
    } catch (e) {
      throw describeError(to, e);
    }
    await this.deleteFiles([from]);
  }

  async deleteFiles(paths: string[]): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const path of paths) {
      const { bucket, key } = parse(path);
      byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), key]);
    }
    for (const [bucket, keys] of byBucket) {
      // DeleteObjects takes at most 1000 keys.
      for (let start = 0; start < keys.length; start += 1000) {
        const objects = keys.slice(start, start + 1000).map((Key) => ({ Key }));
        try {
          await this.deleteObjects(bucket, objects);
        } catch (e) {
          throw describeError(`s3://${bucket}/${objects[0].Key}`, e);
        }
      }
    }
  }

  /** DeleteObjects answers 200 even when some keys failed; those are errors too. */
  private async deleteObjects(bucket: string, objects: { Key: string }[]): Promise<void> {
    const response = await this.client.send(new (s3Sdk().DeleteObjectsCommand)({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
    const failed = response.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(`s3://${bucket}/${failed[0].Key}: could not delete (${failed[0].Code}: ${failed[0].Message})${failed.length > 1 ? ` and ${failed.length - 1} more` : ""}`);
    }
  }

  join(dir: string, name: string): string {
    return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
  }
}
