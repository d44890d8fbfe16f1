// Autoscaling policies, small and pluggable (as Ray Data's _internal/execution/autoscaler): the
// executor describes an actor pool's load, a policy answers how many actors to add or remove.

/** What an actor-pool policy sees of one pool. */
export interface ActorPoolUsage {
  /** Actors alive or coming up (running, pending, restarting). */
  actors: number;
  minActors: number;
  maxActors: number;
  /** Tasks (call bundles) queued for the pool: the backlog. */
  queuedTasks: number;
  tasksInFlight: number;
  /** Tasks one actor holds at once. */
  tasksPerActor: number;
  /** Actors the free CPU slots could still hold. */
  affordableActors: number;
  /** Ready actors that have had no call for at least `ms`. */
  idleActors(ms: number): number;
}

export interface ActorPoolAutoscaler {
  /** Actors to add (positive) or idle actors to remove (negative). */
  decide(usage: ActorPoolUsage): number;
}

/**
 * Grows the pool to what its backlog needs (queued plus running tasks, tasksPerActor per actor),
 * as far as CPU slots allow, and shrinks it one idle actor at a time after `idleTimeoutMs`; always
 * within [min, max], and back to min after actors are lost.
 */
export class BacklogActorPoolAutoscaler implements ActorPoolAutoscaler {
  constructor(readonly idleTimeoutMs = 2000) {}

  decide(usage: ActorPoolUsage): number {
    if (usage.actors < usage.minActors) return usage.minActors - usage.actors;
    const needed = Math.min(usage.maxActors, Math.ceil((usage.queuedTasks + usage.tasksInFlight) / usage.tasksPerActor));
    if (needed > usage.actors) return Math.max(0, Math.min(needed - usage.actors, usage.affordableActors));
    if (usage.queuedTasks > 0 || usage.actors <= usage.minActors) return 0;
    return -Math.min(1, usage.idleActors(this.idleTimeoutMs));
  }
}

/** What a cluster policy sees. */
export interface ClusterUsage {
  /** Nodes that joined and take work. */
  aliveNodes: number;
  /** Nodes asked for that have not joined yet. */
  pendingNodes: number;
  maxNodes: number;
  cpusPerNode: number;
  /** Tasks (and actors) waiting for a CPU slot. */
  queuedWork: number;
}

export interface ClusterAutoscaler {
  /** Nodes to ask the provider for now. */
  decide(usage: ClusterUsage): number;
}

/** Asks for the nodes the queued work would fill, less those already coming, within maxNodes. */
export class QueuedWorkClusterAutoscaler implements ClusterAutoscaler {
  decide(usage: ClusterUsage): number {
    if (usage.queuedWork === 0) return 0;
    const wanted = Math.ceil(usage.queuedWork / usage.cpusPerNode) - usage.pendingNodes;
    return Math.max(0, Math.min(wanted, usage.maxNodes - usage.aliveNodes - usage.pendingNodes));
  }
}
