// The CPU slots an execution runs on — the shared worker pool (or the cluster's), and one actor pool
// per class-UDF stage — and their autoscaling: pools within [min, max], the cluster by its provider.
import {
  ActorPool, type ActorCounts, type ClusterPool, TASKS_PER_ACTOR, type TaskHost, type WorkerPool, localWorkerThread, sharedWorkerPool, tuneAllocator,
} from "../cluster";
import { FileDatasink } from "../io";
import { type LogicalOp, type ModuleRef, PlanError, opsInOrder } from "../plan";
import { ExecutionError } from "./errors";
import { ActorPoolOperator, type PhysicalOperator, type TaskOperator, usesTaskSlot } from "./physical";
import type { ExecSettings } from "./settings";

/**
 * Tells this process's workers which file formats the job reads and writes, before its footers are read
 * and its files listed: they load the formats' libraries meanwhile, not when their first task comes.
 * (A cluster's workers start with the job; they load them for their first task.)
 */
export function prepareLocalWorkers(settings: ExecSettings, root: LogicalOp): void {
  if (settings.cluster) return;
  const formats = new Set<string>();
  for (const op of opsInOrder(root)) {
    if (op.kind === "read" && op.source.type === "files") formats.add(op.source.format);
    if (op.kind === "write" && op.datasink instanceof FileDatasink) formats.add(op.datasink.format);
  }
  if (formats.size > 0) sharedWorkerPool(settings.cpuSlots).prepare([...formats]);
}

/** How often actor pools are resized while nothing else wakes the executor (idle actors time out). */
const AUTOSCALE_INTERVAL_MS = 100;

/** What the resources see of the tasks the executor runs. */
export interface TaskLoad {
  /** Running tasks that hold a slot of the shared pool. */
  onTaskSlots(): number;
  /** Tasks waiting to be retried, of one stage. */
  retriesOf(op: TaskOperator): number;
  /** Tasks waiting to be retried that will take a slot of the shared pool. */
  retriesOnTaskSlots(): number;
}

/** CPU slots: the cluster's alive nodes', or this process's. */
export function cpuSlots(settings: ExecSettings): number {
  return settings.cluster?.cpus() ?? settings.cpuSlots;
}

export class Resources {
  private readonly actorPools = new Map<ActorPoolOperator, ActorPool>();
  private readonly autoscaleTimer?: NodeJS.Timeout;

  private constructor(
    private readonly settings: ExecSettings, private readonly pool: WorkerPool | ClusterPool, private readonly onIdle: () => void,
    operators: PhysicalOperator[], module: ModuleRef | undefined, fail: (error: Error) => void,
  ) {
    pool.on("idle", onIdle);
    // One pool per class-UDF stage, started at its initial size; work goes to an actor as soon as one is ready.
    for (const op of operators) {
      if (!(op instanceof ActorPoolOperator)) continue;
      const spec = op.physical.actorPool;
      const init = { stage: op.name, module, udf: spec.udf, constructorArgs: spec.constructorArgs, maxConcurrency: spec.maxConcurrency };
      const { cluster } = settings;
      const spawn = cluster ? () => cluster.spawnActorWorker(spec.numCpus, actors.size === 0) : localWorkerThread;
      const actors: ActorPool = new ActorPool(init, (error) => fail(new ExecutionError(error.message, error)), spawn);
      actors.on("idle", onIdle);
      for (let i = 0; i < spec.initialActors; i++) actors.addActor();
      this.actorPools.set(op, actors);
    }
    if (this.actorPools.size > 0) this.autoscaleTimer = setInterval(onIdle, AUTOSCALE_INTERVAL_MS);
  }

  /** Starts the cluster (if any) and the pools; `onIdle` is called whenever a worker or actor frees up. */
  static async start(
    settings: ExecSettings, operators: PhysicalOperator[], module: ModuleRef | undefined, onIdle: () => void, fail: (error: Error) => void,
  ): Promise<Resources> {
    const { cluster } = settings;
    if (cluster) {
      await cluster.start();
      checkActorsFit(operators, cluster.largestNodeCpus(), cluster.options.cpusPerNode);
    }
    // Under a memory budget the user set, RSS must follow it: malloc's thresholds are fixed (costing system time).
    if (settings.memoryBudgetSet) tuneAllocator();
    const pool = cluster ? cluster.pool : sharedWorkerPool(settings.cpuSlots);
    return new Resources(settings, pool, onIdle, operators, module, fail);
  }

