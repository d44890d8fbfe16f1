// Dataset.join's logical op: the options checked, and the key columns checked against the inputs'
// schemas where the plan knows them (in-memory data, range; a Parquet footer is checked when the job starts).
import { type JoinOptions, type LogicalOp, PlanError, checkJoinKeys, joinOptionsProblem, joinSpec, newOpId } from "../plan";

export function joinOp(left: LogicalOp, right: LogicalOp, options: JoinOptions): LogicalOp {
  if (options === null || typeof options !== "object") throw new TypeError("join: expected options { joinType, on, rightOn?, leftSuffix?, rightSuffix?, numPartitions? }");
  const problem = joinOptionsProblem(options);
  if (problem !== undefined) throw new RangeError(`join: ${problem}`);
  const op = { id: newOpId(), kind: "join" as const, inputs: [left, right] as [LogicalOp, LogicalOp], spec: joinSpec(options), numPartitions: options.numPartitions };
  checkJoinKeys(op, undefined, (message) => new PlanError(message, op));
  return op;
}
