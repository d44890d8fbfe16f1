// A write task's side of a Datasink: one block written, its failure named, its result checked.
import type { Block } from "../block";
import { IoError, type Datasink, type WriteContext, type WriteResult } from "../io";
import { TaskError } from "../cluster";

/** One block written to the sink; a failure names the write, and a result the driver cannot use is refused. */
export async function writeToSink(sink: Datasink, block: Block, context: WriteContext, stage: string): Promise<WriteResult> {
  let result: WriteResult;
  try {
    result = await sink.write(block, context);
  } catch (e) {
    if (e instanceof IoError || e instanceof TaskError) throw e;
    const err = e instanceof Error ? e : new Error(String(e));
    throw new TaskError({ kind: "udf", operator: stage, message: `${stage}: writing block ${context.blockIndex} of write task ${context.taskIndex} failed: ${err.name}: ${err.message}`, stack: err.stack });
  }
  if (typeof result?.path !== "string" || typeof result.rows !== "number" || typeof result.bytes !== "number") {
    throw new TaskError({ kind: "udf", operator: stage, message: `${stage}: its datasink's write returned ${JSON.stringify(result)}, not { path: string, rows: number, bytes: number }` });
  }
  return result;
}