  hostFor(op: TaskOperator): TaskHost {
    return op instanceof ActorPoolOperator ? this.actorPools.get(op)! : this.pool;
  }

  hasRoom(op: TaskOperator, load: TaskLoad): boolean {
    if (op instanceof ActorPoolOperator) return this.actorPools.get(op)!.freeSlots() > 0;
    return this.freeTaskSlots(load) > 0;
  }

  actorCounts(op: ActorPoolOperator): ActorCounts | undefined {
    return this.actorPools.get(op)?.counts();
  }

  /** A finished stage's actors are not needed any more. */
  finished(op: PhysicalOperator): void {
    if (op instanceof ActorPoolOperator) this.actorPools.get(op)!.shutdown();
  }

  /** Tasks of the shared pool may run at once: the CPU slots actors do not hold, and at least one. */
  taskSlots(): number {
    return Math.max(1, cpuSlots(this.settings) - this.actorCpus());
  }

  /** Resizes the actor pools to their backlog, and asks the cluster for nodes while work waits for slots. */
  autoscale(operators: PhysicalOperator[], load: TaskLoad): void {
    this.autoscaleActorPools(load);
    this.autoscaleCluster(operators, load);
  }

  shutdown(): void {
    this.pool.off("idle", this.onIdle);
    clearInterval(this.autoscaleTimer);
    for (const actors of this.actorPools.values()) actors.shutdown();
  }

  private autoscaleActorPools(load: TaskLoad): void {
    for (const [op, pool] of this.actorPools) {
      if (op.isFinished()) continue;
      const spec = op.physical.actorPool;
      const delta = this.settings.actorPoolAutoscaler.decide({
        actors: pool.size, minActors: spec.minActors, maxActors: spec.maxActors,
        queuedTasks: op.queuedTasks() + load.retriesOf(op), tasksInFlight: pool.tasksInFlight(), tasksPerActor: TASKS_PER_ACTOR,
        affordableActors: Math.floor((cpuSlots(this.settings) - this.actorCpus()) / spec.numCpus),
        idleActors: (ms) => pool.idleSince(Date.now() - ms),
      });
      for (let i = 0; i < delta; i++) pool.addActor();
      for (let i = 0; i > delta && pool.removeIdleActor(); i--);
    }
  }

  private autoscaleCluster(operators: PhysicalOperator[], load: TaskLoad): void {
    const { cluster } = this.settings;
    if (!cluster) return;
    let queuedWork = load.retriesOnTaskSlots();
    for (const op of operators) {
      if (usesTaskSlot(op)) queuedWork += op.queuedTasks();
      if (op instanceof ActorPoolOperator && !op.isFinished()) queuedWork += Math.max(0, op.physical.actorPool.minActors - this.actorPools.get(op)!.size);
    }
    const counts = cluster.counts();
    const launch = this.settings.clusterAutoscaler.decide({
      aliveNodes: counts.alive, pendingNodes: counts.pending, maxNodes: cluster.options.maxNodes,
      cpusPerNode: cluster.options.cpusPerNode, queuedWork: Math.max(0, queuedWork - this.freeTaskSlots(load)),
    });
    if (launch > 0) cluster.launch(launch);
  }

  /** CPU slots held by actors, whether busy or not. */
  private actorCpus(): number {
    let cpus = 0;
    for (const [op, pool] of this.actorPools) cpus += pool.size * op.physical.actorPool.numCpus;
    return cpus;
  }

  private freeTaskSlots(load: TaskLoad): number {
    return Math.max(0, Math.min(this.pool.idleCount, this.taskSlots() - load.onTaskSlots()));
  }
}

/** An actor needing more CPUs than any node has (or the provider launches) would never start: fail now, naming the numbers. */
function checkActorsFit(operators: PhysicalOperator[], largestNodeCpus: number, cpusPerNode: number): void {
  if (largestNodeCpus === 0) return; // no node yet and none to launch: nodes started by hand decide
  for (const op of operators) {
    if (!(op instanceof ActorPoolOperator)) continue;
    const { numCpus } = op.physical.actorPool;
    if (numCpus > largestNodeCpus) {
      throw new PlanError(`${op.name}: an actor needs numCpus ${numCpus}, but the largest node has ${largestNodeCpus} CPUs (new nodes get cpusPerNode ${cpusPerNode}): it could never be placed`);
    }
  }
}
