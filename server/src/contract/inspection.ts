// Plan and dataset inspection (POST /plan, GET /schema): what the language server shows beside the code.

export interface FieldInfo { name: string; type: string; nullable: boolean }

export interface PlanOperator {
  /** Position in the plan's canonical order (what workers use to find UDFs). */
  index: number;
  name: string;
  kind: string;
  inputs: number[];
  /** The operator's output schema, from executing the plan up to it on its first block; null when it could not be found. */
  schema: FieldInfo[] | null;
  schemaError?: string;
  /** withColumn, filter(expr), select: each expression argument typed by the engine's rules against the operator's input. */
  expressions?: TypedExpr[];
}

/**
 * An expression as written, each node with the kind of its values ("int", "float", "string", "bool",
 * "time", "null", "other"), or why it has none. `args`: its sub-expressions in source order (the receiver
 * first: `a.mul(b)` has a and b); literal arguments of alias, cast, isIn and str.* are not among them.
 */
export interface TypedExpr {
  text: string;
  type?: string;
  error?: string;
  args: TypedExpr[];
  /** On the whole expression of withColumn or select: the column it makes. */
  column?: string;
}

/** What the optimizer pushed into one file read. */
export interface ReadPushdownInfo {
  /** The read operator, as explain() names it, and the paths it reads. */
  read: string;
  paths: string[];
  /** Only these columns are read (absent: all of them). */
  columns?: string[];
  /** Row groups (and hive folders) whose statistics cannot satisfy this predicate are not fetched. */
  filter?: string;
  /** Each read task stops after this many rows. */
  limit?: number;
  /** Hive folders the filter rules out, of how many (known where the plan was explained with a listing). */
  folders?: { total: number; pruned: string[] };
  /** The operator (a UDF) above the read where pushdown stopped. */
  stoppedAt?: string;
}

/** Dataset.explain() in parts: each plan as indented lines, and what was pushed into each read. */
export interface PlanExplanation {
  logical: string[];
  optimized: string[];
  stages: string[];
  reads: ReadPushdownInfo[];
}

/** A reason the engine would refuse to run the plan, at the operator at fault (null: the plan as a whole). */
export interface PlanProblem { operatorIndex: number | null; message: string }

export interface PlanInspection {
  operators: PlanOperator[];
  problems: PlanProblem[];
  /** Whether a run checkpoints: the pipeline sets a checkpointConfig and ends in a write (what Resume and Inspect checkpoint need). */
  checkpointed: boolean;
  /** Dataset.explain(): logical plan, optimized plan, fused stages, what was pushed into the reads. */
  explain?: string;
  /** The same, in parts (with the hive folders pruned). */
  plan?: PlanExplanation;
}

export interface PlanResponse extends PlanInspection { type: "plan"; pipeline: string }

export interface SchemaResponse { type: "schema"; path: string; files: number; rows?: number; schema: FieldInfo[] | null }
