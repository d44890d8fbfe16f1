// The one base class of the errors the CLI, the job runner and the server turn into messages: a caller
// catches RdpipeError and reads its code, instead of testing for each folder's class.

/** What went wrong, in the kinds a job's error carries on the wire (plus the CLI's and server's own). */
export type RdpipeErrorCode =
  | "load" // the pipeline file does not compile or evaluate
  | "plan" // the plan is invalid
  | "input" // the data or the file system (unreadable file, full disk, schema clash)
  | "udf" // a user function failed
  | "worker" // a worker was lost more often than retries allow
  | "checkpoint" // the checkpoint is in use by another job or was taken over
  | "internal" // a fault of the engine itself
  | "usage" // the command line is wrong
  | "config"; // the server's configuration is wrong

export abstract class RdpipeError extends Error {
  abstract readonly code: RdpipeErrorCode;
}
