// Hosts of worker threads: the process-wide pool that runs tasks, one computing task per worker at a time
// (a write task waiting only for its last file's sync leaves room for the next), and
// actor pools (./actors). A worker that dies (crash, process.exit in a UDF, OOM) or hangs past the
// timeout is replaced.
import { type HostedWorker, TaskHost, type WorkerChannel, hasRoomForTask } from "./host";
import { workerThread } from "./paths";

export type { ActorInit, BlockOrigin, DriverMessage, TaskErrorInfo, TaskInput, TaskSpec, WorkerMessage } from "./protocol";
export { inputBytes } from "./protocol";
export { TaskFailure, TaskHost, type WorkerChannel } from "./host";
export { ActorPool, TASKS_PER_ACTOR, type ActorCounts } from "./actors";
export { engineProcessEnv, packageRoot, tuneEngineProcess, workerScript } from "./paths";
export { tuneAllocator } from "./allocator";
export { TaskError, TaskRun, applyTransforms, rowName, type OriginBlock } from "./transforms";
export { loadColumn, stringAt, type Col } from "./expr-columns";
export { Cluster, type ClusterOptions, type NodeCounts, type NodeInfo, type NodeProgress } from "./nodes";
export { ClusterPool } from "./pool";
export { CommandNodeProvider, LocalNodeProvider, type CommandNode, type CommandNodeProviderOptions, type HeadAddress, type LaunchedNode, type NodeProvider } from "./providers";
export { Membership, jobHead, splitSlots, type MemberInfo, type MembershipOptions } from "./membership";
export { runNode, type NodeOptions } from "./node";
export { ChunkFetcher, readRange, type ChunkCutter } from "./chunks";
export { ClusterConfigError, Transport, readPemFile, readTlsFiles, type TlsFiles, type TlsMaterial, type TransportOptions } from "./transport";

/** A new worker thread in this process. */
export function localWorkerThread(): WorkerChannel {
  return workerThread();
}

let sharedPool: WorkerPool | undefined;

/**
 * The process-wide pool, grown to at least `size` workers. Workers stay warm between executions
 * (starting one costs ~200 ms) and do not keep the process alive while idle.
 */
export function sharedWorkerPool(size: number): WorkerPool {
  sharedPool ??= new WorkerPool();
  sharedPool.growTo(size);
  return sharedPool;
}

export class WorkerPool extends TaskHost {
  growTo(size: number): void {
    while (this.workers.length < size) this.workers.push(this.spawn());
  }

  /** Workers with room for a task: one whose write task only waits for its last file's sync has room for the next. */
  get idleCount(): number {
    return this.workers.filter(hasRoomForTask).length;
  }

  protected override pick(): HostedWorker | undefined {
    return this.workers.find(hasRoomForTask);
  }

  protected override onLost(worker: HostedWorker): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    this.retire(worker);
    this.workers.splice(index, 0, this.spawn());
  }

  private spawn(): HostedWorker {
    const worker: HostedWorker = { channel: localWorkerThread(), running: new Map(), lastActiveAt: Date.now() };
    this.listen(worker);
    return worker;
  }
}
