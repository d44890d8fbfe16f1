// Verified S3 writes. Every non-empty object goes up as a multipart upload, so that it becomes visible
// only when CompleteMultipartUpload is sent — after every part was stored as sent: each part carries its
// Content-MD5 (checked by S3) and its returned ETag must be that MD5. A store that writes a PUT body
// straight under its final name (s3rver does) would otherwise show a cut-off object when a connection
// drops mid-upload. After completing, the object's size and ETag are read back. A failed upload is
// aborted, never completed with missing parts. Uploads in flight can be stopped (a job that ends must
// know none of its writes can land later): parts are aborted, a CompleteMultipartUpload already sent is awaited.
import { createHash } from "node:crypto";
import type * as S3Sdk from "@aws-sdk/client-s3";

type S3Client = S3Sdk.S3Client;
let loaded: typeof S3Sdk | undefined;
/** The SDK, loaded on first use: a job that never reaches S3 does not pay for loading it (in every worker too). */
export const s3Sdk = (): typeof S3Sdk => (loaded ??= require("@aws-sdk/client-s3") as typeof S3Sdk);
/** An error the S3 service answered (never one when the SDK was not loaded). */
export const isS3ServiceError = (e: unknown): e is S3Sdk.S3ServiceException => loaded !== undefined && e instanceof loaded.S3ServiceException;

const PARTS_IN_FLIGHT = 4;

/** An error that already names the s3:// path. */
export class UploadError extends Error {}

/** Uploads running in this thread, so that stopUploads can reach them. */
const inFlight = new Set<VerifiedUpload>();
let stopped = false;

/**
 * Stops every upload of this thread and refuses new ones (the thread is about to end): resolves once
 * none of them can still create an object.
 */
export async function stopUploads(): Promise<void> {
  stopped = true;
  await Promise.all([...inFlight].map((upload) => upload.stop()));
}

/** Writes the chunks as one object and checks what was stored; returns the byte and part counts. */
export async function uploadVerified(
  client: S3Client, path: string, target: { bucket: string; key: string }, chunks: Iterable<Uint8Array>, partSize: number,
): Promise<{ bytes: number; parts: number }> {
  if (stopped) throw new UploadError(`${path}: not written: its worker is being stopped (the job ended)`);
  const upload = new VerifiedUpload(client, path, target.bucket, target.key);
  inFlight.add(upload);
  try {
    return await upload.run(chunks, partSize);
  } finally {
    inFlight.delete(upload);
  }
}

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest();
const unquote = (etag: string | undefined) => (etag ?? "").replace(/^"|"$/g, "");
/** With SSE-KMS or customer keys, ETags are not MD5s (S3 still checks each part's Content-MD5). */
const etagIsMd5 = (response: { ServerSideEncryption?: string; SSECustomerAlgorithm?: string }) =>
  !response.ServerSideEncryption?.startsWith("aws:kms") && !response.SSECustomerAlgorithm;

/** The chunks regrouped into parts of partSize bytes (the last one shorter), as Buffers. */
function* partsOf(chunks: Iterable<Uint8Array>, partSize: number): Generator<Buffer> {
  let held: Buffer[] = [];
  let size = 0;
  for (const chunk of chunks) {
    let view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (size + view.length >= partSize) {
      const take = partSize - size;
      held.push(view.subarray(0, take));
      yield Buffer.concat(held);
      view = view.subarray(take);
      held = [];
      size = 0;
    }
    if (view.length > 0) { held.push(Buffer.from(view)); size += view.length; }
  }
  if (size > 0) yield Buffer.concat(held);
}

class VerifiedUpload {
  private readonly abort = new AbortController();
  /** Set once CompleteMultipartUpload is sent: from then on the upload is awaited, not aborted. */
  private completing = false;
  private finished: Promise<unknown> = Promise.resolve();

  constructor(private readonly client: S3Client, private readonly path: string, private readonly bucket: string, private readonly key: string) {}

  stop(): Promise<unknown> {
    if (!this.completing) this.abort.abort();
    return this.finished;
  }

  run(chunks: Iterable<Uint8Array>, partSize: number): Promise<{ bytes: number; parts: number }> {
    const result = this.upload(chunks, partSize);
    this.finished = result.catch(() => undefined);
    return result;
  }

