// The messages between the job panel (webview) and its host (the extension, or the test harness): one
// discriminated union, imported by both sides. The host relays the execution server's job events and
// checkpoint pages and carries out what the panel asks for.
import type { JobEvent } from "./api";
import type { CheckpointErroredRow, CheckpointView, CheckpointViewName } from "./checkpoint";

export type PanelMessage =
  // host → webview
  /** An event of the job the panel shows, as the server sent it (a `state` event first after each (re)attach). */
  | { type: "jobEvent"; event: JobEvent }
  /** The answer to a requestCheckpointPage. */
  | { type: "checkpointPage"; view: CheckpointViewName; page: CheckpointView }
  /** A request the host made for the panel failed (e.g. resume refused with 409); shown to the user. */
  | { type: "hostError"; message: string }
  /** Sent on "ready": the workspace folders (the panel titles a job by its pipeline's path relative to one). */
  | { type: "hostInfo"; workspaceFolders: string[] }
  /** The job the panel follows is not on the server the host uses (404): the panel says so instead of going blank. */
  | { type: "jobMissing"; jobId: string; serverUrl: string }
  // webview → host
  /** The panel has loaded (also after a reload): the host (re)attaches to the job's events, state first. */
  | { type: "ready" }
  | { type: "resume"; jobId: string }
  | { type: "cancel"; jobId: string }
  /** Show another job in this panel (a "resumes …" / "resumed by …" link). */
  | { type: "openJob"; jobId: string }
  | { type: "requestCheckpointPage"; jobId: string; view: CheckpointViewName; offset: number; limit: number }
  /** Open a debugger on the UDF with this row as its input (carried out by the extension). */
  | { type: "debugRow"; jobId: string; row: CheckpointErroredRow }
  /** Open the pipeline file in the editor at the line where a UDF threw (lines and columns count from 1). */
  | { type: "openSource"; file: string; line: number; column: number };

export type HostToWebview = Extract<PanelMessage, { type: "jobEvent" | "checkpointPage" | "hostError" | "hostInfo" | "jobMissing" }>;
export type WebviewToHost = Exclude<PanelMessage, HostToWebview>;

/** The server route of a checkpoint page request. */
export function checkpointPageRoute(request: Extract<WebviewToHost, { type: "requestCheckpointPage" }>): string {
  const suffix = request.view === "summary" ? "" : `/${request.view}`;
  return `/jobs/${encodeURIComponent(request.jobId)}/checkpoint${suffix}?offset=${request.offset}&limit=${request.limit}`;
}
