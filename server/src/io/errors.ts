import { RdpipeError } from "../errors";

/** A read or write failed because of the input or the file system; the message names the file (and line or row). */
export class IoError extends RdpipeError {
  override name = "IoError";
  readonly code = "input";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Errors that mean the disk has no room, in the words a user reads. */
const DISK_FULL: Record<string, string> = {
  ENOSPC: "the disk is full (ENOSPC: no space left on device)",
  EDQUOT: "the disk is full: the disk quota is exceeded (EDQUOT)",
};

/**
 * An IoError "path: [what: ]reason", naming the path once even when the cause already starts with it (as
 * S3 errors do); a full disk says so.
 */
export function pathError(path: string, error: unknown, what?: string): IoError {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = (typeof code === "string" ? DISK_FULL[code] : undefined) ?? errorMessage(error);
  const reason = message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
  return new IoError(`${path}: ${what ? `${what}: ` : ""}${reason}`, { cause: error });
}
