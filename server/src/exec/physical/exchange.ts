// The reduce side of an exchange, in the driver: it gathers the map outputs of its input stages (only
// their metadata and small inline chunks), routes each reduce partition's pieces once all are in, and
// runs the reduce tasks like any task stage (later map-like ops and a write fuse into them).
import type { ExchangeReduceSpec, ExchangeSpec, MapOutput, PhysicalOp } from "../../plan";
import { inlinePieces, landMapOutput, routePartitions } from "../exchange";
import type { ReadSettings } from "../read-settings";
import { OperatorError, type PhysicalOperator, type QueuedBlock } from "./base";
import { TaskOperator } from "./task";

export interface ExchangeSettings {
  /** This exchange's folder for spilled partitions (under the job's spill folder). */
  spillDir: string;
  memoryBudgetBytes: number;
  blockBytes: number;
  cpuSlots: number;
  /** Tasks run on nodes: partitions move over the node link, through the driver (see landMapOutput). */
  overLink: boolean;
}

export class ExchangeOperator extends TaskOperator {
  private readonly spec: ExchangeSpec;
  /** Per input: map outputs by task index (a retried task's replaces its lost attempt's). */
  private readonly outputs: Map<number, MapOutput>[];
  private readonly pending: ExchangeReduceSpec[] = [];
  /** Bytes of chunks the map tasks kept in memory, held here until the reduce tasks are done. */
  private inlineBytes = 0;

  constructor(physical: Extract<PhysicalOp, { kind: "exchange" }>, inputs: PhysicalOperator[], settings: ReadSettings, private readonly exchange: ExchangeSettings) {
    super(physical, inputs, settings);
    this.spec = physical.exchange;
    this.outputs = inputs.map(() => new Map());
    // A sort's partitions (and repartition's) are in order, a seeded shuffle's the same each run: outputs go in task order.
    const kind = this.spec.partitioners[0].kind;
    if (kind === "range" || kind === "position" || kind === "random") this.preserveOrder = true;
    for (const input of inputs) {
      if (input instanceof TaskOperator) input.exchangeTarget = { spillDir: exchange.spillDir, inlineAllowance: () => this.inlineAllowance() };
    }
  }

  get spillDir(): string { return this.exchange.spillDir; }

  /** What a map task may keep in memory: a share of a quarter of the budget, less what is held already. */
  private inlineAllowance(): number {
    const { memoryBudgetBytes, cpuSlots, overLink } = this.exchange;
    if (overLink) return Number.MAX_SAFE_INTEGER;
    return Math.max(0, Math.floor((memoryBudgetBytes / 8 - this.inlineBytes) / (2 * cpuSlots)));
  }

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    let output = item.mapOutput;
    if (!output) throw new Error(`${this.name}: its input stage sent a block instead of partitions`);
    if (this.exchange.overLink) {
      try {
        output = landMapOutput(output, this.name, this.spillDir);
      } catch (e) {
        throw new OperatorError((e as Error).message); // it names the exchange and the file
      }
      this.metrics.bytesMoved = (this.metrics.bytesMoved ?? 0) + output.spilledBytes;
    }
    const earlier = this.outputs[inputIndex].get(output.taskIndex);
    if (earlier) this.inlineBytes -= inlineBytesOf(earlier);
    this.outputs[inputIndex].set(output.taskIndex, output);
    this.inlineBytes += inlineBytesOf(output);
    this.metrics.rowsIn += output.rows;
  }

  protected override onAllInputsDone(): void {
    if (this.stopped) return;
    const { memoryBudgetBytes, blockBytes } = this.exchange;
    const routes = routePartitions(this.spec, this.outputs.map((m) => [...m.values()]), Math.max(blockBytes, memoryBudgetBytes / 32));
    routes.forEach((route, partition) => this.pending.push({ operator: this.name, partition, numPartitions: routes.length, reducer: this.spec.reducer, ...route }));
    this.metrics.tasksEstimated = routes.length;
  }

  override hasTask(): boolean {
    return !this.stopped && this.pending.length > 0;
  }

  override nextTask(): ReturnType<TaskOperator["nextTask"]> {
    let reduce = this.pending.shift();
    if (reduce && this.exchange.overLink) {
      reduce = { ...reduce, sides: reduce.sides.map(inlinePieces) };
      this.metrics.bytesMoved = (this.metrics.bytesMoved ?? 0) + reduce.sides.flat().reduce((sum, p) => sum + p.chunk.bytes, 0);
    }
    return reduce && { input: { kind: "exchange", reduce }, inputBlocks: [] };
  }

  override queuedTasks(): number {
    return this.stopped ? 0 : this.pending.length;
  }

  override queuedBytes(): number {
    return super.queuedBytes() + (this.isFinished() ? 0 : this.inlineBytes);
  }

  override get preservesRows(): boolean {
    const kind = this.spec.reducer.kind;
    return (kind === "concat" || kind === "sort" || kind === "shuffle") && super.preservesRows;
  }
}

function inlineBytesOf(output: MapOutput): number {
  return output.chunks.reduce((sum, c) => sum + (c.ipc ? c.bytes : 0), 0);
}
