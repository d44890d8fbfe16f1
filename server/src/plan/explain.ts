// explain(): the logical plan, the plan as the optimizer leaves it (reads with what was pushed into
// them), the fused physical stages, and a list of what was pushed down and where pushdown stopped.
import { pruneText } from "../io";
import { toPhysicalPlan, type PhysicalOp } from "./physical";
import { inputsOf, opDisplayName, type LogicalOp } from "./logical";
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

/** positions: where a pipeline file's operators are (needed to plan a write to a user-defined Datasink). */
export function explainPlan(root: LogicalOp, positions?: Map<LogicalOp, number>): string {
  const { pushdowns, notes } = optimize(root);
  let physical: string[];
  try {
    physical = stages(toPhysicalPlan(root, { positions, writePrefix: "explain", pushdowns }));
  } catch (e) {
    physical = [`  (not runnable: ${(e as Error).message})`];
  }
  return [
    "Logical plan:", ...tree(root, opDisplayName),
    "Optimized plan:", ...tree(root, (op) => opDisplayName(op) + (pushdowns.has(op) ? pushdownText(pushdowns.get(op)!) : "")),
    "Fused stages:", ...physical,
    "Pushed down:", ...(notes.length > 0 ? notes.map((n) => `  ${n}`) : ["  nothing"]),
  ].join("\n");
}
