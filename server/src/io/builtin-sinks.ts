// The built-in sinks as plain data: write tasks get them without the pipeline file (a sink defined in a
// pipeline file is found there instead, by its plan position). A new built-in sink adds its case here.
import type { Datasink } from "./datasink";
import { FileDatasink, type FileOutput } from "./file-sink";
import { LanceDatasink, type LanceOutput } from "./lance";

export type BuiltinSinkSpec = { type: "files"; output: FileOutput } | { type: "lance"; output: LanceOutput };

/** The plain description of a built-in sink as the job's write tasks use it; undefined for any other sink. */
export function builtinSinkSpec(sink: Datasink, jobId: string): BuiltinSinkSpec | undefined {
  if (sink instanceof FileDatasink) return { type: "files", output: sink.outputOf(jobId) };
  if (sink instanceof LanceDatasink) return { type: "lance", output: sink.output };
  return undefined;
}

/**
 * The sink a write task writes to, rebuilt from its description; `inPipeline`: the same write's sink as the
 * worker's evaluation of the pipeline file made it (what the description cannot carry: a filenameProvider).
 */
export function builtinDatasink(spec: BuiltinSinkSpec, inPipeline?: Datasink): Datasink {
  if (spec.type === "lance") return new LanceDatasink(spec.output);
  const { format, path, mode, options } = spec.output;
  return new FileDatasink(format, path, mode, options, inPipeline instanceof FileDatasink ? inPipeline.filenameProvider : undefined);
}
