// `GET /cluster`: the nodes joined to the server, the jobs holding a session on each, and the tasks
// running there (summed from those jobs' latest progress, which names nodes by the server's ids).
import type { Membership } from "../cluster";
import type { ApiResponse, ClusterNode } from "../contract";
import type { JobManager } from "./jobs";

export function clusterView(membership: Membership, url: string, jobs: JobManager): Extract<ApiResponse, { type: "cluster" }> {
  const nodes = membership.list().map(({ sessions, ...node }): ClusterNode => {
    let tasksRunning = 0;
    for (const { jobId } of sessions) {
      const here = jobs.get(jobId).progress?.nodeList?.find((n) => n.id === node.id);
      tasksRunning += here?.state === "lost" ? 0 : here?.tasksRunning ?? 0;
    }
    return { ...node, jobs: sessions, tasksRunning };
  });
  return { type: "cluster", url, nodes };
}
