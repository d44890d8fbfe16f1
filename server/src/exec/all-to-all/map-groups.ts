// mapGroups' reduce side: a partition's rows put in group order once (typed key ids in order of first
// appearance, a stable counting sort, one gather of every column), then the UDF called on each group's
// run of rows as views of the gathered columns; its results gathered into blocks of the target size.
import { DataType, type Vector } from "apache-arrow";
import { type BatchFormat, type Block, type Columns, blockFromIPC, blockToIPC, blockToRows, columnArray, columnValues, concatBlocks, preview, scatterVector, sliceBlock, takeRows, takeVector } from "../../block";
import { TaskError, type TaskRun } from "../../cluster";
import type { UdfFunction } from "../../plan";
import { GroupOutputs } from "./group-output";
import { KeyTable } from "./key-table";
import { groupRows, identityIndices, requireColumn } from "./rows";

export interface MapGroupsSpec {
  keys: string[];
  batchFormat: BatchFormat;
  /** Names the operator in errors. */
  operator: string;
  /** Set when the read left out the columns the UDF's source does not read: those it reads. */
  udfReads?: string[];
}

/** Rows a "rows" batch format decodes at once (groups whole), which bounds the row objects alive. */
const ROW_WINDOW = 8192;

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";

/**
 * The output blocks, about `targetBytes` each, of `fn` called on every group of the rows of `blocks`
 * (which it empties: the rows are held once, in group order). Groups come in order of first appearance,
 * a group's rows in their input order.
 */
export async function* mapGroupBlocks(blocks: Block[], fn: UdfFunction, spec: MapGroupsSpec, run: TaskRun, targetBytes: number): AsyncIterable<Block> {
  const partition = groupedRows(blocks, spec);
  const { rows, order, starts } = partition;
  if (rows.numRows === 0) return;
  alive.rows = takeRows(rows, NO_ROWS);
  alive.decoded = blockFromIPC(blockToIPC(takeRows(rows, ONE_ROW)));
  const keyOf = (group: number) => describeKey(rows, spec.keys, order[starts[group]]);
  const outputs = new GroupOutputs(rows.schema, targetBytes, (group, message) =>
    new TaskError({ kind: "udf", operator: spec.operator, message: `${spec.operator}: the result for the group ${keyOf(group)}: ${message}` }));
  const calls: GroupCalls = {
    next: 0, groups: starts.length - 1, starts, batchOf: groupBatches(partition, spec.batchFormat, spec.udfReads && missingColumnGuard(spec.operator, spec.udfReads)), fn, outputs, run, pending: undefined,
    fail: (e, group) => groupFailure(spec.operator, e, keyOf(group), starts[group + 1] - starts[group]),
  };
  for (;;) {
    const out = callGroups(calls);
    if (calls.pending) {
      const group = calls.next - 1, started = performance.now();
      let result: unknown;
      try {
        result = await calls.pending;
      } catch (e) {
        throw calls.fail(e, group);
      } finally {
        calls.pending = undefined;
        run.udfMs += performance.now() - started;
      }
      const added = outputs.add(result, group);
      if (added && added.numRows > 0) yield added;
    } else if (out) yield out;
    else break;
  }
  const rest = outputs.take();
  if (rest && rest.numRows > 0) yield rest;
}

const NO_ROWS = new Uint32Array(0), ONE_ROW = new Uint32Array(1);
/**
 * Arrow's objects of the last partition's columns live on, for the optimized code that reads blocks (as
 * KeyTable.alive): copies of no rows (not slices: those would hold the rows), and of one row decoded
 * from IPC as the partition's chunks were (the objects of a decoded column differ: an empty validity
 * buffer). Each took a recompilation of the group loop per partition away.
 */
const alive: { rows?: Block; decoded?: Block } = {};

