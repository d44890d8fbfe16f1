// Who runs a job, so that another process can tell whether it still runs: host, pid and (on Linux) the
// process start time, which tells the process from a later one that reuses its pid after a restart.
import { readFileSync } from "node:fs";
import os from "node:os";

export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Clock ticks since boot (field 22 of /proc/<pid>/stat); absent where unknown. */
  startTime?: string;
}

export function thisProcess(): ProcessIdentity {
  return { host: os.hostname(), pid: process.pid, startTime: processStartTime(process.pid) };
}

/** Whether that process still runs; undefined for a process of another host, which this one cannot see. */
export function isAliveHere(who: ProcessIdentity): boolean | undefined {
  if (who.host !== os.hostname()) return undefined;
  try {
    process.kill(who.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const startTime = processStartTime(who.pid);
  return who.startTime === undefined || startTime === undefined || startTime === who.startTime;
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2, the command name in parentheses, may hold spaces and parentheses: count from after its end.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[22 - 3];
  } catch {
    return undefined;
  }
}
