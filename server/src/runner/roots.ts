// The server's roots: the folders it may read. The HTTP layer confines every user path to them; the
// runner confines a bundle job's checkpoint (a path from a client) to them.
import fs from "node:fs/promises";
import path from "node:path";

/** The roots in their real (symlink-free) form; each must exist. */
export function realRoots(roots: string[]): Promise<string[]> {
  return Promise.all(roots.map((r) => fs.realpath(path.resolve(r))));
}

/** Whether a path (already resolved by realpath) is inside one of the (real) roots. */
export function insideRoots(roots: readonly string[], candidate: string): boolean {
  return roots.some((root) => {
    const relative = path.relative(root, candidate);
    return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
  });
}