/** A partition's calls of the UDF, group by group: where they stand. */
interface GroupCalls {
  /** The group to call next. */
  next: number;
  groups: number;
  starts: Uint32Array;
  batchOf: (group: number) => unknown;
  fn: UdfFunction;
  outputs: GroupOutputs;
  run: TaskRun;
  /** The promise the call on group `next - 1` gave: its result is awaited, then added. */
  pending: PromiseLike<unknown> | undefined;
  fail: (e: unknown, group: number) => TaskError;
}

/**
 * Calls the UDF on the groups from `calls.next` on, adding their results, until a block of results is
 * ready (returned), a call gives a promise (left in `calls.pending`) or the groups end. A plain function
 * shared by all partitions rather than the generator's own loop: its optimized code serves every one.
 */
function callGroups(calls: GroupCalls): Block | undefined {
  const { starts, batchOf, fn, outputs, run, groups } = calls;
  while (calls.next < groups) {
    const group = calls.next++;
    if (starts[group + 1] === starts[group]) continue;
    const batch = batchOf(group);
    const started = performance.now();
    let result: unknown;
    try {
      result = fn(batch);
    } catch (e) {
      throw calls.fail(e, group);
    } finally {
      run.udfMs += performance.now() - started;
    }
    if (isThenable(result)) {
      calls.pending = result;
      return undefined;
    }
    const out = outputs.add(result, group);
    if (out && out.numRows > 0) return out;
  }
  return undefined;
}

/**
 * A partition's rows (as read) and their group order: group g is rows order[starts[g]]…order[starts[g + 1] - 1];
 * row r is at positions[r] in it.
 */
interface Grouped {
  rows: Block;
  order: Uint32Array;
  starts: Uint32Array;
  positions: Uint32Array;
}

function groupedRows(blocks: Block[], spec: MapGroupsSpec): Grouped {
  const rows = concatBlocks(blocks.splice(0));
  const vectors = spec.keys.map((key) => requireColumn(rows, key, spec.operator));
  if (rows.numRows === 0) return { rows, order: new Uint32Array(0), starts: new Uint32Array(1), positions: new Uint32Array(0) };
  const { ids, count } = groupIds(vectors, rows.numRows);
  const { sorted, starts, positions } = groupRows(ids, count);
  return { rows, order: sorted, starts, positions };
}

const isDictionary = (vector: Vector) => DataType.isDictionary(vector.type);

/** Each row's group: typed ids from a KeyTable for the key types it holds, else from a Map of the key values. */
function groupIds(vectors: Vector[], numRows: number): { ids: Uint32Array; count: number } {
  // Dictionary-encoded strings as plain ones (then every key column as one chunk, aligned as a KeyTable needs).
  const keys = vectors.some(isDictionary) ? vectors.map((v) => takeVector(v, identityIndices(numRows))) : vectors;
  const types = keys.map((v) => v.type);
  if (KeyTable.supports(types)) {
    const table = new KeyTable(types);
    const ids = table.ids(keys, numRows);
    return { ids, count: table.size };
  }
  const columns = keys.map(columnValues);
  const index = new Map<unknown, number>();
  const ids = new Uint32Array(numRows);
  for (let row = 0; row < numRows; row++) {
    const key = columns.length === 1 ? mapKey(columns[0][row]) : JSON.stringify(columns.map((c) => c[row]), keyJson);
    let id = index.get(key);
    if (id === undefined) index.set(key, (id = index.size));
    ids[row] = id;
  }
  return { ids, count: index.size };
}

/** JSON of key values that keeps bigints and NaN apart from strings and null. */
const keyJson = (_key: string, v: unknown) => (typeof v === "bigint" ? `${v}n` : typeof v === "number" && v !== v ? "\u0000NaN" : v);

/** Primitives are Map keys as they are (SameValueZero: NaN equals NaN); objects (binary, dates) by content. */
function mapKey(value: unknown): unknown {
  return typeof value !== "object" || value === null ? value : JSON.stringify(value, keyJson);
}

