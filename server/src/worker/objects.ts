// What a worker takes from the pipeline file rather than from the task: UDFs, user-defined datasources
// and datasinks, found by plan position in the operators the loader evaluated.
import { TaskError } from "../cluster";
import { builtinDatasink, type Datasink, type Datasource } from "../io";
import { pipelineObjects } from "../loader";
import type { DatasinkRef, ModuleRef, UdfFunction, UdfRef } from "../plan";

/** In an actor: the class UDF it was built from, and its instance's bound `call`. */
let actor: { udf: UdfRef; call: UdfFunction } | undefined;

export function becomeActor(udf: UdfRef, call: UdfFunction): void {
  actor = { udf, call };
}

export async function udfResolver(module: ModuleRef | undefined): Promise<(ref: UdfRef) => UdfFunction> {
  const fromModule = module ? await pipelineObjects(module) : [];
  const fromSource = new Map<string, UdfFunction>();
  return (ref) => {
    if (actor && actor.udf.position === ref.position && actor.udf.source === ref.source) return actor.call;
    const op = ref.position !== undefined ? fromModule[ref.position] : undefined;
    if (op && "fn" in op) return op.fn;
    let fn = fromSource.get(ref.source);
    if (!fn) {
      try {
        // A UDF defined outside a pipeline file travels as source text: it must not use outer variables.
        fn = new Function("__name", `return (${ref.source});`)((f: unknown) => f) as UdfFunction;
      } catch (e) {
        throw new TaskError({ kind: "internal", operator: ref.name, message: `${ref.name}: its UDF could not be sent to a worker (${(e as Error).message}); define the pipeline in a *.rdpipe.ts file` });
      }
      fromSource.set(ref.source, fn);
    }
    return fn;
  };
}

/** The user-defined datasource read at `position` of the pipeline file's plan. */
export async function datasourceAt(module: ModuleRef | undefined, position: number, stage: string): Promise<Datasource> {
  const op = module ? (await pipelineObjects(module))[position] : undefined;
  if (op?.kind !== "read" || op.source.type !== "datasource") {
    throw new TaskError({
      kind: "internal", operator: stage,
      message: `${stage}: operator ${position} of ${module?.filename ?? "the plan (it came from no pipeline file)"} is not a read of a datasource in this worker`,
    });
  }
  return op.source.datasource;
}

/** The datasink a write task writes to: a built-in rebuilt from its description, else the pipeline file's, by plan position. */
export async function datasinkAt(module: ModuleRef | undefined, ref: DatasinkRef): Promise<Datasink> {
  // A built-in sink is rebuilt from its description; a filenameProvider is taken from the pipeline file.
  const fromFile = !ref.builtin || (ref.builtin.type === "files" && ref.builtin.output.options.providerSource !== undefined);
  const op = fromFile && module && ref.position !== undefined ? (await pipelineObjects(module))[ref.position] : undefined;
  if (ref.builtin) return builtinDatasink(ref.builtin, op?.kind === "write" ? op.datasink : undefined);
  if (op?.kind !== "write") {
    throw new TaskError({
      kind: "internal", operator: ref.name,
      message: `${ref.name}: operator ${ref.position} of ${module?.filename ?? "the plan (it came from no pipeline file)"} is not a write to a datasink in this worker`,
    });
  }
  return op.datasink;
}
