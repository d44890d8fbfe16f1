// explain(): the logical plan, the plan as the optimizer leaves it (reads with what was pushed into
// them), the fused physical stages, and a list of what was pushed down and where pushdown stopped.
// The same in parts (explainParts) for the job panel's Plan section and POST /plan.
import type { PlanExplanation, ReadPushdownInfo } from "../contract";
import { pruneText } from "../io";
import { toPhysicalPlan, type PhysicalOp } from "./physical";
import { inputsOf, opDisplayName, opsInOrder, type LogicalOp } from "./logical";
import { optimize, type ReadPushdown } from "./optimizer";

function tree(root: LogicalOp, label: (op: LogicalOp) => string): string[] {
  const lines: string[] = [];
  const visit = (op: LogicalOp, depth: number) => {
    lines.push(`${"  ".repeat(depth + 1)}${label(op)}`);
    for (const input of inputsOf(op)) visit(input, depth + 1);
  };
  visit(root, 0);
  return lines;
}

function pushdownText(p: ReadPushdown): string {
  const parts = [
    p.columns && `columns: ${p.columns.join(", ")}`,
    p.filter && `filter: ${pruneText(p.filter)}`,
    p.limit !== undefined && `limit: ${p.limit}`,
  ].filter(Boolean);
  return parts.length > 0 ? ` [${parts.join("; ")}]` : "";
}

function stages(root: PhysicalOp): string[] {
  const lines: string[] = [];
  const visit = (op: PhysicalOp, depth: number) => {
    lines.push(`${"  ".repeat(depth + 1)}${op.name}${op.kind === "actorPool" ? " (actor pool)" : ""}`);
    const inputs = "inputs" in op ? op.inputs : "input" in op ? [op.input] : [];
    for (const input of inputs) visit(input, depth + 1);
  };
  visit(root, 0);
  return lines;
}

/** explain()'s plans as lines, each file read with what was pushed into it (`notes`: explain()'s "Pushed down" lines). */
export function explainParts(root: LogicalOp, positions?: Map<LogicalOp, number>): PlanExplanation & { notes: string[] } {
  const { pushdowns, notes, stops, udfReads } = optimize(root);
  let physical: string[];
  try {
    physical = stages(toPhysicalPlan(root, { positions, writePrefix: "explain", pushdowns, udfReads }));
  } catch (e) {
    physical = [`  (not runnable: ${(e as Error).message})`];
  }
  const reads: ReadPushdownInfo[] = [];
  for (const op of opsInOrder(root)) {
    if (op.kind !== "read" || op.source.type !== "files") continue;
    const pushed = pushdowns.get(op);
    const stop = stops.get(op);
    reads.push({
      read: op.name, paths: op.source.paths,
      ...(pushed?.columns && { columns: pushed.columns }),
      ...(pushed?.filter && { filter: pruneText(pushed.filter) }),
      ...(pushed?.limit !== undefined && { limit: pushed.limit }),
      ...(stop && { stoppedAt: opDisplayName(stop) }),
    });
  }
  return {
    logical: tree(root, opDisplayName),
    optimized: tree(root, (op) => opDisplayName(op) + (pushdowns.has(op) ? pushdownText(pushdowns.get(op)!) : "")),
    stages: physical, reads, notes,
  };
}

/** positions: where a pipeline file's operators are (needed to plan a write to a user-defined Datasink). */
export function explainPlan(root: LogicalOp, positions?: Map<LogicalOp, number>): string {
  const parts = explainParts(root, positions);
  return [
    "Logical plan:", ...parts.logical,
    "Optimized plan:", ...parts.optimized,
    "Fused stages:", ...parts.stages,
    "Pushed down:", ...(parts.notes.length > 0 ? parts.notes.map((n) => `  ${n}`) : ["  nothing"]),
  ].join("\n");
}
