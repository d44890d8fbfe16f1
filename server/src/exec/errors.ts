import type { TaskErrorInfo } from "../cluster";

/** A job failure, with what a user needs to find the cause. */
export class ExecutionError extends Error {
  constructor(message: string, readonly info?: TaskErrorInfo) {
    super(message);
  }
}
