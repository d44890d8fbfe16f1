// A typed client of the execution server (the CLI's remote mode, the extension, tests, the bench): JSON
// requests and the SSE event stream, parsed from fetch (Node 20 has no EventSource).
import type { ApiErrorResponse, ApiRequest, ApiResponse, JobEvent } from "./api";

export class RemoteError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

type ResponseOf<T extends ApiResponse["type"]> = Extract<ApiResponse, { type: T }>;

/** What the client requests with: the global fetch, or one that trusts another CA (the extension's `rdpipe.server.caFile`). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** Node's codes for a server certificate that does not chain to a trusted CA. */
const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT",
]);

export class RemoteClient {
  /** The server's URL, without a trailing slash. */
  readonly baseUrl: string;

  constructor(baseUrl: string, private readonly token?: string, private readonly fetch: FetchFunction = (url, init) => globalThis.fetch(url, init)) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  private headers(json: boolean): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(json ? { "content-type": "application/json" } : {}) };
  }

  /** One request; a non-2xx answer becomes a RemoteError carrying the server's message. */
  async request<T extends ApiResponse["type"]>(method: "GET" | "POST", route: string, expected: T, body?: ApiRequest): Promise<ResponseOf<T>> {
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}${route}`, {
        method, headers: this.headers(method === "POST"), body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
      });
    } catch (e) {
      const cause = (e as Error).cause as { code?: string; message?: string } | undefined;
      const hint = UNTRUSTED_CERTIFICATE.has(cause?.code ?? "") ? " (the server's certificate does not chain to a CA this process trusts: point NODE_EXTRA_CA_CERTS, or the extension's rdpipe.server.caFile, at the CA's PEM file)" : "";
      throw new RemoteError(0, "unreachable", `cannot reach the rdpipe server at ${this.baseUrl}: ${cause?.message ?? (e as Error).message}${hint}`);
    }
    const text = await response.text();
    let parsed: ApiResponse;
    try {
      parsed = JSON.parse(text) as ApiResponse;
    } catch {
      throw new RemoteError(response.status, "bad_response", `the server answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (parsed.type === "error" || !response.ok) {
      const error = (parsed as ApiErrorResponse).error;
      throw new RemoteError(response.status, error?.code ?? "unknown", error?.message ?? `HTTP ${response.status}`);
    }
    if (parsed.type !== expected) throw new RemoteError(response.status, "bad_response", `expected a '${expected}' response, got '${parsed.type}'`);
    return parsed as ResponseOf<T>;
  }

  /**
   * The job's events: its current state first, then live events, until the stream ends or `signal` aborts.
   * With `lastEventId` (the `seq` of the last event seen), the log events missed since come before the state.
   */
  async *events(jobId: string, options: { signal?: AbortSignal; lastEventId?: number } = {}): AsyncGenerator<JobEvent> {
    const { signal, lastEventId } = options;
    const headers = { ...this.headers(false), ...(lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) }) };
    const response = await this.fetch(`${this.baseUrl}/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal });
    if (!response.ok || !response.body) {
      const text = await response.text();
      throw new RemoteError(response.status, "events", `cannot follow job ${jobId}: ${text.slice(0, 300)}`);
    }
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) yield JSON.parse(data) as JobEvent;
        }
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
    } finally {
      // A consumer that stops early must not leave the connection (and this process) alive.
      await reader.cancel().catch(() => undefined);
    }
  }
}
