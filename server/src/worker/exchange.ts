// A worker's part in an exchange: a reduce task's input blocks, and a map task's partitioned output.
import { builtinAggregate, customAggregate } from "../api";
import { TaskError, type OriginBlock, type TaskRun, type TaskSpec } from "../cluster";
import { MapWriter, reduceBlocks } from "../exec";
import { pipelineObjects } from "../loader";
import type { AggregateFn, AggregateSpec, ModuleRef, UdfFunction, UdfRef } from "../plan";

/** Rebuilds aggregations in this worker: built-ins from their description, a custom one from the pipeline file (or its source). */
async function aggregationResolver(module: ModuleRef | undefined, operator: string): Promise<(specs: AggregateSpec[]) => AggregateFn[]> {
  const ops = module ? await pipelineObjects(module) : [];
  const fromSource = (source: string) => new Function(`return (${source});`)() as (a: unknown, b?: unknown) => unknown;
  return (specs) => specs.map((spec) => {
    if (spec.kind === "builtin") return builtinAggregate(spec);
    const op = spec.position === undefined ? undefined : ops[spec.position];
    if (op?.kind === "aggregate") return op.aggs[spec.index];
    if (!spec.sources) {
      throw new TaskError({ kind: "internal", operator, message: `${operator}: aggregation '${spec.name}' can reach the workers only from a pipeline file or as a customAggregate; define the pipeline in a *.rdpipe.ts file` });
    }
    const { init, accumulateRow, merge, finalize } = spec.sources;
    return customAggregate<unknown>({ name: spec.name, init: fromSource(init), accumulateRow: fromSource(accumulateRow), merge: fromSource(merge), finalize: finalize === undefined ? undefined : fromSource(finalize) });
  });
}

/** A reduce task's output blocks, as its fused transforms take them. */
export async function* reduceSource(task: TaskSpec, resolve: (ref: UdfRef) => UdfFunction, run: TaskRun, moved: (bytes: number) => void): AsyncIterable<OriginBlock> {
  if (task.input.kind !== "exchange") return;
  const spec = task.input.reduce;
  const aggregations = await aggregationResolver(task.module, spec.operator);
  for await (const block of reduceBlocks({ spec, resolve, aggregations, run, targetBlockBytes: task.targetBlockBytes, moved })) {
    yield { block, origin: { rowOffset: 0, exact: false } };
  }
}

/** The partitioner of a task that feeds an exchange. */
export async function mapWriterFor(task: TaskSpec): Promise<MapWriter | undefined> {
  const spec = task.exchangeMap;
  if (!spec) return undefined;
  const aggregations = spec.combine ? (await aggregationResolver(task.module, spec.operator))(spec.combine.aggs) : undefined;
  return new MapWriter(spec, task.taskId, task.targetBlockBytes, aggregations);
}