  /** A request that a stop aborts at once (the SDK's own retries included). */
  private async send<T>(request: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.abort.signal.aborted) throw new UploadError(`${this.path}: upload stopped: the job ended`);
    const stoppedNow = new Promise<never>((_resolve, reject) => {
      this.abort.signal.addEventListener("abort", () => reject(new UploadError(`${this.path}: upload stopped: the job ended`)), { once: true });
    });
    stoppedNow.catch(() => undefined);
    return Promise.race([request(this.abort.signal), stoppedNow]);
  }

  private async upload(chunks: Iterable<Uint8Array>, partSize: number): Promise<{ bytes: number; parts: number }> {
    const parts = partsOf(chunks, partSize);
    const first = parts.next();
    const whole = createHash("md5");
    if (first.done) {
      // Nothing to cut short: an empty object is one PUT.
      this.completing = true;
      await this.client.send(new (s3Sdk().PutObjectCommand)({ Bucket: this.bucket, Key: this.key, Body: Buffer.alloc(0), ContentLength: 0, ContentMD5: md5(Buffer.alloc(0)).toString("base64") }));
      await this.verify(0, [], whole.digest("hex"));
      return { bytes: 0, parts: 0 };
    }
    const { UploadId } = await this.send((abortSignal) => this.client.send(new (s3Sdk().CreateMultipartUploadCommand)({ Bucket: this.bucket, Key: this.key }), { abortSignal }));
    const uploadId = UploadId!;
    const digests: Buffer[] = [];
    let bytes = 0;
    let completeError: unknown;
    try {
      const running = new Set<Promise<void>>();
      let failure: unknown;
      let number = 0;
      for (let part: IteratorResult<Buffer> = first; !part.done && failure === undefined; part = parts.next()) {
        const body = part.value;
        const index = number++;
        bytes += body.length;
        whole.update(body);
        digests[index] = md5(body);
        const sending: Promise<void> = this.uploadPart(uploadId, index + 1, body, digests[index])
          .catch((e: unknown) => { failure ??= e; })
          .finally(() => running.delete(sending));
        running.add(sending);
        if (running.size >= PARTS_IN_FLIGHT) await Promise.race(running);
      }
      await Promise.all(running);
      if (failure !== undefined) throw failure;
      this.completing = true;
      await this.client.send(new (s3Sdk().CompleteMultipartUploadCommand)({
        Bucket: this.bucket, Key: this.key, UploadId: uploadId,
        MultipartUpload: { Parts: digests.map((d, i) => ({ PartNumber: i + 1, ETag: `"${d.toString("hex")}"` })) },
      })).catch((e: unknown) => { completeError = e; });
    } catch (e) {
      await this.client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: this.key, UploadId: uploadId })).catch(() => undefined);
      throw e;
    }
    const multipartEtag = `${md5(Buffer.concat(digests)).toString("hex")}-${digests.length}`;
    if (completeError !== undefined) {
      // The completion may have happened with its answer lost (a retry then finds no upload): the object tells.
      if (await this.matches(bytes, [multipartEtag, whole.copy().digest("hex")])) return { bytes, parts: digests.length };
      await this.client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: this.key, UploadId: uploadId })).catch(() => undefined);
      throw completeError;
    }
    await this.verify(bytes, [multipartEtag], whole.digest("hex"));
    return { bytes, parts: digests.length };
  }

  private async uploadPart(uploadId: string, number: number, body: Buffer, digest: Buffer): Promise<void> {
    const response = await this.send((abortSignal) => this.client.send(new (s3Sdk().UploadPartCommand)({
      Bucket: this.bucket, Key: this.key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: body.length, ContentMD5: digest.toString("base64"),
    }), { abortSignal }));
    const etag = unquote(response.ETag);
    if (etagIsMd5(response) && etag !== digest.toString("hex")) {
      throw new UploadError(`${this.path}: part ${number} was stored with ETag ${etag}, not the MD5 of the ${body.length} bytes sent (${digest.toString("hex")})`);
    }
  }

  /** Whether the stored object has this size and one of these ETags (any ETag when it cannot be an MD5). */
  private async matches(bytes: number, etags: string[]): Promise<boolean> {
    const head = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.key })).catch(() => undefined);
    return head !== undefined && head.ContentLength === bytes && (!etagIsMd5(head) || etags.includes(unquote(head.ETag)));
  }

  /**
   * The stored object must be what was sent: its size, and as ETag the multipart form (MD5 of the parts'
   * MD5s) or, as some S3-compatible stores give, the MD5 of the whole. It is not removed when it is not:
   * it may be another writer's, and a file that fails here is never committed.
   */
  private async verify(bytes: number, etags: string[], wholeMd5: string): Promise<void> {
    const head = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.key }));
    const etag = unquote(head.ETag);
    const sizeOk = head.ContentLength === bytes;
    if (sizeOk && (!etagIsMd5(head) || [...etags, wholeMd5].includes(etag))) return;
    throw new UploadError(sizeOk
      ? `${this.path}: the stored object's ETag ${etag} is not the MD5 of the ${bytes} bytes sent (${wholeMd5})`
      : `${this.path}: the stored object has ${head.ContentLength} bytes, ${bytes} were sent`);
  }
}
