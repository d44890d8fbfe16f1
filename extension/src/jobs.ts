// Jobs of the execution server that belong to one pipeline file (shared by the extension and its language server).
import type { JobSummary, RemoteClient } from "../../server/src/contract";

/** The most recently submitted job of the pipeline file at `pipelinePath` (a path job's `pipeline` is its file on the server's disk). */
export async function latestJobOf(server: RemoteClient, pipelinePath: string): Promise<JobSummary | undefined> {
  const { jobs } = await server.request("GET", "/jobs", "jobs");
  return jobs.filter((job) => job.pipeline === pipelinePath).sort((a, b) => b.submittedAt.localeCompare(a.submittedAt))[0];
}
