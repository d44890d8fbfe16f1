import os from "node:os";
import type { CheckpointConfig } from "./checkpoint";
import type { Cluster } from "../cluster";
import { type ActorPoolAutoscaler, BacklogActorPoolAutoscaler, type ClusterAutoscaler, type ExecSettings, QueuedWorkClusterAutoscaler } from "../exec";
import type { LogicalOp } from "../plan";

export interface ResourceLimits {
  /** Worker threads that run tasks at once (CPU slots). Default: the machine's available parallelism. */
  cpu?: number;
  /** Bytes of blocks the executor may hold in queues and in flight before it stops launching tasks. */
  memoryBytes?: number;
}

export interface ProgressSettings {
  /** Milliseconds between progress updates. */
  intervalMs: number;
}

/** Read once: os.totalmem() is a system call, and the executor asks for the budget on every launch. */
const TOTAL_MEMORY = os.totalmem();

/** Execution settings, as Ray Data's DataContext: one current instance, read when a plan executes. */
export class DataContext {
  private static current: DataContext | undefined;

  static getCurrent(): DataContext {
    DataContext.current ??= new DataContext();
    return DataContext.current;
  }

  /** Replaces the current context with a fresh default one (for tests and embedding). */
  static reset(): DataContext {
    DataContext.current = new DataContext();
    return DataContext.current;
  }

  resourceLimits: ResourceLimits = {};
  /** Blocks larger than this are split where they are produced. */
  targetMaxBlockSize = 32 * 1024 * 1024;
  /** Blocks whose task fails with an application error before the job fails; -1 = unlimited. */
  maxErroredBlocks = 0;
  /** A task that reports nothing for this long is ended as hung. */
  taskTimeoutMs = 10 * 60 * 1000;
  /** Retries of a task whose worker was lost (crashed, exited, killed). */
  maxTaskRetries = 3;
  progress: ProgressSettings = { intervalMs: 500 };
  /** Job-level checkpointing for plans that read, map and write; set before the dataset is built. */
  checkpointConfig: CheckpointConfig | null = null;
  /** Sizes actor pools within their [min, max]; replace it to change how pools grow and shrink. */
  actorPoolAutoscaler: ActorPoolAutoscaler = new BacklogActorPoolAutoscaler();
  /**
   * Run tasks and actors on this cluster's nodes (OS processes) instead of worker threads of this process.
   * A job starts on the nodes that have joined; more are asked for while work is queued, up to maxNodes.
   */
  cluster?: Cluster;
  /** Decides how many nodes to ask the cluster's provider for. */
  clusterAutoscaler: ClusterAutoscaler = new QueuedWorkClusterAutoscaler();
  /** Emit blocks in input order (slower when tasks finish out of order), as Ray's preserve_order. */
  preserveOrder = false;
  /**
   * Where sort, groupBy, shuffles and repartition spill partitions that do not fit the memory budget, as
   * Arrow IPC files in a folder per job (removed when the job ends). Default: the OS temp folder.
   */
  spillDir?: string;

  cpuSlots(): number {
    return Math.max(1, Math.floor(this.resourceLimits.cpu ?? os.availableParallelism()));
  }

  /** Block size actually used: small enough that a budget holds many blocks in flight. */
  blockBytes(): number {
    return Math.max(1024 * 1024, Math.min(this.targetMaxBlockSize, Math.floor(this.memoryBudget() / 32)));
  }

  memoryBudget(): number {
    return this.resourceLimits.memoryBytes ?? Math.max(512 * 1024 * 1024, Math.floor(TOTAL_MEMORY / 4));
  }

  /** What an execution of `root` reads: these settings as they are now (the checkpoint only for a plan that writes). */
  execSettings(root: LogicalOp): ExecSettings {
    return {
      cpuSlots: this.cpuSlots(), blockBytes: this.blockBytes(), memoryBudgetBytes: this.memoryBudget(), memoryBudgetSet: this.resourceLimits.memoryBytes !== undefined,
      maxErroredBlocks: this.maxErroredBlocks, taskTimeoutMs: this.taskTimeoutMs, maxTaskRetries: this.maxTaskRetries,
      progressIntervalMs: this.progress.intervalMs, preserveOrder: this.preserveOrder, spillDir: this.spillDir,
      checkpoint: root.kind === "write" ? this.checkpointConfig?.settings() : undefined,
      actorPoolAutoscaler: this.actorPoolAutoscaler, cluster: this.cluster, clusterAutoscaler: this.clusterAutoscaler,
    };
  }
}