/** What the UDF gets for group g, in the batch format. */
function groupBatches(grouped: Grouped, format: BatchFormat, guard: object | undefined): (group: number) => unknown {
  const { rows, order, starts } = grouped;
  if (format === "columns") return columnsOfGroups(grouped, guard);
  const gathered = takeRows(rows, order);
  if (format === "arrow") return (g) => sliceBlock(gathered, starts[g], starts[g + 1]);
  let first = 0, end = 0, window: unknown[] = [];
  return (g) => {
    if (starts[g] < first || starts[g + 1] > end) {
      first = starts[g];
      let last = g + 1;
      while (last < starts.length - 1 && starts[last + 1] - first <= ROW_WINDOW) last++;
      end = starts[last];
      window = blockToRows(sliceBlock(gathered, first, end));
    }
    return window.slice(starts[g] - first, starts[g + 1] - first);
  };
}

type Slicer = (start: number, end: number) => unknown;
/** A typed array (subarray: a view) or a plain array (slice: a copy). */
type Sliceable = ArrayLike<unknown> & { subarray?: Slicer; slice?: Slicer };
type Define = (target: object, name: string, value: unknown) => unknown;

const define: Define = (target, name, value) => {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  return value;
};

/** Each group's own number and its partition, under symbols (no column name): where its getters find its rows. */
const GROUP = Symbol("rdpipe.group");
const PARTITION = Symbol("rdpipe.partition");

interface Partition { slicers: Slicer[]; starts: Uint32Array }
type GroupColumns = Columns & { [GROUP]: number; [PARTITION]: Partition };

/** Below this many rows per group, numbers without nulls are put in group order up front: a view per group costs less than a getter. */
const EAGER_ROWS_PER_GROUP = 32;

/**
 * Columns of a group, each gathered into group order for all groups on the first read of it by any
 * (a column the UDF never reads is never gathered): numbers without nulls as views (subarrays) of a
 * typed array, others as slices of the decoded values. Gathered columns are plain properties of the
 * groups after, the others getters until then (shared ones, defined on each group in column order).
 * With a guard, it is each group's prototype (see missingColumnGuard).
 */
function columnsOfGroups(grouped: Grouped, guard: object | undefined): (group: number) => Columns {
  const { rows, starts } = grouped;
  const names = rows.schema.fields.map((f) => f.name);
  const gathered: (Sliceable | undefined)[] = names.map(() => undefined);
  let version = 0;
  const gather = (c: number) => gathered[c] ??= (version++, columnArray(placed(rows.getChild(names[c])!, grouped)) as Sliceable);
  const slicers: Slicer[] = names.map((_, c) => (s, e) => {
    const values = gather(c);
    return values.subarray ? values.subarray(s, e) : values.slice!(s, e);
  });
  if (rows.numRows < EAGER_ROWS_PER_GROUP * (starts.length - 1)) {
    names.forEach((name, c) => { if (isNumbersWithoutNulls(rows.getChild(name)!)) gather(c); });
  }
  if (names.includes("__proto__")) {
    return (g) => {
      const columns: Columns = guard ? Object.create(guard) as Columns : {};
      names.forEach((name, c) => Object.defineProperty(columns, name, {
        enumerable: true, configurable: true,
        get: () => define(columns, name, slicers[c](starts[g], starts[g + 1])),
        set: (v: unknown) => define(columns, name, v),
      }));
      return columns;
    };
  }
  const partition: Partition = { slicers, starts };
  const getters = names.map(getterOf);
  // The group's object, its code built again only when a column was gathered: own enumerable properties in column order, as a plain record.
  // A gathered column's view is made in the group's code itself (a call site per column: V8 keeps each one monomorphic).
  const shape = () => {
    if (guard) return guardedShape(guard, names, gathered, getters);
    const steps = names.map((name, c) => {
      const key = JSON.stringify(name), values = gathered[c];
      if (!values) return `D(o, ${key}, p[${c}]);`;
      return `o[${key}] = a[${c}].${values.subarray ? "subarray" : "slice"}(s, e);`;
    });
    return shapeFunction(`const o = { [G]: g, [P]: q }; ${steps.join(" ")} return o;`, gathered, getters);
  };
  let make = shape(), madeAt = version;
  return (g) => {
    if (madeAt !== version) [make, madeAt] = [shape(), version];
    return make(gathered, getters, Object.defineProperty, GROUP, PARTITION, partition, starts[g], starts[g + 1], g);
  };
}

