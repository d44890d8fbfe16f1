// The host side of one job panel, without VS Code: follows a job's events on the execution server and
// forwards them to the panel, and carries out what the panel asks (resume, cancel, checkpoint pages,
// debug a row). The extension's WebviewPanel and the browser tests' page host both drive this class.
import {
  CHECKPOINT_VIEW_RESPONSE, FINISHED_STATES, type BundleSource, type CheckpointErroredRow, type HostToWebview, type JobEvent, type RemoteClient, RemoteError,
  type WebviewToHost, checkpointPageRoute,
} from "../../server/src/contract";

/**
 * A job's event stream that ends or breaks before the job finished (a connection lost, the server's
 * connection replaced after a window reload) is followed again, from its last event, as EventSource
 * does: this many times in a row without an event, a second apart, before the panel is told.
 */
const RECONNECTS = 10;
const RECONNECT_DELAY_MS = 1000;

const isLastEvent = (event: JobEvent) => event.type === "finished" || (event.type === "state" && FINISHED_STATES.includes(event.job.state));

export interface PanelHostSide {
  /** Delivers a message to the panel (a panel that is reloading misses it, and asks again with "ready"). */
  send(message: HostToWebview): Promise<unknown>;
  /** The server to talk to (asked each time: the extension may have restarted or switched it; it may still be starting). */
  client(): Promise<RemoteClient>;
  /** The fixed pipeline a bundle job resumes with (compiled again); nothing for a path job, which the server re-reads. */
  resumeSource?(jobId: string): Promise<BundleSource | undefined>;
  /** "Debug this row" pressed on an errored row of `jobId`. */
  debugRow(jobId: string, row: CheckpointErroredRow): Promise<void>;
  /** The workspace folders' paths (the panel titles a job by its pipeline's path relative to one). */
  workspaceFolders?(): string[];
  /** A link to the UDF's source line pressed: open the file there. */
  openSource(file: string, line: number, column: number): Promise<void>;
  /** Every job event, before it goes to the panel (the extension logs them and reports finished jobs). */
  onEvent?(event: JobEvent): void;
}

export class PanelController {
  private following?: AbortController;

  constructor(private readonly host: PanelHostSide, private currentJobId: string) {}

  /** The job the panel shows (after a resume, the new job). */
  get jobId(): string {
    return this.currentJobId;
  }

  async handle(message: WebviewToHost): Promise<void> {
    try {
      switch (message.type) {
        case "ready":
          await this.host.send({ type: "hostInfo", workspaceFolders: this.host.workspaceFolders?.() ?? [] });
          this.follow(this.currentJobId);
          break;
        case "openJob":
          this.follow(message.jobId);
          break;
        case "cancel":
          await (await this.host.client()).request("POST", `/jobs/${encodeURIComponent(message.jobId)}/cancel`, "job");
          break;
        case "resume": {
          const source = await this.host.resumeSource?.(message.jobId);
          const { job } = await (await this.host.client()).request("POST", `/jobs/${encodeURIComponent(message.jobId)}/resume`, "job", {
            type: "resumeJob", ...(source ? { source } : {}),
          });
          this.follow(job.id);
          break;
        }
        case "requestCheckpointPage": {
          const page = await (await this.host.client()).request("GET", checkpointPageRoute(message), CHECKPOINT_VIEW_RESPONSE[message.view]);
          await this.host.send({ type: "checkpointPage", view: message.view, page });
          break;
        }
        case "debugRow":
          await this.host.debugRow(message.jobId, message.row);
          break;
        case "openSource":
          await this.host.openSource(message.file, message.line, message.column);
          break;
      }
    } catch (e) {
      await this.host.send({ type: "hostError", message: (e as Error).message });
    }
  }

  /** Forwards the job's events (its current state first) to the panel until it finished, replacing any job followed before. */
  follow(jobId: string): void {
    this.following?.abort();
    const following = new AbortController();
    this.following = following;
    this.currentJobId = jobId;
    void this.forward(jobId, following.signal);
  }

  private async forward(jobId: string, signal: AbortSignal): Promise<void> {
    let lastEventId: number | undefined;
    for (let attempt = 1; ; attempt++) {
      let client: RemoteClient | undefined;
      let problem = "the stream ended before the job finished";
      try {
        client = await this.host.client();
        for await (const event of client.events(jobId, { signal, lastEventId })) {
          if (signal.aborted) return; // events parsed from the last chunk before the abort belong to the old job
          lastEventId = event.seq;
          attempt = 0;
          this.host.onEvent?.(event);
          await this.host.send({ type: "jobEvent", event });
          if (isLastEvent(event)) return;
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof RemoteError) {
          if (e.status === 404 && client) await this.host.send({ type: "jobMissing", jobId, serverUrl: client.baseUrl });
          else await this.host.send({ type: "hostError", message: `lost the events of job ${jobId}: ${e.message}` });
          return;
        }
        problem = (e as Error).message;
      }
      if (signal.aborted) return;
      if (attempt >= RECONNECTS) {
        await this.host.send({ type: "hostError", message: `lost the events of job ${jobId}: ${problem}` });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    }
  }

  dispose(): void {
    this.following?.abort();
  }
}
