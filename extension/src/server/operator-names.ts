// Operator names as the editor shows them: the engine's names (`Map(<lambda>)`, stages `A->B`) are for
// logs and tests; beside the code an unnamed UDF is named by the line of its call, and a stage's
// fused operators are joined by an arrow.
import type { PlanOperator } from "../../../server/src/contract";

/** The 1-based line of the call that built operator `index`, when the call was found. */
export type LineOfOperator = (index: number) => number | undefined;

/** `Map(total)`, or `Map(anonymous, line 12)` for an unnamed UDF. */
export function editorOperatorName(operators: PlanOperator[], index: number, lineOf: LineOfOperator): string {
  const line = lineOf(index);
  return operators[index].name.replace("(<lambda>)", line === undefined ? "(anonymous)" : `(anonymous, line ${line})`);
}

/**
 * Where the stage named `stage` (its fused operators' names joined by "->") starts in the plan, when it runs
 * operator `index`: the run of consecutive plan operators with those names that holds `index`.
 */
function stageStart(parts: string[], operators: PlanOperator[], index: number): number | undefined {
  for (let start = Math.max(0, index - parts.length + 1); start <= index; start++) {
    if (parts.every((part, k) => operators[start + k]?.name === part)) return start;
  }
  return undefined;
}

/** Of a job's stages, the one that runs operator `index`, with its name as the editor shows it (`Read → Map(total)`). */
export function stageOfOperator<S extends { name: string }>(
  stages: S[], operators: PlanOperator[], index: number, lineOf: LineOfOperator,
): { stage: S; name: string } | undefined {
  for (const stage of stages) {
    const parts = stage.name.split("->");
    const start = stageStart(parts, operators, index);
    if (start !== undefined) return { stage, name: parts.map((_, k) => editorOperatorName(operators, start + k, lineOf)).join(" → ") };
  }
  return undefined;
}
