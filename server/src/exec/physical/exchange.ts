// The reduce side of an exchange, in the driver: it gathers the map outputs of its input stages (only
// their metadata, and the small inline chunks of maps that ran in this process), routes each reduce
// partition's pieces once all are in, and runs the reduce tasks like any task stage (later map-like ops
// and a write fuse into them). On a cluster the chunks stay on the nodes that made them; when a node is
// lost, the map outputs it held that unreduced partitions still need are made again, and the reduce
// tasks reading them wait.
import type { TaskSpec } from "../../cluster";
import type { ChunkRef, ExchangeReduceSpec, ExchangeSpec, MapOutput, PhysicalOp, ReducePiece } from "../../plan";
import { routePartitions } from "../exchange";
import type { ReadSettings } from "../read-settings";
import { OperatorError, type PhysicalOperator, type QueuedBlock } from "./base";
import { TaskOperator } from "./task";

/** The cluster as an exchange sees it: where nodes serve the partitions they hold, and their release at the job's end. */
export interface ExchangeNodes {
  peers(): Record<number, string>;
  release(jobFolder: string): Promise<void>;
}

export interface ExchangeSettings {
  /** This exchange's folder for spilled partitions (under the job's spill folder). */
  spillDir: string;
  memoryBudgetBytes: number;
  blockBytes: number;
  cpuSlots: number;
  /** Set when tasks run on a cluster's nodes: partitions stay on them and move node to node. */
  nodes?: ExchangeNodes;
}

type Route = Omit<ExchangeReduceSpec, "operator" | "partition" | "numPartitions" | "reducer">;

export class ExchangeOperator extends TaskOperator {
  private readonly spec: ExchangeSpec;
  /** Per input: map outputs by task index (a retried or recomputed task's replaces the earlier one). */
  private readonly outputs: Map<number, MapOutput>[];
  /** Map outputs (side, task index) whose node was lost; their metadata still routes, their bytes are being made again. */
  private readonly lost = new Set<string>();
  private routes: Route[] = [];
  /** Per partition: the map outputs (side:task) its pieces are in. */
  private routeOutputs: Set<string>[] = [];
  /** Where each routed chunk came from, to find its current copy: side, task index, position in the output. */
  private readonly origins = new Map<ChunkRef, { side: number; taskIndex: number; index: number }>();
  /** Partitions not launched yet, in order (a partition is its reduce task's index). */
  private readonly pending: number[] = [];
  private readonly reduced = new Set<number>();
  /** Bytes of chunks the map tasks kept in memory, held until the reduce tasks are done. */
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

