// The physical operators of one execution, built from the physical plan, and how they connect.
import * as fs from "node:fs";
import * as path from "node:path";
import type { PhysicalOp } from "../plan";
import type { ReadSettings } from "./read-settings";
import {
  ActorPoolOperator, BlockOrderOperator, ExchangeOperator, type ExchangeSettings, LimitOperator, type PhysicalOperator, type QueuedBlock, TaskOperator, UnionOperator, ZipOperator, usesTaskSlot,
} from "./physical";

/** What exchanges need of the job: its spill folder (one per job, removed when it ends) and memory figures. */
export type JobExchangeSettings = Omit<ExchangeSettings, "spillDir"> & { jobSpillDir: string };

/** Zip pairs rows by position, so everything feeding it must emit in order. */
function preserveOrderUpstream(op: PhysicalOperator): void {
  if (op instanceof TaskOperator || op instanceof UnionOperator) op.preserveOrder = true;
  const orderMatters = op instanceof ExchangeOperator ? op.preservesRows : !(op instanceof ZipOperator);
  if (orderMatters) op.inputs.forEach(preserveOrderUpstream);
}

export class Topology {
  /** Upstream before downstream: every operator after its inputs. */
  readonly operators: PhysicalOperator[] = [];
  readonly root: PhysicalOperator;
  private readonly downstream = new Map<PhysicalOperator, { op: PhysicalOperator; index: number }>();

  constructor(physical: PhysicalOp, private readonly settings: ReadSettings, private readonly preserveOrder: boolean, private readonly exchange: JobExchangeSettings) {
    this.root = this.build(physical);
  }

  /** The operator `op` feeds, and as which of its inputs; none for the root. */
  next(op: PhysicalOperator): { op: PhysicalOperator; index: number } | undefined {
    return this.downstream.get(op);
  }

  taskOperators(): TaskOperator[] {
    return this.operators.filter((op) => op instanceof TaskOperator);
  }

  /** Whether a stage that takes task slots is downstream of `op` and may take `op`'s output while `op` runs. */
  feedsTaskStage(op: PhysicalOperator): boolean {
    for (let next = this.downstream.get(op); next; next = this.downstream.get(next.op)) {
      // An exchange's reduce tasks start once every map task is done: nothing drains before.
      if (next.op instanceof ExchangeOperator) return false;
      if (usesTaskSlot(next.op)) return true;
    }
    return false;
  }

  exchanges(): ExchangeOperator[] {
    return this.operators.filter((op) => op instanceof ExchangeOperator);
  }

  /** The job's spill folder goes, with every exchange's partitions in it, and what the nodes held for the job. */
  async removeSpill(): Promise<void> {
    await this.exchange.nodes?.release(this.exchange.jobSpillDir);
    fs.rmSync(this.exchange.jobSpillDir, { recursive: true, force: true });
  }

  *queuedBlocks(): Iterable<QueuedBlock> {
    for (const op of this.operators) yield* op.queuedBlocks();
  }

  queuedBytes(): number {
    let total = 0;
    for (const op of this.operators) total += op.queuedBytes();
    return total;
  }

  private build(physical: PhysicalOp): PhysicalOperator {
    const settings = this.settings;
    let op: PhysicalOperator;
    switch (physical.kind) {
      case "read": op = new TaskOperator(physical, [], settings); break;
      case "map": op = new TaskOperator(physical, [this.build(physical.input)], settings); break;
      case "actorPool": op = new ActorPoolOperator(physical, [this.build(physical.input)], settings); break;
      case "limit": op = new LimitOperator(physical.name, this.build(physical.input), physical.n); break;
      case "exchange": {
        const spillDir = path.join(this.exchange.jobSpillDir, `exchange-${this.exchanges().length}`);
        op = new ExchangeOperator(physical, physical.inputs.map((p) => this.build(p)), settings, { ...this.exchange, spillDir });
        break;
      }
      case "union": op = new UnionOperator(physical.name, physical.inputs.map((p) => this.build(p))); break;
      case "zip": op = new ZipOperator(physical.name, physical.inputs.map((p) => this.build(p))); break;
      case "blockOrder": op = new BlockOrderOperator(physical.name, this.build(physical.input), physical.seed); break;
    }
    // A seeded block order is reproducible only over an input that arrives in order.
    if (op instanceof ZipOperator || op instanceof BlockOrderOperator || (op instanceof UnionOperator && this.preserveOrder)) {
      for (const input of op.inputs) preserveOrderUpstream(input);
    }
    if ((op instanceof TaskOperator || op instanceof UnionOperator) && this.preserveOrder) op.preserveOrder = true;
    op.inputs.forEach((input, index) => this.downstream.set(input, { op, index }));
    this.operators.push(op);
    return op;
  }
}
