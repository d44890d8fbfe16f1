import type { CheckpointSettings } from "../checkpoint";
import type { Cluster } from "../cluster";
import type { ActorPoolAutoscaler, ClusterAutoscaler } from "./autoscaler";

/** What an execution reads of its configuration; the API's DataContext fills it in when a plan executes. */
export interface ExecSettings {
  /** CPU slots of this process (on a cluster, its alive nodes' count instead). */
  cpuSlots: number;
  /** Block size tasks cut their output to. */
  blockBytes: number;
  /** Bytes of blocks the executor may hold in queues and in flight before it stops launching tasks. */
  memoryBudgetBytes: number;
  /** The user set the budget (rather than the default share of the machine's memory): peak RSS must follow it. */
  memoryBudgetSet: boolean;
  /** Blocks whose task fails with an application error before the job fails; -1 = unlimited. */
  maxErroredBlocks: number;
  taskTimeoutMs: number;
  /** Retries of a task whose worker was lost. */
  maxTaskRetries: number;
  progressIntervalMs: number;
  preserveOrder: boolean;
  /** Where exchanges (sort, groupBy, shuffle…) spill partitions: a per-job folder under it; default the OS temp folder. */
  spillDir?: string;
  /** Set for a checkpointed job: a plan ending in a write, with a checkpoint configured. */
  checkpoint?: CheckpointSettings;
  actorPoolAutoscaler: ActorPoolAutoscaler;
  cluster?: Cluster;
  clusterAutoscaler: ClusterAutoscaler;
}
