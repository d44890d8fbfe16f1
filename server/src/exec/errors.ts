import type { TaskErrorInfo } from "../cluster";
import { RdpipeError, type RdpipeErrorCode } from "../errors";

/** A job failure, with what a user needs to find the cause. */
export class ExecutionError extends RdpipeError {
  readonly code: RdpipeErrorCode;
  constructor(message: string, readonly info?: TaskErrorInfo) {
    super(message);
    this.code = info?.kind ?? "internal";
  }
}