/**
 * The getter of column `c` named `name`, one per worker (the groups of every partition share it, and
 * so the shapes V8 gives them: code that reads their columns stays fast).
 */
const getters = new Map<string, PropertyDescriptor>();

function getterOf(name: string, c: number): PropertyDescriptor {
  const key = `${c}:${name}`;
  let getter = getters.get(key);
  if (getter) return getter;
  if (getters.size >= 1024) getters.clear();
  getter = {
    enumerable: true, configurable: true,
    get(this: GroupColumns) {
      const g = this[GROUP], { slicers, starts } = this[PARTITION];
      return define(this, name, slicers[c](starts[g], starts[g + 1]));
    },
    set(this: Columns, v: unknown) { define(this, name, v); },
  };
  getters.set(key, getter);
  return getter;
}

type MakeGroup = (a: (Sliceable | undefined)[], p: PropertyDescriptor[], D: typeof Object.defineProperty, G: symbol, P: symbol, q: Partition, s: number, e: number, g: number) => Columns;

/**
 * Made once per worker per shape: one function stays optimized across partitions (a new one starts
 * unoptimized each time). A group it made, of no rows, lives as long as the worker: V8 drops optimized
 * code that reads groups of a shape (the UDF's too) at a forced full collection that no group of that
 * shape survives (see KeyTable.alive).
 */
type Shapes = Map<string, { make: MakeGroup; alive: Columns }>;
const shapes: Shapes = new Map();

function shapeFunction(body: string, gathered: (Sliceable | undefined)[], getters: PropertyDescriptor[]): MakeGroup {
  return cachedShape(shapes, body, () => new Function("a", "p", "D", "G", "P", "q", "s", "e", "g", body) as MakeGroup, gathered, getters);
}

/** The maker of `body` from the cache, else built, kept (at most 256 per cache) with a group of it that lives on. */
function cachedShape(cache: Shapes, body: string, build: () => MakeGroup, gathered: (Sliceable | undefined)[], getters: PropertyDescriptor[]): MakeGroup {
  const shape = cache.get(body);
  if (shape) return shape.make;
  if (cache.size >= 256) cache.clear();
  const make = build();
  cache.set(body, { make, alive: emptyGroup(make, gathered, getters) });
  return make;
}

/** A group of no rows that `make` made: its arrays of the gathered ones' kinds, not views of them (those would hold the partition's rows). */
function emptyGroup(make: MakeGroup, gathered: (Sliceable | undefined)[], getters: PropertyDescriptor[]): Columns {
  const empty = gathered.map((values) => values && (values.subarray ? new (values.constructor as new (n: number) => Sliceable)(0) : []));
  return make(empty, getters, Object.defineProperty, GROUP, PARTITION, { slicers: [], starts: new Uint32Array(1) }, 0, 0, 0);
}

/** A column in group order: a number column of many chunks scattered chunk by chunk (not joined first). */
function placed(vector: Vector, { order, positions }: Grouped): Vector {
  if (vector.data.length < 2 || !isNumbersWithoutNulls(vector)) return takeVector(vector, order);
  return scatterVector(vector, positions) ?? takeVector(vector, order);
}

const guardedShapes = new WeakMap<object, Shapes>();

