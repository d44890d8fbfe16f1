// Hash join: one side (the build side) indexed by its keys, the other side's blocks probed against it;
// output rows gathered column by column with index arrays (-1: nulls for a row without a match).
import { Field, Null, Schema, Vector } from "apache-arrow";
import { type Block, BlockError, blockBytes, blockFromColumns, concatBlocks, emptyBlock, takeRows, takeVector } from "../../block";
import { type JoinSpec, type OutputColumn, joinColumns, joinKeys, outputSide } from "../../plan";
import { KeyIds, castKey } from "./join-keys";

type Side = "left" | "right";
const other = (side: Side): Side => (side === "left" ? "right" : "left");

/**
 * A join with its build side indexed. `probe` takes the other side's blocks one at a time (each gives
 * its output rows at once); `finish` gives the build side's rows that depend on every probe (an outer
 * join's unmatched rows, a semi or anti join's).
 */
export class HashJoin {
  private readonly probeSide: Side;
  private readonly columns: OutputColumn[];
  private readonly index: KeyIds;
  /** Build rows grouped by key id: rows[starts[id] .. starts[id + 1]). */
  private readonly starts: Uint32Array;
  private readonly rows: Uint32Array;
  /** Per key id: whether a probe row had that key (a group is marked once, however many rows match it). */
  private readonly matched: Uint8Array;
  private readonly build: Block;
  private readonly emptyProbe: Block;

  constructor(private readonly spec: JoinSpec, build: Block, private readonly buildSide: Side, probeSchema: Schema) {
    this.probeSide = other(buildSide);
    const schemas = { [buildSide]: withKnownKeys(build.schema, spec, buildSide), [this.probeSide]: withKnownKeys(probeSchema, spec, this.probeSide) } as Record<Side, Schema>;
    this.build = build.schema === schemas[buildSide] ? build : emptyBlock(schemas[buildSide]);
    this.emptyProbe = emptyBlock(schemas[this.probeSide]);
    const keys = joinKeys(schemas.left, schemas.right, spec);
    if (typeof keys === "string") throw new BlockError(`${spec.operator}: ${keys}`);
    const columns = joinColumns(schemas.left, schemas.right, spec, keys);
    if (typeof columns === "string") throw new BlockError(`${spec.operator}: ${columns}`);
    this.columns = columns;
    this.index = new KeyIds(this.build, keys, buildSide);
    ({ starts: this.starts, rows: this.rows } = groupRows(this.index.ids, this.index.count));
    this.matched = new Uint8Array(this.index.count);
  }

  /** The output rows this block of the probe side makes (in its row order); undefined when none can. */
  probe(block: Block): Block | undefined {
    if (block.numRows === 0) return undefined;
    const ids = this.index.lookup(block, this.probeSide);
    const side = outputSide(this.spec.joinType);
    if (side === this.buildSide) {
      for (let row = 0; row < ids.length; row++) if (ids[row] >= 0) this.matched[ids[row]] = 1;
      return undefined;
    }
    if (side === this.probeSide) {
      const keep = this.spec.joinType.endsWith("_semi");
      const rows: number[] = [];
      for (let row = 0; row < ids.length; row++) if ((ids[row] >= 0) === keep) rows.push(row);
      return takeRows(block, rows);
    }
    const keepUnmatched = this.preserves(this.probeSide), markBuild = this.preserves(this.buildSide);
    let n = 0;
    for (let row = 0; row < ids.length; row++) {
      const id = ids[row];
      n += id >= 0 ? this.starts[id + 1] - this.starts[id] : keepUnmatched ? 1 : 0;
    }
    const probeRows = new Int32Array(n), buildRows = new Int32Array(n);
    for (let row = 0, at = 0; row < ids.length; row++) {
      const id = ids[row];
      if (id < 0) {
        if (keepUnmatched) { probeRows[at] = row; buildRows[at++] = -1; }
        continue;
      }
      if (markBuild) this.matched[id] = 1;
      for (let i = this.starts[id]; i < this.starts[id + 1]; i++) { probeRows[at] = row; buildRows[at++] = this.rows[i]; }
    }
    return this.gather(block, probeRows, buildRows);
  }

  /** The build side's rows that waited for every probe block; undefined when this join has none. */
  finish(): Block | undefined {
    const side = outputSide(this.spec.joinType);
    if (side === this.probeSide || (side === "both" && !this.preserves(this.buildSide))) return undefined;
    const keepMatched = side !== "both" && this.spec.joinType.endsWith("_semi");
    const ids = this.index.ids;
    const rows: number[] = [];
    for (let row = 0; row < ids.length; row++) if ((ids[row] >= 0 && this.matched[ids[row]] === 1) === keepMatched) rows.push(row);
    if (side !== "both") return takeRows(this.build, rows);
    return this.gather(this.emptyProbe, new Int32Array(rows.length).fill(-1), Int32Array.from(rows));
  }

