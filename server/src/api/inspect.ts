// Inspection without running the whole plan where metadata answers: count() from Parquet footers,
// inputFiles() from the listing (after hive pruning), explain(); and the block totals of a run.
import path from "node:path";
import { blockBytes, type Block } from "../block";
import type { PlanExplanation } from "../contract";
import { sourceFiles, sourceFooterRows } from "../io";
import { checkExpressions, explainParts, inputsOf, opsInOrder, optimize, pushedSource, type LogicalOp } from "../plan";

/** Operators that never change how many rows pass. */
const COUNT_PRESERVING = new Set(["withColumn", "select", "selectColumns", "dropColumns", "renameColumns", "sort", "repartition", "randomShuffle"]);

async function footerRows(op: LogicalOp): Promise<number | undefined> {
  if (op.kind === "read") return sourceFooterRows(op.source);
  if (COUNT_PRESERVING.has(op.kind)) return footerRows(inputsOf(op)[0]);
  if (op.kind === "limit") { const rows = await footerRows(op.input); return rows === undefined ? undefined : Math.min(rows, op.n); }
  if (op.kind === "union") {
    const parts = await Promise.all(op.inputs.map(footerRows));
    return parts.every((p) => p !== undefined) ? parts.reduce((s, p) => s + p!, 0) : undefined;
  }
  return undefined;
}

/**
 * The row count from Parquet footers (through the metadata cache) when nothing between the reads and the
 * count changes it; undefined when the plan must run. Expressions are checked against the footer's schema first.
 */
export async function countFromMetadata(root: LogicalOp, targetBlockBytes: number): Promise<number | undefined> {
  const rows = await footerRows(root);
  if (rows !== undefined) await checkExpressions(root, targetBlockBytes);
  return rows;
}

/** The files the plan's reads read, after the optimizer's hive-partition pruning; sorted, each once. */
export async function planInputFiles(root: LogicalOp): Promise<string[]> {
  const { pushdowns } = optimize(root);
  const files = new Set<string>();
  for (const op of opsInOrder(root)) {
    if (op.kind !== "read") continue;
    for (const file of (await sourceFiles(pushedSource(op.source, pushdowns.get(op)))) ?? []) files.add(file);
  }
  return [...files].sort();
}

/**
 * explain() in parts, each hive-partitioned read with a pushed filter also listed with and without it:
 * which of its partition folders (relative to the path read) the filter prunes.
 */
export async function planExplanation(root: LogicalOp, positions?: Map<LogicalOp, number>): Promise<PlanExplanation> {
  const { notes: _notes, ...parts } = explainParts(root, positions);
  const { pushdowns } = optimize(root);
  const reads = opsInOrder(root).filter((op) => op.kind === "read" && op.source.type === "files");
  for (const [i, op] of reads.entries()) {
    if (op.kind !== "read" || op.source.type !== "files" || op.source.partitioning !== "hive" || !pushdowns.get(op)?.filter) continue;
    const base = op.source.paths[0];
    const folderOf = (file: string) => path.posix.relative(base, path.posix.dirname(file));
    const partitioned = (files: string[] | undefined) => new Set((files ?? []).map(folderOf).filter((f) => f.includes("=")));
    const all = partitioned(await sourceFiles(pushedSource(op.source, { ...pushdowns.get(op), filter: undefined })));
    const kept = partitioned(await sourceFiles(pushedSource(op.source, pushdowns.get(op))));
    if (all.size > 0) parts.reads[i].folders = { total: all.size, pruned: [...all].filter((f) => !kept.has(f)).sort() };
  }
  return parts;
}

/** Blocks, rows and in-memory bytes of a run's output. */
export async function blockTotals(blocks: AsyncIterable<Block>): Promise<{ blocks: number; rows: number; bytes: number }> {
  const totals = { blocks: 0, rows: 0, bytes: 0 };
  for await (const block of blocks) {
    if (block.numRows === 0) continue;
    totals.blocks++;
    totals.rows += block.numRows;
    totals.bytes += blockBytes(block);
  }
  return totals;
}
