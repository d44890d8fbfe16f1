// One run at a time per checkpoint: a second run would delete the first one's files as uncommitted
// between their write and their commit. The lease (lease.json beside the manifest) names its holder; one
// on this host is held while its process lives, however long it went unrenewed (a stopped or busy run
// keeps it; a killed run's lease is taken over at once; the process start time tells a reused pid from
// the holder), one from another host until it goes unrenewed for LEASE_TTL_MS. A run that finds the lease
// taken over at a renewal is told (onLost) and must stop writing.
//
// Taking the lease is an atomic create: locally a file linked into place (link() fails if the name
// exists); on S3 a PUT with If-None-Match: * where the store honours it. A store that does not (s3rver,
// some S3-compatible stores) gets the read-back protocol instead: write when absent, wait, read back —
// two runs whose requests are further apart than the wait can both believe they won.
//
// Taking over a dead holder's lease is itself a race: exactly one run may do it, the one that creates the
// takeover token named after that holder (lease.takeover-<attempt>-<renewedAt>.json, taken the same way,
// so a token left by a run that died mid-takeover is taken over in turn).
import os from "node:os";
import { isAliveHere, json, readJsonFile, thisProcess, type FileSystem, type ProcessIdentity } from "../io";
import { RdpipeError } from "../errors";

/** The holder (its process start time tells it from a process that reused its pid) and when it last renewed. */
interface LeaseRecord extends ProcessIdentity { attempt: string; renewedAt: number }

/** A lease from another host counts as held until it is this old without renewal (the environment variables are for tests). */
const LEASE_TTL_MS = Number(process.env.RDPIPE_LEASE_TTL_MS ?? 30_000);
const LEASE_RENEW_MS = Number(process.env.RDPIPE_LEASE_RENEW_MS ?? 10_000);
/** Read-back protocol only: time between writing the lease and checking it is still ours. */
const READ_BACK_SETTLE_MS = 300;
/** Takeover tokens of takeover tokens, at most this deep (each level needs a run that died mid-takeover). */
const MAX_TAKEOVER_DEPTH = 3;

export const LEASE_FILE = "lease.json";

/** The lease and the takeover tokens beside it, which an empty checkpoint folder may hold. */
export const isLeaseFile = (name: string) => name === LEASE_FILE || /^lease\.takeover-.*\.json$/.test(name);

export class CheckpointInUseError extends RdpipeError {
  readonly code = "checkpoint";
}

/** The lease this run held now names another holder. */
export class CheckpointLeaseLostError extends RdpipeError {
  readonly code = "checkpoint";
}

export class CheckpointLease {
  /** Leases this process holds, by file: a second execution here must not take one over. */
  private static readonly heldHere = new Set<string>();
  private timer?: NodeJS.Timeout;
  private renewal: Promise<void> = Promise.resolve();
  private released = false;

  private constructor(
    private readonly fs: FileSystem, private readonly file: string, private readonly record: LeaseRecord,
    private readonly onLost: (error: CheckpointLeaseLostError) => void,
  ) {}

  /** Takes the lease of the checkpoint at root; onLost is called once should another run take it over later. */
  static async acquire(fs: FileSystem, root: string, attempt: string, onLost: (error: CheckpointLeaseLostError) => void): Promise<CheckpointLease> {
    const file = fs.join(root, LEASE_FILE);
    if (CheckpointLease.heldHere.has(file)) throw inUse(root, file, undefined);
    const record = { attempt, ...thisProcess(), renewedAt: Date.now() };
    const lease = new CheckpointLease(fs, file, record, onLost);
    CheckpointLease.heldHere.add(file);
    try {
      await take(fs, root, file, lease.record, 0);
    } catch (e) {
      CheckpointLease.heldHere.delete(file);
      throw e;
    }
    lease.timer = setInterval(() => { lease.renewal = lease.renew().catch(() => undefined); }, LEASE_RENEW_MS).unref();
    return lease;
  }

