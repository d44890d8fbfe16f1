// Plan inspection (POST /plan): each operator with its output schema, and what a run would reject.
import type { Dataset } from "../api/dataset";
import { validateCheckpointPlan } from "../checkpoint";
import type { PlanInspection, PlanOperator, PlanProblem } from "../contract";
import type { Schema } from "apache-arrow";
import { PlanError, opDisplayName, opsInOrder, inputsOf, typedExpressions, validatePlan, type LogicalOp } from "../plan";
import { toJobError } from "./outcome";
import { schemaFields } from "./preview";
import { checkpointOf } from "./pipeline";

/** Each operator's output schema is found by executing the plan up to it until its first block (writes are not run). */
export async function inspectPlan(dataset: Dataset): Promise<PlanInspection> {
  const ops = opsInOrder(dataset.op);
  const operators: PlanOperator[] = [];
  const schemas: (Schema | undefined)[] = [];
  for (const [index, op] of ops.entries()) {
    const operator: PlanOperator = {
      index, name: opDisplayName(op), kind: op.kind, inputs: inputsOf(op).map((input) => ops.indexOf(input)), schema: null,
    };
    if (op.kind === "write") {
      operator.schema = operators[operator.inputs[0]].schema;
    } else {
      try {
        schemas[index] = await dataset.atOperator(op).limit(1).schema();
        operator.schema = schemaFields(schemas[index]!);
      } catch (e) {
        operator.schemaError = toJobError(e).message;
      }
    }
    const input = schemas[operator.inputs[0]];
    const expressions = input && typedExpressions(op, input);
    if (expressions) operator.expressions = expressions;
    operators.push(operator);
  }
  return { operators, problems: planProblems(dataset, ops, operators), checkpointed: "settings" in checkpointOf(dataset), explain: dataset.explain(), plan: await dataset.explainParts() };
}

/** What a run would reject before reading anything: the plan checks, and the checkpoint's (with the source's columns when found). */
function planProblems(dataset: Dataset, ops: LogicalOp[], operators: PlanOperator[]): PlanProblem[] {
  const problemOf = (check: () => void): PlanProblem[] => {
    try {
      check();
      return [];
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      return [{ operatorIndex: e.operator ? ops.indexOf(e.operator) : null, message: e.message }];
    }
  };
  const checkpoint = checkpointOf(dataset);
  const sourceColumns = operators[0].schema?.map((field) => field.name);
  return [
    ...problemOf(() => validatePlan(dataset.op)),
    ...("settings" in checkpoint ? problemOf(() => validateCheckpointPlan(dataset.op, checkpoint.settings, sourceColumns)) : []),
  ];
}
