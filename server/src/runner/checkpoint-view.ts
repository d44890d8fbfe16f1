// Checkpoint contents for the server's GET /jobs/:id/checkpoint views. This runs in a job-runner child
// process, never in the server's event loop: opening a checkpoint loads every committed ID.
import fs from "node:fs/promises";
import { CheckpointReader } from "../checkpoint";
import { fileSystemFor, isS3Path, type FileSystemDescription } from "../io";
import type { CheckpointErroredRow, CheckpointView, JsonValue, CheckpointViewName } from "../contract";
import { insideRoots, realRoots } from "./roots";

export interface CheckpointViewRequest {
  jobId: string;
  checkpoint: { path: string; filesystem?: FileSystemDescription };
  view: CheckpointViewName;
  offset: number;
  limit: number;
  /** Set when the checkpoint path came from a client (a bundle job): local paths read must be inside these roots. */
  roots?: string[];
}

/** A view the server must refuse: the checkpoint is gone (404) or outside the roots (403). */
export class ViewRefused extends Error {
  constructor(readonly status: 403 | 404, message: string) {
    super(message);
  }
}

async function mustBeInside(roots: string[], target: string, what: string): Promise<void> {
  if (isS3Path(target)) return;
  const real = await fs.realpath(target).catch(() => undefined);
  if (real === undefined) throw new ViewRefused(404, `${what} ${target} does not exist`);
  if (!insideRoots(roots, real)) throw new ViewRefused(403, `${what} ${target} is outside the server's roots`);
}

/** JSON for the wire: 64-bit integers as decimal strings, binary values as "<N bytes>" (dates become ISO strings by themselves). */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>);
  return value;
}

const toJson = <T>(value: unknown): T => JSON.parse(JSON.stringify(value, jsonReplacer)) as T;

export async function readCheckpointView(request: CheckpointViewRequest): Promise<CheckpointView> {
  const { jobId, view, offset, limit } = request;
  const { path, filesystem } = request.checkpoint;
  const roots = request.roots && await realRoots(request.roots);
  if (roots) await mustBeInside(roots, path, "the checkpoint");
  if ((await fileSystemFor(path, filesystem).stat(path)) === null) throw new ViewRefused(404, `the checkpoint ${path} does not exist (any more)`);
  const reader = await CheckpointReader.open(path, filesystem);
  const page = { jobId, offset, limit };
  switch (view) {
    case "summary": {
      const summary = await reader.summary();
      const manifest = summary.manifest && { idColumn: summary.manifest.idColumn, output: summary.manifest.output, createdAt: summary.manifest.createdAt };
      return {
        type: "checkpoint", ...page, total: summary.committedFiles.length, path, manifest, attempts: summary.attempts,
        committedIds: summary.committedIds, doneFiles: summary.doneFiles, erroredRows: summary.erroredRows,
        files: summary.committedFiles.slice(offset, offset + limit).map((f) => ({ output: f.output, ids: f.ids })),
      };
    }
    case "ids":
      return { type: "checkpointIds", ...page, ...await reader.ids(offset, limit) };
    case "rows": {
      const output = reader.outputFolder;
      if (roots && output !== undefined) await mustBeInside(roots, output, "the output folder");
      const { total, rows } = await reader.rows(offset, limit);
      return { type: "checkpointRows", ...page, total, rows: rows.map(({ file, row }) => ({ file, row: toJson<Record<string, JsonValue>>(row) })) };
    }
    case "errors": {
      const errored = await reader.erroredRows();
      return { type: "checkpointErrors", ...page, total: errored.length, rows: toJson<CheckpointErroredRow[]>(errored.slice(offset, offset + limit)) };
    }
  }
}