  private preserves(side: Side): boolean {
    return this.spec.joinType === "full_outer" || this.spec.joinType === `${side}_outer`;
  }

  /** The output columns of row pairs (probe row, build row), -1 for a missing side. */
  private gather(probe: Block, probeRows: Int32Array, buildRows: Int32Array): Block {
    const blocks = { [this.probeSide]: probe, [this.buildSide]: this.build } as Record<Side, Block>;
    const rowsOf = { [this.probeSide]: probeRows, [this.buildSide]: buildRows } as Record<Side, Int32Array>;
    const coalesce = this.spec.joinType === "right_outer" || this.spec.joinType === "full_outer";
    const vectors: Vector[] = this.columns.map((column) => {
      const vector = blocks[column.side].getChild(column.source)!;
      if (!column.key || !coalesce) return takeVector(vector, rowsOf[column.side]);
      // A key column holds the key of whichever side the row has: the left's, else the right's.
      const left = castKey(vector, column.key), right = castKey(blocks.right.getChild(column.key.right)!, column.key);
      const both = new Vector([...left.data, ...right.data]);
      const rows = new Int32Array(probeRows.length);
      for (let i = 0; i < rows.length; i++) {
        rows[i] = rowsOf.left[i] >= 0 ? rowsOf.left[i] : rowsOf.right[i] >= 0 ? left.length + rowsOf.right[i] : -1;
      }
      return takeVector(both, rows);
    });
    const columns: Record<string, Vector> = {};
    this.columns.forEach((c, i) => { columns[c.name] = vectors[i]; });
    return blockFromColumns(columns, undefined, undefined, probeRows.length);
  }
}

/** A side that produced no block at all has no known columns: its key columns, null-typed, stand in. */
function withKnownKeys(schema: Schema, spec: JoinSpec, side: Side): Schema {
  if (schema.fields.length > 0) return schema;
  return new Schema((side === "left" ? spec.on : spec.rightOn).map((name) => new Field(name, new Null(), true)));
}

/** Row numbers grouped by id (ids < 0 left out), in row order within a group. */
function groupRows(ids: Int32Array, count: number): { starts: Uint32Array; rows: Uint32Array } {
  const starts = new Uint32Array(count + 1);
  for (let row = 0; row < ids.length; row++) if (ids[row] >= 0) starts[ids[row] + 1]++;
  for (let id = 0; id < count; id++) starts[id + 1] += starts[id];
  const next = starts.slice(0, count);
  const rows = new Uint32Array(starts[count]);
  for (let row = 0; row < ids.length; row++) if (ids[row] >= 0) rows[next[ids[row]]++] = row;
  return { starts, rows };
}

/** One side of a join's partition: its row count up front, its blocks on demand, its columns even without rows where known. */
export interface JoinInput {
  readonly rows: number;
  readonly schema?: Schema;
  blocks(): AsyncIterable<Block>;
}

/**
 * The join of one partition of each side: the side with fewer rows is read whole and indexed, the
 * other side's blocks are probed one at a time as they are read; output comes in blocks of about
 * `targetBytes` (one probed chunk's rows would make many small files).
 */
export async function* joinSides(left: JoinInput, right: JoinInput, spec: JoinSpec, targetBytes: number): AsyncIterable<Block> {
  const buildSide: Side = right.rows <= left.rows ? "right" : "left";
  const [build, probe] = buildSide === "right" ? [right, left] : [left, right];
  const buildBlocks: Block[] = [];
  for await (const block of build.blocks()) buildBlocks.push(block);
  const buildSchema = buildBlocks.find((b) => b.numRows > 0)?.schema ?? build.schema ?? emptyBlock().schema;
  const probeBlocks = probe.blocks()[Symbol.asyncIterator]();
  let next = await probeBlocks.next();
  const join = new HashJoin(spec, concatBlocks([emptyBlock(buildSchema), ...buildBlocks]), buildSide, next.done ? probe.schema ?? emptyBlock().schema : next.value.schema);
  buildBlocks.length = 0;
  const pending: Block[] = [];
  let pendingBytes = 0;
  for (; !next.done; next = await probeBlocks.next()) {
    const out = join.probe(next.value);
    if (!out || out.numRows === 0) continue;
    pending.push(out);
    pendingBytes += blockBytes(out);
    if (pendingBytes >= targetBytes) {
      yield concatBlocks(pending.splice(0));
      pendingBytes = 0;
    }
  }
  const rest = join.finish();
  if (rest && rest.numRows > 0) pending.push(rest);
  if (pending.length > 0) yield concatBlocks(pending);
}
