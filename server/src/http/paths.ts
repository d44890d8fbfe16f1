// Path confinement: the server reads and lists only inside its configured roots. A user path is
// checked as text first (no `..` segments, no encoded or backslash separators, no NUL), then resolved
// with realpath so a symlink pointing outside a root is caught too.
import fs from "node:fs/promises";
import path from "node:path";
import { isIgnoredName } from "../io";
import { insideRoots, realRoots } from "../runner";
import { HttpError } from "./errors";

export class PathRoots {
  private constructor(private readonly roots: string[]) {}

  /** Roots must exist; they are kept in their real (symlink-free) form. */
  static async create(roots: string[]): Promise<PathRoots> {
    return new PathRoots(await realRoots(roots));
  }

  list(): string[] {
    return [...this.roots];
  }

  /** The real path of an existing file or folder inside a root; a relative path resolves against the first root. */
  async resolve(userPath: unknown): Promise<string> {
    if (typeof userPath !== "string" || userPath.length === 0) throw new HttpError(400, "bad_request", "path must be a non-empty string");
    if (userPath.length > 4096) throw new HttpError(400, "bad_request", "path is too long");
    if (/[\0\\]/.test(userPath) || /%[0-9a-f]{2}/i.test(userPath)) {
      throw new HttpError(400, "bad_request", "path must not contain NUL, backslashes or percent-encoded characters");
    }
    if (userPath.split("/").includes("..")) throw new HttpError(403, "forbidden", "path must not contain '..' segments");
    const candidate = path.resolve(this.roots[0], userPath);
    if (!this.contains(candidate)) throw new HttpError(403, "forbidden", "path is outside the server's roots");
    let real: string;
    try {
      real = await fs.realpath(candidate);
    } catch {
      throw new HttpError(404, "not_found", `no such file: ${userPath}`);
    }
    if (!this.contains(real)) throw new HttpError(403, "forbidden", "path is outside the server's roots");
    return real;
  }

  /**
   * Every file under a resolved path, recursively, without ever reading a folder outside the roots:
   * each entry is resolved with realpath first, and one that leads out (a symlink) is skipped.
   */
  async listFiles(resolved: string): Promise<string[]> {
    if (!(await fs.stat(resolved)).isDirectory()) return [resolved];
    const files: string[] = [];
    for (const entry of await fs.readdir(resolved)) {
      if (isIgnoredName(entry)) continue;
      const real = await fs.realpath(path.join(resolved, entry)).catch(() => undefined);
      if (real !== undefined && this.contains(real)) files.push(...await this.listFiles(real));
    }
    return files.sort();
  }

  /** Whether a path (already resolved by realpath) is inside a root. */
  contains(candidate: string): boolean {
    return insideRoots(this.roots, candidate);
  }
}