  /** Rewrites the lease with a fresh time, unless another run holds it now: then it stops and says so. */
  private async renew(): Promise<void> {
    if (this.released) return;
    const holder = await readLease(this.fs, this.file);
    if (holder && holder.attempt !== this.record.attempt) {
      clearInterval(this.timer);
      this.onLost(new CheckpointLeaseLostError(
        `${this.file}: lost the checkpoint lease to process ${holder.pid} on host ${holder.host}; stopped so that two runs never write the same rows`,
      ));
      return;
    }
    this.record.renewedAt = Date.now();
    await this.fs.write(this.file, json(this.record));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.renewal; // a renewal in flight must not bring the file back after it is gone
    try {
      const holder = await readLease(this.fs, this.file).catch(() => undefined);
      if (holder?.attempt === this.record.attempt) await this.fs.deleteFiles([this.file]);
    } finally {
      CheckpointLease.heldHere.delete(this.file);
    }
  }
}

/** Creates file for record, taking over a dead holder's; throws CheckpointInUseError when a live run holds it. */
async function take(fs: FileSystem, root: string, file: string, record: LeaseRecord, depth: number): Promise<void> {
  for (let tries = 0; tries < 3; tries++) {
    if (await create(fs, file, record)) return;
    const holder = await readLease(fs, file);
    if (holder === undefined) continue; // released (or unreadable) meanwhile: try again
    if (sameRecord(holder, record)) return; // our own create, whose answer was lost and retried
    if (isHeld(holder) || depth >= MAX_TAKEOVER_DEPTH) throw inUse(root, file, holder);
    const token = fs.join(root, `lease.takeover-${holder.attempt}-${holder.renewedAt}.json`);
    await take(fs, root, token, record, depth + 1);
    try {
      // Only the token's holder removes this holder's file; anything else there now belongs to a live run.
      const still = await readLease(fs, file);
      if (still && sameRecord(still, holder)) await fs.deleteFiles([file]);
      if (await create(fs, file, record)) return;
      throw inUse(root, file, await readLease(fs, file));
    } finally {
      await fs.deleteFiles([token]).catch(() => undefined);
    }
  }
  throw inUse(root, file, await readLease(fs, file));
}

/** An atomic create where the store has one, else the read-back protocol. */
async function create(fs: FileSystem, file: string, record: LeaseRecord): Promise<boolean> {
  const data = json(record)[0];
  const created = await fs.writeIfAbsent(file, data);
  if (created !== "unsupported") return created === "created";
  if ((await fs.stat(file)) !== null) return false;
  try {
    await fs.write(file, [data]);
  } catch {
    // Its read-back met another contender's object (or none, once that one released it): lost. An
    // unreachable store fails the read as well, with its own error. A store that mixes two concurrent
    // writes (s3rver: one's bytes under the other's ETag) fails the check though the bytes are ours:
    // the bytes decide, as after a write that passed.
    const holder = await readLease(fs, file);
    if (holder === undefined || !sameRecord(holder, record)) return false;
  }
  await new Promise((resolve) => setTimeout(resolve, READ_BACK_SETTLE_MS));
  const after = await readLease(fs, file);
  return after !== undefined && sameRecord(after, record);
}

const sameRecord = (a: LeaseRecord, b: LeaseRecord) =>
  a.attempt === b.attempt && a.pid === b.pid && a.host === b.host && a.renewedAt === b.renewedAt;

async function readLease(fs: FileSystem, file: string): Promise<LeaseRecord | undefined> {
  if ((await fs.stat(file)) === null) return undefined;
  try {
    return await readJsonFile<LeaseRecord>(fs, file);
  } catch {
    return undefined; // removed between stat and read
  }
}

/**
 * Whether another live run holds the lease. One of another host until it goes unrenewed past the TTL. One
 * of this host while a process with its pid exists that started when the holder did (not one that reused
 * the pid after a restart), however long ago it renewed; never this very process (its executions are in
 * heldHere) nor a previous incarnation with the same pid (a restarted container's PID 1).
 */
function isHeld(lease: LeaseRecord): boolean {
  if (lease.host === os.hostname() && lease.pid === process.pid) return false;
  return isAliveHere(lease) ?? Date.now() - lease.renewedAt < LEASE_TTL_MS;
}

function inUse(root: string, file: string, holder: LeaseRecord | undefined): CheckpointInUseError {
  const who = holder ? `process ${holder.pid} on ${holder.host}, renewed ${Math.round((Date.now() - holder.renewedAt) / 1000)}s ago` : "another execution in this process";
  return new CheckpointInUseError(`the checkpoint at ${root} is in use by another run (${who}); wait for it to finish, or delete ${file} if that run is gone`);
}
