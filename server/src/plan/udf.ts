/** Where a worker finds a UDF: by position in the pipeline file's plan, else by its source text. */
export interface UdfRef { position?: number; source: string; name: string }
