// Which stage launches a task next (Ray Data's select_operator_to_run with its backpressure): downstream
// stages first, among those with a free slot, while the memory budget allows; the reason a stage waits
// shows in its progress.
import { ActorPoolOperator, TaskOperator, usesTaskSlot } from "./physical";
import type { Topology } from "./topology";

/** What the selection reads of the execution now. */
export interface SchedulingState {
  hasRoom(op: TaskOperator): boolean;
  /** Slots the shared pool's tasks may hold. */
  taskSlots(): number;
  countRunning(where: (op: TaskOperator) => boolean): number;
  memoryUsed(): number;
  /** Memory a new task reserves in its worker. */
  reservation(): number;
  /** Nothing can make progress without more memory. */
  stalled(): boolean;
}

export class LaunchSelector {
  constructor(private readonly topology: Topology, private readonly memoryBudget: number, private readonly state: SchedulingState) {}

  /** The stage to launch a task of now, if any. */
  next(): TaskOperator | undefined {
    const { state } = this;
    const withTasks = this.topology.operators.filter((op): op is TaskOperator => op instanceof TaskOperator && op.hasTask());
    for (const op of withTasks) if (!state.hasRoom(op)) op.metrics.backpressure = op instanceof ActorPoolOperator ? "all actors busy" : "all workers busy";
    // Downstream first (operators are listed upstream → downstream): finishing work frees memory.
    const ready = withTasks.filter((op) => state.hasRoom(op) && !this.slotReservedFor(op)).reverse();
    // Over budget, launch only when nothing else can make progress. A call into an actor pool adds
    // nothing: its input bytes only move from the queue to the call.
    const memoryFull = state.memoryUsed() + state.reservation() > this.memoryBudget && !state.stalled();
    const launchable = ready.filter((op) => op instanceof ActorPoolOperator || !memoryFull);
    for (const r of ready) r.metrics.backpressure = launchable.includes(r) ? undefined : "memory budget";
    return launchable[0];
  }

  /**
   * With more than one task stage, upstream stages leave one CPU slot free, so a downstream stage can
   * always drain their output; otherwise paused upstream tasks could hold every slot while the queue
   * between the stages only grows.
   */
  private slotReservedFor(op: TaskOperator): boolean {
    const slots = this.state.taskSlots();
    const topology = this.topology;
    if (slots < 2 || !usesTaskSlot(op) || !topology.feedsTaskStage(op)) return false;
    return this.state.countRunning((task) => usesTaskSlot(task) && topology.feedsTaskStage(task)) >= slots - 1;
  }
}
