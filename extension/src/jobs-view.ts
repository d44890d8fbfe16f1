// The Jobs view (rdpipe activity-bar container): the server's jobs, running ones first, then the most
// recent, each with its state, duration and rows; a click opens the job panel, the context menu acts on it.
import * as vscode from "vscode";
import { FINISHED_STATES, type JobState, type JobSummary, type RemoteClient } from "../../server/src/contract";
import { pipelineTitle } from "../../webview/src/title";

const JOBS_VIEW = "rdpipe.jobs";
const RECENT = 50;
const REFRESH_MS = 2000;

const STATE_ICONS: Record<JobState, [string, string]> = {
  queued: ["clock", "charts.yellow"],
  running: ["sync~spin", "charts.blue"],
  succeeded: ["pass", "testing.iconPassed"],
  failed: ["error", "testing.iconFailed"],
  cancelled: ["circle-slash", "disabledForeground"],
  interrupted: ["warning", "charts.orange"],
};

const isRunning = (job: JobSummary) => !FINISHED_STATES.includes(job.state);

/** Running jobs first (oldest first), then finished ones, newest first. */
function jobsInViewOrder(jobs: JobSummary[]): JobSummary[] {
  const running = jobs.filter(isRunning).sort((a, b) => a.submittedAt.localeCompare(b.submittedAt));
  const finished = jobs.filter((job) => !isRunning(job)).sort((a, b) => b.submittedAt.localeCompare(a.submittedAt));
  return [...running, ...finished.slice(0, RECENT)];
}

/** A finished job's run time (a running job's shows in its panel: here it would redraw the view every poll). */
function duration(job: JobSummary): string | undefined {
  if (!job.startedAt || !job.finishedAt) return undefined;
  const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** What the context menu offers, as the item's contextValue: `job running checkpoint resumable`. */
function contextOf(job: JobSummary): string {
  const checkpoint = job.checkpoint.available && !job.checkpoint.deleted;
  return ["job", isRunning(job) ? "running" : "finished", checkpoint ? "checkpoint" : "", checkpoint && !isRunning(job) && !job.resumedBy ? "resumable" : ""]
    .filter(Boolean).join(" ");
}

function jobTreeItem(job: JobSummary): vscode.TreeItem {
  const item = new vscode.TreeItem(pipelineTitle(job.pipeline, (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath)));
  const rows = job.result ? `${job.result.rowsOut.toLocaleString("en-US")} row${job.result.rowsOut === 1 ? "" : "s"}` : undefined;
  item.id = job.id;
  item.description = [job.state, duration(job), rows].filter(Boolean).join(" · ");
  item.tooltip = `${job.pipeline}\njob ${job.id}${job.resumedFrom ? `\nresumes job ${job.resumedFrom}` : ""}${job.error ? `\n${job.error.message.split("\n")[0]}` : ""}`;
  const [icon, color] = STATE_ICONS[job.state];
  item.iconPath = new vscode.ThemeIcon(icon, new vscode.ThemeColor(color));
  item.contextValue = contextOf(job);
  item.command = { command: "rdpipe.jobs.open", title: "Open Job", arguments: [job] };
  return item;
}

/** What a row shows: the view is redrawn only when one changes. */
const shown = (jobs: JobSummary[]) => JSON.stringify(jobs.map((job) => {
  const item = jobTreeItem(job);
  return [item.id, item.label, item.description, item.tooltip, item.contextValue];
}));

/**
 * The view's data: GET /jobs, fetched again every few seconds while the view is visible, and redrawn
 * only when what it shows changed: a redraw replaces the rows, and a context menu open on a replaced
 * row ran its action without the row's job.
 */
export class JobsTree implements vscode.TreeDataProvider<JobSummary>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<JobSummary>;
  private timer: NodeJS.Timeout | undefined;
  /** The rows shown (undefined: none yet, or fetch again), and what they showed. */
  private jobs: JobSummary[] | undefined;
  private shownKey = "";

  constructor(private readonly client: () => Promise<RemoteClient>) {
    this.view = vscode.window.createTreeView(JOBS_VIEW, { treeDataProvider: this });
    this.view.onDidChangeVisibility(() => this.poll());
    this.poll();
  }

  /** Fetches the jobs again and redraws the view. */
  refresh(): void {
    this.jobs = undefined;
    this.changed.fire();
  }

  /** Fetches the jobs; redraws the view only if a row would show something else. */
  private async update(): Promise<void> {
    const jobs = await this.fetch();
    if (shown(jobs) === this.shownKey) return;
    this.jobs = jobs;
    this.changed.fire();
  }

  private poll(): void {
    clearInterval(this.timer);
    this.timer = this.view.visible ? setInterval(() => void this.update(), REFRESH_MS) : undefined;
    if (this.view.visible) this.refresh();
  }

  getTreeItem(job: JobSummary): vscode.TreeItem {
    return jobTreeItem(job);
  }

  async getChildren(parent?: JobSummary): Promise<JobSummary[]> {
    if (parent) return [];
    const jobs = this.jobs ?? await this.fetch();
    this.jobs = jobs;
    this.shownKey = shown(jobs);
    return jobs;
  }

  private async fetch(): Promise<JobSummary[]> {
    try {
      const { jobs } = await (await this.client()).request("GET", "/jobs", "jobs");
      this.view.message = jobs.length === 0 ? "No jobs on the server yet: run a pipeline from its CodeLens." : undefined;
      return jobsInViewOrder(jobs);
    } catch (e) {
      this.view.message = `The rdpipe server did not answer: ${(e as Error).message}`;
      return [];
    }
  }

  dispose(): void {
    clearInterval(this.timer);
    this.view.dispose();
    this.changed.dispose();
  }
}
