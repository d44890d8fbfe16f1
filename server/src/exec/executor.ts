// The streaming executor: runs a physical plan with every queue bounded by a memory budget,
// feeding downstream operators first, never waiting for a whole stage before the next starts.
// One scheduling step moves finished blocks downstream, resizes the pools, launches the tasks that
// fit and grants output credits; the loop repeats it whenever a task, a worker or a timer wakes it.
import { randomUUID } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import type { Block } from "../block";
import { type LogicalOp, type PhysicalOp, checkExpressions, erroredRowBudgets, toPhysicalPlan, validatePlan } from "../plan";
import { checkpointSpec, checkpointStarted, validateCheckpointPlan } from "../checkpoint";
import { ErrorBudget } from "./error-budget";
import { ExecutionError } from "./errors";
import { joinInputSchemas } from "./input-schemas";
import { JobCheckpoint } from "./job-checkpoint";
import type { ReadSettings } from "./read-settings";
import { JobOutput } from "./output";
import { LimitOperator, OperatorError, type PhysicalOperator, type QueuedBlock, TaskOperator } from "./physical";
import { type ProgressSnapshot, progressSnapshot } from "./progress";
import { Resources, cpuSlots, prepareLocalWorkers } from "./resources";
import { LaunchSelector } from "./scheduling";
import type { ExecutionOptions, ExecutionResult } from "./result";
import type { ExecSettings } from "./settings";
import { statsText } from "./stats";
import { TaskLauncher } from "./tasks";
import { Topology } from "./topology";

export class StreamingExecutor {
  readonly result: Promise<ExecutionResult>;
  private resolveResult!: (r: ExecutionResult) => void;
  private rejectResult!: (e: Error) => void;
  private topology?: Topology;
  private resources?: Resources;
  /** Ends this job's hold on the nodes its exchanges still read from (they are not idle while it runs). */
  private unholdNodes?: () => void;
  private selector?: LaunchSelector;
  private readonly tasks: TaskLauncher;
  /** Blocks the root operator produced that the consumer has not taken yet. */
  private readonly outputQueue: QueuedBlock[] = [];
  /** The most memory blocks really held at once (queues, and what running tasks' workers reported), and the most reserved for them. */
  private peakMemory = 0;
  private peakReserved = 0;
  private failure?: Error;
  private wake: () => void = () => undefined;
  private readonly startedAt = Date.now();
  private readonly writePrefix = randomUUID().slice(0, 8);
  private readonly physicalRoot: PhysicalOp;
  private readonly errors: ErrorBudget;
  /** Set for a plan that ends in a write. */
  private output?: JobOutput;
  /** Set for a checkpointed job (a plan ending in a write, with a checkpoint configured) once it is open. */
  private checkpoint?: JobCheckpoint;

  constructor(private readonly root: LogicalOp, private readonly settings: ExecSettings, private readonly options: ExecutionOptions) {
    this.result = new Promise((resolve, reject) => { this.resolveResult = resolve; this.rejectResult = reject; });
    this.result.catch(() => undefined);
    // A preview of a checkpointed pipeline (no write) runs without the checkpoint.
    const config = root.kind === "write" ? settings.checkpoint : undefined;
    if (config) validateCheckpointPlan(root, config);
    this.errors = new ErrorBudget(erroredRowBudgets(root), settings.maxErroredBlocks);
    this.physicalRoot = toPhysicalPlan(root, {
      positions: options.positions, writePrefix: this.writePrefix,
      checkpoint: config && checkpointSpec(config, this.writePrefix),
    });
    this.tasks = new TaskLauncher({
      settings, module: options.module, writePrefix: this.writePrefix, errors: this.errors,
      checkpoint: () => this.checkpoint, hostFor: (op) => this.resources!.hostFor(op),
      failed: () => this.failure !== undefined, fail: (error) => this.fail(error), wakeUp: () => this.wakeUp(),
      queuedBlocks: () => this.topology?.queuedBlocks() ?? [],
    });
  }

  private get operators(): PhysicalOperator[] {
    return this.topology?.operators ?? [];
  }

