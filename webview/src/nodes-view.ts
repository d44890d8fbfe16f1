// The nodes strip: for a job that runs on a cluster, each node it has (or had) as a card — the server's
// node id, its pid, alive / draining / lost, the job's CPU slots there and, while the job runs, its
// tasks running there — under the counts of nodes alive, draining, lost and pending.
import type { JobSummary, NodeProgress, ProgressSnapshot } from "../../server/src/contract";
import { count, el } from "./dom";
import { isFinished } from "./progress-view";

function nodeCard(node: NodeProgress, live: boolean): HTMLElement {
  const facts = [`pid ${node.pid}`, `${count(node.cpus)} CPU slot${node.cpus === 1 ? "" : "s"}`];
  if (live && node.state !== "lost") facts.push(`${count(node.tasksRunning)} task${node.tasksRunning === 1 ? "" : "s"} running`);
  return el("li", { class: `node node-${node.state}`, "data-node-id": String(node.id), "data-state": node.state, "data-pid": String(node.pid), "data-cpus": String(node.cpus) },
    el("span", { class: "node-name" }, `Node ${node.id}`), el("span", { class: "node-state" }, node.state), el("span", { class: "node-facts" }, facts.join(" · ")));
}

export function nodesStrip(progress: ProgressSnapshot | undefined, job: JobSummary): HTMLElement | false {
  if (!progress?.nodes) return false;
  const { alive, draining, lost, pending, released } = progress.nodes;
  const live = !isFinished(job);
  return el("section", { class: "nodes" },
    el("h2", {}, "Nodes"),
    el("p", { class: "node-counts", "data-nodes": `${alive},${draining},${lost},${pending}` }, `${alive} alive · ${draining} draining · ${lost} lost · ${pending} pending${released ? ` · ${released} released` : ""}`),
    progress.nodeList?.length ? el("ul", { class: "node-list" }, ...progress.nodeList.map((node) => nodeCard(node, live))) : false);
}
