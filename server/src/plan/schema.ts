// Schemas the plan knows before anything runs (in-memory and range reads, a Parquet footer the executor
// read, column selections over them), so a missing key column is named when the plan is built.
import { Field, Int64, Null, Schema } from "apache-arrow";
import type { SourceDef } from "../io";
import { type JoinSpec, joinProblem, joinSchema } from "./join";

/**
 * What of a logical op its schema follows from: the plan's LogicalOp seen structurally, as plan/index.ts
 * (where LogicalOp is) imports this file.
 */
interface SchemaOp {
  kind: string;
  input?: SchemaOp;
  inputs?: SchemaOp[];
  source?: SourceDef;
  columns?: string[];
  mapping?: Record<string, string>;
  spec?: JoinSpec;
}

/** Schemas of reads that the caller learned (e.g. from Parquet footers), by read op; in-memory and range reads need none. */
export type ReadSchemas = Map<object, Schema>;

/** The op's output schema when the plan determines it; undefined when a UDF or an unread file decides. */
export function knownSchema(op: SchemaOp, reads: ReadSchemas = new Map()): Schema | undefined {
  switch (op.kind) {
    case "read":
      if (op.source!.type === "range") return new Schema([new Field("id", new Int64(), true)]);
      if (op.source!.type === "blocks") return (op.source!.blocks.find((b) => b.numRows > 0) ?? op.source!.blocks[0])?.schema;
      return reads.get(op);
    case "selectColumns": {
      // The selected columns are known by name even where their types are not (null-typed: unchecked).
      const input = knownSchema(op.input!, reads);
      return new Schema(op.columns!.map((name) => input?.fields.find((f) => f.name === name) ?? new Field(name, new Null(), true)));
    }
    case "dropColumns": {
      const input = knownSchema(op.input!, reads);
      return input && new Schema(input.fields.filter((f) => !op.columns!.includes(f.name)));
    }
    case "renameColumns": {
      const input = knownSchema(op.input!, reads);
      return input && new Schema(input.fields.map((f) => (op.mapping![f.name] === undefined ? f : f.clone({ name: op.mapping![f.name] }))));
    }
    case "limit": case "repartition": case "randomShuffle": case "sort":
      return knownSchema(op.input!, reads);
    case "join": {
      const [left, right] = op.inputs!.map((input) => knownSchema(input, reads));
      const schema = left && right ? joinSchema(left, right, op.spec!) : undefined;
      return typeof schema === "string" ? undefined : schema;
    }
    default:
      return undefined;
  }
}

/** A join's key columns against its inputs' schemas, where the plan knows them; `error` makes the error to throw. */
export function checkJoinKeys(op: { inputs: SchemaOp[]; spec: JoinSpec }, reads: ReadSchemas | undefined, error: (message: string) => Error): void {
  const [left, right] = op.inputs.map((input) => knownSchema(input, reads));
  const problem = joinProblem(left, right, op.spec);
  if (problem !== undefined) throw error(`${op.spec.operator}: ${problem}`);
}