  /** What a map task may keep in memory (in its node's, on a cluster): a share of an eighth of the budget, less what is held already. */
  private inlineAllowance(): number {
    const { memoryBudgetBytes, cpuSlots } = this.exchange;
    return Math.max(0, Math.floor((memoryBudgetBytes / 8 - this.inlineBytes) / (2 * cpuSlots)));
  }

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    const output = item.mapOutput;
    if (!output) throw new Error(`${this.name}: its input stage sent a block instead of partitions`);
    const earlier = this.outputs[inputIndex].get(output.taskIndex);
    if (earlier) {
      this.inlineBytes -= inlineBytesOf(earlier);
      checkSameChunks(earlier, output, this.name);
    } else this.metrics.rowsIn += output.rows;
    this.lost.delete(`${inputIndex}:${output.taskIndex}`);
    this.outputs[inputIndex].set(output.taskIndex, output);
    this.inlineBytes += inlineBytesOf(output);
    this.metrics.bytesViaDriver = (this.metrics.bytesViaDriver ?? 0) + output.chunks.reduce((sum, c) => sum + (c.ipc?.byteLength ?? 0), 0);
  }

  protected override onAllInputsDone(): void {
    if (this.stopped) return;
    const { memoryBudgetBytes, blockBytes } = this.exchange;
    this.routes = routePartitions(this.spec, this.outputs.map((m) => [...m.values()]), Math.max(blockBytes, memoryBudgetBytes / 32));
    this.outputs.forEach((side, s) => {
      for (const output of side.values()) output.chunks.forEach((chunk, index) => this.origins.set(chunk, { side: s, taskIndex: output.taskIndex, index }));
    });
    this.routeOutputs = this.routes.map((route) => new Set(route.sides.flat().map((piece) => {
      const { side, taskIndex } = this.origins.get(piece.chunk)!;
      return `${side}:${taskIndex}`;
    })));
    this.routes.forEach((_, partition) => this.pending.push(partition));
    this.metrics.tasksEstimated = this.routes.length;
  }

  /**
   * A node was lost: the map outputs it held are gone. Those a partition not reduced yet reads (all of
   * them, before routing) are made again: the input stages' tasks to rerun, as (stage, task index).
   */
  nodeLost(nodeId: number): { input: TaskOperator; taskIndex: number }[] {
    const rerun: { input: TaskOperator; taskIndex: number }[] = [];
    const needed = this.neededOutputs();
    this.outputs.forEach((side, s) => {
      for (const output of side.values()) {
        if (!output.chunks.some((c) => c.node === nodeId)) continue;
        const key = `${s}:${output.taskIndex}`;
        this.lost.add(key);
        if (!needed || needed.has(key)) rerun.push({ input: this.inputs[s] as TaskOperator, taskIndex: output.taskIndex });
      }
    });
    return rerun;
  }

  /** Nodes holding map outputs this exchange still reads (a node holding them is not idle); none once it is finished. */
  nodesHolding(): Set<number> {
    const nodes = new Set<number>();
    if (this.isFinished()) return nodes;
    const needed = this.neededOutputs();
    this.outputs.forEach((side, s) => {
      for (const output of side.values()) {
        if (needed && !needed.has(`${s}:${output.taskIndex}`)) continue;
        for (const chunk of output.chunks) if (chunk.node !== undefined) nodes.add(chunk.node);
      }
    });
    return nodes;
  }

  /** The map outputs (side:task) that partitions not reduced yet read; undefined before routing (all). */
  private neededOutputs(): Set<string> | undefined {
    if (this.routes.length === 0) return undefined;
    const needed = new Set<string>();
    this.routeOutputs.forEach((outputs, partition) => {
      if (!this.reduced.has(partition)) for (const key of outputs) needed.add(key);
    });
    return needed;
  }

  /** Whether every map output the partition reads is where its chunks say. */
  private ready(partition: number): boolean {
    if (this.lost.size === 0) return true;
    for (const key of this.routeOutputs[partition]) if (this.lost.has(key)) return false;
    return true;
  }

  /** The partition's reduce spec with its pieces' current chunks; undefined while one of them is being made again. */
  private reduceSpec(partition: number): ExchangeReduceSpec | undefined {
    if (!this.ready(partition)) return undefined;
    const route = this.routes[partition];
    const current = (piece: ReducePiece): ReducePiece => {
      const { side, taskIndex, index } = this.origins.get(piece.chunk)!;
      return { ...piece, chunk: this.outputs[side].get(taskIndex)!.chunks[index] };
    };
    return {
      operator: this.name, partition, numPartitions: this.routes.length, reducer: this.spec.reducer, ...route,
      sides: route.sides.map((pieces) => pieces.map(current)), peers: this.exchange.nodes?.peers(),
    };
  }

  override hasTask(): boolean {
    // Partitions launch in order (a partition's task index is its place in the output), so a waiting one holds the rest.
    return !this.stopped && this.pending.length > 0 && this.ready(this.pending[0]);
  }

  override nextTask(): ReturnType<TaskOperator["nextTask"]> {
    const reduce = this.hasTask() ? this.reduceSpec(this.pending.shift()!) : undefined;
    return reduce && { input: { kind: "exchange", reduce }, inputBlocks: [] };
  }

  override retrySpec(task: TaskSpec): TaskSpec | undefined {
    if (task.input.kind !== "exchange") return task;
    const reduce = this.reduceSpec(task.input.reduce.partition);
    return reduce && { ...task, input: { kind: "exchange", reduce } };
  }

  override taskEnded(taskIndex: number): void {
    this.reduced.add(taskIndex);
    super.taskEnded(taskIndex);
  }

  override isFinished(): boolean {
    return super.isFinished() && (this.stopped || this.pending.length === 0);
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
  return output.chunks.reduce((sum, c) => sum + (c.ipc || c.key !== undefined ? c.bytes : 0), 0);
}

/** A map task made again must cut its rows as before (tasks are deterministic): the routes point into its chunks by position. */
function checkSameChunks(earlier: MapOutput, again: MapOutput, operator: string): void {
  const same = earlier.chunks.length === again.chunks.length
    && earlier.chunks.every((c, i) => c.partition === again.chunks[i].partition && c.rows === again.chunks[i].rows);
  if (!same) throw new OperatorError(`${operator}: map task ${again.taskIndex} of side ${again.side} cut its rows differently when it ran again (${earlier.chunks.length} chunks, then ${again.chunks.length}); its input or a UDF before the exchange is not deterministic`);
}