  async *run(): AsyncGenerator<Block> {
    const progressTimer = this.options.onProgress
      ? setInterval(() => this.options.onProgress!(this.snapshot(false)), this.settings.progressIntervalMs) : undefined;
    const onAbort = () => this.fail(new ExecutionError("the job was cancelled"));
    this.options.signal?.addEventListener("abort", onAbort);
    let completed = false;
    let thrown: Error | undefined;
    // Workers do not keep the process alive while idle; a running execution must.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      const root = await this.prepare();
      for (;;) {
        if (this.failure) throw this.failure;
        this.step();
        if (this.failure) throw this.failure;
        const next = this.outputQueue.shift();
        if (next) { yield next.block; continue; }
        if (root.isFinished() && root.outputQueue.length === 0) break;
        await new Promise<void>((resolve) => { this.wake = resolve; });
      }
      await this.checkpoint?.settle();
      if (this.failure) throw this.failure;
      completed = true;
      this.resolveResult(await this.succeeded(root));
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      thrown = error;
      // A failed job's last progress says how far it got (and, checkpointed, what it committed: the CLI reports the kept checkpoint).
      this.options.onProgress?.(this.snapshot(false));
      this.rejectResult(error);
      throw error;
    } finally {
      clearInterval(progressTimer);
      clearInterval(keepAlive);
      this.resources?.shutdown();
      this.options.signal?.removeEventListener("abort", onAbort);
      if (!completed && !this.failure) {
        this.stopAll();
        this.rejectResult(new ExecutionError("the consumer stopped reading before the end"));
      }
      await this.tasks.endLeftovers(completed);
      const cleanup: string[] = [];
      this.settings.cluster?.pool.off("nodeLost", this.nodeLost);
      this.unholdNodes?.();
      try {
        await this.topology?.removeSpill();
      } catch (e) {
        cleanup.push(`removing the spill folder failed: ${(e as Error).message}`);
      }
      if (!completed) cleanup.push(...await this.removePartialOutput(thrown ?? this.failure ?? new ExecutionError("the consumer stopped reading before the end")));
      await this.checkpoint?.close(cleanup);
      // The consumer sees the error once this block is done: what cleaning up could not do is part of it.
      if (thrown && cleanup.length > 0) thrown.message += `; then ${cleanup.join("; ")}`;
    }
  }

  /** Opens the output and the checkpoint, builds the operators and starts the pools; returns the root operator. */
  private async prepare(): Promise<PhysicalOperator> {
    prepareLocalWorkers(this.settings, this.root);
    await checkExpressions(this.root, this.settings.blockBytes);
    const footers = await joinInputSchemas(this.root, this.settings.blockBytes);
    if (footers) validatePlan(this.root, footers);
    const write = this.root.kind === "write" ? this.root : undefined;
    const resuming = this.settings.checkpoint !== undefined && await checkpointStarted(this.settings.checkpoint);
    if (write) this.output = await JobOutput.open(write, this.writePrefix, this.settings.checkpoint !== undefined, resuming);
    const ignored = this.output?.ignored === true;
    if (write && this.settings.checkpoint && !ignored) {
      this.checkpoint = await JobCheckpoint.open(this.settings.checkpoint, write, this.writePrefix, this.settings.blockBytes, this.output!, (e) => this.fail(e));
    }
    this.output?.redirect(this.physicalRoot);
    const readSettings: ReadSettings = {
      cpuSlots: this.settings.cpuSlots, targetBlockBytes: this.settings.blockBytes,
      onDiscovery: (error) => (error ? this.fail(error) : this.wakeUp()),
      nothingToRead: ignored,
      ...this.checkpoint?.readSettings(),
    };
    const { memoryBudgetBytes, blockBytes, cpuSlots } = this.settings;
    const jobSpillDir = path.join(this.settings.spillDir ?? os.tmpdir(), `rdpipe-spill-${this.writePrefix}`);
    const topology = this.topology = new Topology(this.physicalRoot, readSettings, this.settings.preserveOrder, { jobSpillDir, memoryBudgetBytes, blockBytes, cpuSlots, nodes: this.settings.cluster });
    this.settings.cluster?.pool.on("nodeLost", this.nodeLost);
    this.unholdNodes = this.settings.cluster?.holdNodes(() => topology.exchanges().flatMap((exchange) => [...exchange.nodesHolding()]));
    this.checkpoint?.track(topology.taskOperators());
    const resources = this.resources = await Resources.start(this.settings, topology.operators, this.options.module, () => this.wakeUp(), (e) => this.fail(e));
    this.selector = new LaunchSelector(topology, this.settings.memoryBudgetBytes, {
      hasRoom: (op) => resources.hasRoom(op, this.tasks), taskSlots: () => resources.taskSlots(),
      countRunning: (where) => this.tasks.countRunning(where), memoryUsed: () => this.memoryReserved(),
      reservation: () => this.tasks.reservation(), stalled: () => this.stalled(),
    });
    await Promise.all(topology.operators.map((op) => op.start().catch((e: Error) => this.fail(e))));
    return topology.root;
  }

  /** A node was lost: the exchanges' partitions it held that are still needed are made again by their map tasks. */
  private readonly nodeLost = (nodeId: number): void => {
    for (const exchange of this.topology?.exchanges() ?? []) {
      for (const { input, taskIndex } of exchange.nodeLost(nodeId)) this.tasks.rerun(input, taskIndex);
    }
    this.wakeUp();
  };

  /** The job's outputs are final: the checkpoint finished, an overwrite swapped in; the result and its last progress. */
  private async succeeded(root: PhysicalOperator): Promise<ExecutionResult> {
    await this.checkpoint?.finish(this.errors.anyErrored);
    const written = this.output ? await this.output.succeeded(this.tasks.written) : this.tasks.written;
    const progress = this.snapshot(true);
    this.options.onProgress?.(progress);
    return {
      rowsOut: root.metrics.rowsOut, written, durationMs: Date.now() - this.startedAt,
      progress, peakMemoryBytes: this.peakMemory, peakReservedBytes: this.peakReserved, exchangeBytesViaDriver: this.topology!.exchanges().reduce((sum, op) => sum + (op.metrics.bytesViaDriver ?? 0), 0), statsText: statsText(progress, this.operators, Date.now() - this.startedAt, this.peakReserved),
      erroredRows: this.errors.sample,
    };
  }

  /** Moves outputs downstream, then launches tasks while workers and memory allow. */
  private step(): void {
    const topology = this.topology!, resources = this.resources!;
    for (const op of topology.operators) {
      const next = topology.next(op);
      try {
        while (op.outputQueue.length > 0) {
          const item = op.outputQueue.shift()!;
          if (next) next.op.addInput(item, next.index);
          else this.outputQueue.push(item);
        }
        if (op.isFinished()) {
          op.metrics.finishedAt ??= Date.now();
          resources.finished(op);
          if (next && !next.op.isInputDone(next.index)) next.op.markInputDone(next.index);
        }
      } catch (e) {
        // Driver-side operators (zip, sort, aggregate) fail here; name the one that did.
        this.fail(new ExecutionError(e instanceof OperatorError ? e.message : `${next?.op.name ?? op.name}: ${(e as Error).message}`));
        return;
      }
      if (op instanceof LimitOperator && op.satisfied) this.stopUpstream(op);
    }
    resources.autoscale(topology.operators, this.tasks);
    this.launchTasks();
    const budget = this.settings.memoryBudgetBytes;
    this.tasks.grantCredits(() => this.memoryReserved() <= budget || this.stalled(), (op) => topology.operators.indexOf(op));
    this.peakMemory = Math.max(this.peakMemory, this.memoryHeld());
    this.peakReserved = Math.max(this.peakReserved, this.memoryReserved());
  }

  /** Launches retries, then new tasks of the stages the selector picks, while slots and the memory budget allow. */
  private launchTasks(): void {
    this.tasks.launchRetries((op) => this.resources!.hasRoom(op, this.tasks));
    for (let op = this.selector!.next(); op; op = this.selector!.next()) this.tasks.launch(op);
  }

  /** Nothing can make progress without more memory: every task waits for a credit and the consumer has nothing to drain. */
  private stalled(): boolean {
    return this.outputQueue.length === 0 && this.tasks.allWaitingForCredit();
  }

  private queuedBytes(): number {
    return this.outputQueue.reduce((s, b) => s + b.bytes, 0) + (this.topology?.queuedBytes() ?? 0);
  }

  /** What the budget decisions count: queued blocks and a fixed reservation per running task (what it may come to hold). */
  private memoryReserved(): number {
    return this.queuedBytes() + this.tasks.reservedBytes();
  }

  /** What progress reports: queued blocks and what running tasks' workers hold now (never above memoryReserved). */
  private memoryHeld(): number {
    return this.queuedBytes() + this.tasks.heldBytes();
  }

  private stopUpstream(op: PhysicalOperator): void {
    for (const input of op.inputs) {
      if (input.stopped) continue;
      input.stop();
      if (input instanceof TaskOperator) this.tasks.cancel(input);
      this.stopUpstream(input);
    }
  }

  private stopAll(): void {
    for (const op of this.operators) op.stopped = true;
    this.tasks.cancel();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.stopAll();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = () => undefined;
    wake();
  }

  /**
   * A failed or cancelled job leaves no output that looks complete, and the previous output of an
   * overwrite as it was: its datasink aborts. A checkpointed job keeps its committed files for a resume,
   * which removes the uncommitted ones (workers may still be finishing a commit now).
   */
  private async removePartialOutput(error: Error): Promise<string[]> {
    const problems: string[] = [];
    await this.output?.failed(this.tasks.written, error).catch((e: Error) => { problems.push(e.message); });
    return problems;
  }

  private snapshot(finished: boolean): ProgressSnapshot {
    return progressSnapshot(this.operators, {
      startedAt: this.startedAt, memoryUsedBytes: this.memoryHeld(), peakMemoryBytes: Math.max(this.peakMemory, this.memoryHeld()), memoryBudgetBytes: this.settings.memoryBudgetBytes,
      cpuSlots: cpuSlots(this.settings), workersBusy: this.tasks.busy, nodes: this.settings.cluster?.counts(), nodeList: this.settings.cluster?.nodeProgress(),
      erroredRows: this.errors.rows, checkpoint: this.checkpoint?.progress,
      actors: (op) => this.resources?.actorCounts(op),
    }, finished);
  }
}
