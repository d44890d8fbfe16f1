// The panel's Plan section: what the job runs as Dataset.explain() shows it, in parts. First what the
// optimizer pushed into each file read (columns read, the row-group predicate, the limit, hive folders
// pruned, where pushdown stopped at a UDF), then the optimized plan and the fused stages; the logical
// plan, as written, folded away.
import type { PlanExplanation, ReadPushdownInfo } from "../../server/src/contract";
import { count, el } from "./dom";

/** Which of the section's foldable parts the user opened (kept in the panel's state: each render rebuilds the section). */
export type PlanFolds = Record<string, boolean>;

function pushdownFacts(read: ReadPushdownInfo): [string, string, string][] {
  const facts: [string, string, string][] = [
    ["columns", "Columns read", read.columns ? read.columns.join(", ") : "all"],
    ["filter", "Row-group predicate", read.filter ?? "none pushed: every row group is read"],
    ["limit", "Limit", read.limit !== undefined ? `each read task stops after ${count(read.limit)} rows` : "none"],
  ];
  if (read.folders) {
    const { total, pruned } = read.folders;
    facts.push(["folders", "Partition folders pruned", `${count(pruned.length)} of ${count(total)}${pruned.length > 0 ? `: ${pruned.join(", ")}` : ""}`]);
  }
  if (read.stoppedAt) facts.push(["stopped", "Pushdown stopped at", `${read.stoppedAt} (a UDF)`]);
  return facts;
}

function readCard(read: ReadPushdownInfo): HTMLElement {
  return el("div", { class: "plan-read", "data-read": read.read },
    el("h4", {}, read.read, el("span", { class: "plan-paths" }, read.paths.join(", "))),
    el("dl", {}, ...pushdownFacts(read).flatMap(([key, label, value]) => [el("dt", {}, label), el("dd", { "data-pushdown": key }, value)])));
}

function fold(name: string, title: string, lines: string[], folds: PlanFolds, openByDefault: boolean, onToggle: (name: string, open: boolean) => void): HTMLElement {
  const details = el("details", { class: "plan-tree", "data-plan": name },
    el("summary", {}, title),
    el("pre", {}, lines.map((line) => line.slice(2)).join("\n"))) as HTMLDetailsElement;
  details.open = folds[name] ?? openByDefault;
  details.addEventListener("toggle", () => onToggle(name, details.open));
  return details;
}

export function planSection(plan: PlanExplanation | undefined, folds: PlanFolds, onToggle: (name: string, open: boolean) => void): HTMLElement {
  const section = el("section", { class: "plan" }, el("h2", {}, "Plan"));
  if (!plan) {
    section.append(el("p", { class: "empty" }, "The plan is shown once the job's pipeline has loaded."));
    return section;
  }
  section.append(
    el("h3", {}, "Pushed into the reads"),
    plan.reads.length === 0 ? el("p", { class: "empty" }, "No file reads: nothing to push down.") : el("div", { class: "plan-reads" }, ...plan.reads.map(readCard)),
    fold("optimized", "Optimized plan", plan.optimized, folds, true, onToggle),
    fold("stages", "Fused stages", plan.stages, folds, true, onToggle),
    fold("logical", "Logical plan (as written)", plan.logical, folds, false, onToggle));
  return section;
}
