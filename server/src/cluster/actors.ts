// An actor pool: long-lived workers, each holding one instance of a class UDF. Each actor takes a
// couple of tasks (call bundles) at once and, inside, runs at most maxConcurrency calls at once. Its size
// is set from outside (exec/autoscaler); a crashed actor is restarted, and a constructor that keeps
// throwing fails the pool.
import { type HostedWorker, TaskHost, type WorkerChannel } from "./host";
import type { ActorInit, TaskErrorInfo, WorkerMessage } from "./protocol";

/** Attempts at constructing one actor before the pool gives up (the first try and two retries). */
export const CONSTRUCT_ATTEMPTS = 3;

/** Tasks an actor holds at once: one running, the next one's input already there (Ray keeps a few in flight too). */
export const TASKS_PER_ACTOR = 2;

type ActorState = "pending" | "running" | "restarting";

interface Actor extends HostedWorker {
  state: ActorState;
  /** Constructions of this actor that failed in a row (a throw, or the thread dying while constructing). */
  failedConstructions: number;
}

export interface ActorCounts { running: number; pending: number; restarting: number }

export class ActorPool extends TaskHost<Actor> {
  private failed = false;

  constructor(
    private readonly init: ActorInit,
    private readonly onFatal: (error: TaskErrorInfo) => void,
    /** A new worker for an actor; undefined when no node can host one now (the autoscaler asks again). */
    private readonly spawnChannel: () => WorkerChannel | undefined,
  ) {
    super();
  }

  /** Starts one more actor; it takes calls once its constructor has returned. */
  addActor(): void {
    const actor = this.construct("pending", 0);
    if (actor) this.workers.push(actor);
  }

  /** Stops one actor that has no call in flight; false if every actor is busy. */
  removeIdleActor(): boolean {
    const idle = this.workers.find((a) => a.state === "running" && a.running.size === 0);
    if (idle) this.retire(idle);
    return idle !== undefined;
  }

  shutdown(): void {
    for (const actor of [...this.workers]) this.retire(actor);
  }

  counts(): ActorCounts {
    const counts = { running: 0, pending: 0, restarting: 0 };
    for (const actor of this.workers) counts[actor.state]++;
    return counts;
  }

  get size(): number { return this.workers.length; }

  /** Tasks the ready actors can take now. */
  freeSlots(): number {
    return this.workers.reduce((sum, a) => sum + (this.takesCalls(a) ? TASKS_PER_ACTOR - a.running.size : 0), 0);
  }

  tasksInFlight(): number {
    return this.workers.reduce((sum, a) => sum + a.running.size, 0);
  }

  /** Ready actors without a call in flight since `since` (ms timestamp) or earlier. */
  idleSince(since: number): number {
    return this.workers.filter((a) => a.state === "running" && a.running.size === 0 && a.lastActiveAt <= since).length;
  }

  protected override pick(): Actor | undefined {
    let best: Actor | undefined;
    for (const actor of this.workers) {
      if (!this.takesCalls(actor) || actor.running.size >= TASKS_PER_ACTOR) continue;
      if (!best || actor.running.size < best.running.size) best = actor;
    }
    return best;
  }

  private takesCalls(actor: Actor): boolean {
    return actor.state === "running" && !actor.channel.draining;
  }

  protected override onControl(actor: Actor, message: WorkerMessage): void {
    if (message.type === "constructed") {
      actor.state = "running";
      actor.failedConstructions = 0;
      actor.lastActiveAt = Date.now();
      this.emit("idle");
    } else if (message.type === "constructFailed") {
      this.constructionFailed(actor, message.error);
    }
  }

  protected override onLost(actor: Actor): void {
    if (actor.state === "running" || actor.channel.nodeLost) this.restart(actor, actor.failedConstructions);
    else this.constructionFailed(actor, { kind: "udf", operator: this.init.stage, message: `${this.init.stage}: the actor's thread died while its constructor ran` });
  }

  private constructionFailed(actor: Actor, error: TaskErrorInfo): void {
    const failures = actor.failedConstructions + 1;
    if (failures < CONSTRUCT_ATTEMPTS) { this.restart(actor, failures); return; }
    this.retire(actor);
    if (this.failed) return;
    this.failed = true;
    this.onFatal({ ...error, message: `${error.message} (the constructor failed ${failures} times)` });
  }

  private restart(actor: Actor, failedConstructions: number): void {
    const index = this.workers.indexOf(actor);
    if (index < 0) return;
    this.retire(actor);
    const restarted = this.construct("restarting", failedConstructions);
    if (restarted) this.workers.splice(index, 0, restarted);
  }

  private construct(state: ActorState, failedConstructions: number): Actor | undefined {
    const channel = this.spawnChannel();
    if (!channel) return undefined;
    const actor: Actor = { channel, running: new Map(), lastActiveAt: Date.now(), state, failedConstructions };
    this.listen(actor);
    actor.channel.postMessage({ type: "construct", actor: this.init });
    return actor;
  }
}
