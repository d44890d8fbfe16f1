// A real PostgreSQL server (Debian's postgresql package) for the tests: initdb and pg_ctl on a temporary
// folder, listening only on a unix socket there, run as a non-root user (PostgreSQL refuses root).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "./helpers";

/** initdb and pg_ctl: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin. */
function postgresBin(command: string): string {
  const onPath = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
  if (onPath) return onPath;
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, "bin", command)).find((file) => fs.existsSync(file));
  if (!found) {
    throw new Error(`PostgreSQL's ${command} is not installed, and the PostgreSQL tests need it: ` +
      "install Debian's postgresql package (bash scripts/test-setup.sh does, or: sudo apt-get install -y postgresql)");
  }
  return found;
}

/** The OS user the server runs as: this one, or as root the postgres user (created when missing). */
function serverUser(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (spawnSync("id", ["-u", "postgres"]).status !== 0) execFileSync("useradd", ["--system", "--no-create-home", "postgres"]);
  return "postgres";
}

export interface PostgresServer {
  /** The folder holding the server's unix socket: pg's `host`. */
  socketDir: string;
  /** What rd.postgres and pg.Client take to connect as the superuser. */
  config: { host: string; user: string; database: string };
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const initdb = postgresBin("initdb");
  const pgCtl = postgresBin("pg_ctl");
  const user = serverUser();
  const dir = tempDir("rdpipe-pg-");
  const run = (command: string, args: string[]) => {
    const [file, argv] = user ? ["runuser", ["-u", user, "--", command, ...args]] : [command, args];
    const result = spawnSync(file, argv, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  if (user) execFileSync("chown", [user, dir]);
  const data = path.join(dir, "data");
  run(initdb, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  run(pgCtl, ["-D", data, "-l", path.join(dir, "log"), "-w", "-o", `-k ${dir} -c listen_addresses='' -F`, "start"]);
  return {
    socketDir: dir,
    config: { host: dir, user: "postgres", database: "postgres" },
    async stop() {
      run(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