/**
 * shapeFunction's maker under a guard: groups of a class whose prototype's prototype is the guard, the
 * gathered columns its fields. A field is defined, not stored: a store of a new property would ask the
 * guard (a Proxy) for a setter, slowly, on every group. A group of each lives on, as shapes' do.
 */
function guardedShape(guard: object, names: string[], gathered: (Sliceable | undefined)[], getters: PropertyDescriptor[]): MakeGroup {
  const fields = names.flatMap((name, c) => {
    const values = gathered[c];
    return values ? [`[${JSON.stringify(name)}] = a[${c}].${values.subarray ? "subarray" : "slice"}(s, e);`] : [];
  });
  const defines = names.flatMap((name, c) => (gathered[c] ? [] : [`D(o, ${JSON.stringify(name)}, p[${c}]);`]));
  const body = `let a, q, s, e, g; class Group { [G] = g; [P] = q; ${fields.join(" ")} } Object.setPrototypeOf(Group.prototype, X);
    return (a_, p, D, G_, P_, q_, s_, e_, g_) => { a = a_; q = q_; s = s_; e = e_; g = g_; const o = new Group(); ${defines.join(" ")} return o; };`;
  let byBody = guardedShapes.get(guard);
  if (!byBody) guardedShapes.set(guard, (byBody = new Map()));
  return cachedShape(byBody, body, () => (new Function("G", "P", "X", body) as (G: symbol, P: symbol, X: object) => MakeGroup)(GROUP, PARTITION, guard), gathered, getters);
}

function isNumbersWithoutNulls(vector: Vector): boolean {
  return (DataType.isInt(vector.type) || (DataType.isFloat(vector.type) && vector.type.precision !== 0)) && vector.nullCount === 0;
}

/**
 * The prototype of the groups of a UDF whose read left out the columns its source does not read: a read
 * of any other name (the analysis missed a use of the group) fails naming it, instead of seeing undefined.
 * Own properties (the columns) never reach it, so the groups' own shapes and reads stay as fast.
 */
function missingColumnGuard(operator: string, reads: string[]): object {
  const key = JSON.stringify([operator, reads]);
  let guard = guards.get(key);
  if (!guard) {
    if (guards.size >= 256) guards.clear();
    guards.set(key, (guard = newGuard(operator, reads)));
  }
  return guard;
}

/** One guard per operator and its reads in a worker: the groups of all its partitions share their classes. */
const guards = new Map<string, object>();

function newGuard(operator: string, reads: string[]): object {
  const known = new Set(reads);
  const fn = /^\w+\((.*)\)$/.exec(operator)?.[1] ?? "the UDF";
  return new Proxy(Object.prototype, {
    get(target, key, receiver) {
      if (typeof key === "symbol" || key in target || known.has(key)) return Reflect.get(target, key, receiver) as unknown;
      throw new TaskError({
        kind: "udf", operator,
        message: `${operator}: column ${key} was left out of the read because ${fn}'s source reads only ${reads.join(", ") || "the group keys"}; ` +
          `${fn} reads ${key} in a way that analysis did not see: write it as a plain property read of ${fn}'s parameter (group.${key})`,
      });
    },
  });
}

/** A group's key for errors: `k = 5`, or `(a = 1, b = "x")`. */
function describeKey(rows: Block, keys: string[], row: number): string {
  if (keys.length === 0) return "of all rows";
  const parts = keys.map((key) => {
    const value: unknown = rows.getChild(key)!.get(row);
    const plain = typeof value === "bigint" && value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
    return `${key} = ${preview(plain ?? null, 100)}`;
  });
  return parts.length === 1 ? parts[0] : `(${parts.join(", ")})`;
}

function groupFailure(operator: string, e: unknown, key: string, rows: number): TaskError {
  if (e instanceof TaskError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  return new TaskError({
    kind: "udf", operator, stack: err.stack,
    message: `${operator} failed on the group ${key} (${rows} row${rows === 1 ? "" : "s"}): ${err.name}: ${err.message}`,
  });
}
