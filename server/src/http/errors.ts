import type { ErrorCode } from "../contract";

/** An error with the HTTP status and contract error code the client should get. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string) {
    super(message);
  }
}
