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
}

export interface PlanResponse extends PlanInspection { type: "plan"; pipeline: string }

export interface SchemaResponse { type: "schema"; path: string; files: number; rows?: number; schema: FieldInfo[] | null }
