// Dataset.join's logical op: the options checked, and the key columns checked against the inputs'
// schemas where the plan knows them (in-memory data, range; a Parquet footer is checked when the job starts).
import { type JoinOptions, type LogicalOp, PlanError, joinOptionsProblem, joinProblem, joinSpec, knownSchema, newOpId } from "../plan";

export function joinOp(left: LogicalOp, right: LogicalOp, options: JoinOptions): LogicalOp {
  if (options === null || typeof options !== "object") throw new TypeError('join: expected options { joinType, on, rightOn?, leftSuffix?, rightSuffix?, numPartitions? }');
  const problem = joinOptionsProblem(options);
  if (problem !== undefined) throw new RangeError(`join: ${problem}`);
  const spec = joinSpec(options);
  const op: LogicalOp = { id: newOpId(), kind: "join", inputs: [left, right], spec, numPartitions: options.numPartitions };
  const schemaProblem = joinProblem(knownSchema(left), knownSchema(right), spec);
  if (schemaProblem !== undefined) throw new PlanError(`${spec.operator}: ${schemaProblem}`, op);
  return op;
}
