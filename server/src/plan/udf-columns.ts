// Which columns a UDF reads, from its source text: the property names it reads from its first parameter,
// when every use of that parameter (and of const aliases of it) is a static property read. Anything the
// analysis does not follow (the parameter passed on, returned, spread, enumerated, read by a computed key,
// rebound, a name declared twice, `arguments`, `eval`, `with`, source that does not parse) gives
// undefined: the UDF may read any column. Conservative by design: undefined is always safe. Also the
// columns its result has when every value it returns is an object literal with fixed keys (a result
// column named like an input column takes that column's type, so the read keeps such a column).
import type * as Acorn from "acorn";
import type { UdfFunction } from "./logical";

/** An ESTree node as acorn gives it, looked at generically. */
interface Node { type: string; [key: string]: unknown }

export interface UdfColumns {
  /** The property names it reads from its first parameter, in order of first use. */
  reads: readonly string[];
  /** Its result's column names, when every value it returns is an object literal with fixed keys. */
  returns?: readonly string[];
}

const inferred = new WeakMap<UdfFunction, UdfColumns | undefined>();

/** What `fn` (for a class, its `call` method) reads from its first parameter; undefined when it may read any. */
export function udfColumns(fn: UdfFunction): UdfColumns | undefined {
  if (inferred.has(fn)) return inferred.get(fn);
  let columns: UdfColumns | undefined;
  try {
    const node = sloppy(fn) ? undefined : functionNode(fn);
    const reads = node && parameterReads(node);
    columns = reads && { reads, ...returnedKeys(node!) };
  } catch {
    columns = undefined;
  }
  inferred.set(fn, columns);
  return columns;
}

/** The keys of the object literals the function returns (not its nested functions'); none when any return is something else. */
function returnedKeys(fn: Node): { returns?: string[] } {
  if (fn.generator) return {};
  const values: Node[] = [];
  if (fn.expression) values.push(fn.body as Node);
  else {
    const visit = (node: Node) => {
      if (node.type === "ReturnStatement") values.push(node.argument as Node ?? { type: "Identifier", name: "undefined" });
      if (/Function|Class/.test(node.type)) return;
      for (const key in node) {
        const child = node[key];
        for (const c of Array.isArray(child) ? child : [child]) if (isNode(c)) visit(c);
      }
    };
    for (const statement of (fn.body as Node).body as Node[]) visit(statement);
  }
  const keys: string[] = [];
  const literal = (value: Node): boolean => {
    if (value.type === "ConditionalExpression") return literal(value.consequent as Node) && literal(value.alternate as Node);
    if (value.type !== "ObjectExpression") return false;
    return (value.properties as Node[]).every((p) => {
      const key = p.type === "Property" && p.kind === "init" ? (p.computed ? literalKey(p.key as Node) : keyName(p.key as Node)) : undefined;
      if (key !== undefined) keys.push(key);
      return key !== undefined;
    });
  };
  return values.length > 0 && values.every(literal) ? { returns: [...new Set(keys)] } : {};
}

/** A sloppy-mode function's arguments are readable as `fn.arguments` while it runs, by it or by anything it calls. */
const sloppy = (fn: UdfFunction) => Object.prototype.hasOwnProperty.call(fn, "arguments");

const sourceOf = (fn: UdfFunction) => Function.prototype.toString.call(fn);

function functionNode(fn: UdfFunction): Node | undefined {
  const source = sourceOf(fn);
  const expression = parseExpression(`(${source})`) ?? parseExpression(`({${source}})`);
  if (!expression) return undefined;
  if (expression.type === "FunctionExpression" || expression.type === "ArrowFunctionExpression") return expression;
  if (expression.type === "ClassExpression") {
    const call = classCall(fn, source, expression);
    return call && functionNode(call);
  }
  // A method's own text (`name(p) { … }`), wrapped as an object literal.
  if (expression.type === "ObjectExpression") {
    const [only] = expression.properties as Node[];
    return (expression.properties as Node[]).length === 1 && only.type === "Property" && only.method ? only.value as Node : undefined;
  }
  return undefined;
}

function parseExpression(text: string): Node | undefined {
  try {
    // Loaded here: a worker thread, which never infers columns, spends nothing on it.
    const program = (require("acorn") as typeof Acorn).parse(text, { ecmaVersion: "latest" }) as unknown as Node;
    const body = program.body as Node[];
    return body.length === 1 && body[0].type === "ExpressionStatement" ? body[0].expression as Node : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A class's `call` as it is at run time (its prototype's), when nothing else can be what `instance.call`
 * is: no superclass, one member named call (a method), `this` used only as `this.name` with name not
 * "call", and every method of its prototype one the class's text defines (none patched in after).
 */
function classCall(cls: UdfFunction, source: string, node: Node): UdfFunction | undefined {
  if (node.superClass) return undefined;
  const members = (node.body as Node).body as Node[];
  // A constructor may return another object, whose call is then what runs.
  if (members.some((m) => m.type === "MethodDefinition" && m.kind === "constructor")) return undefined;
  const named = members.filter((m) => m.computed || keyName(m.key as Node) === "call");
  if (named.length !== 1 || named[0].type !== "MethodDefinition" || named[0].kind !== "method" || named[0].static) return undefined;
  let thisEscapes = false;
  walk(node, (n, parent) => {
    if (n.type !== "ThisExpression") return;
    const member = parent?.type === "MemberExpression" && parent.object === n;
    if (!member || parent.computed || keyName(parent.property as Node) === "call") thisEscapes = true;
  });
  const proto = (cls as { prototype?: object }).prototype;
  if (thisEscapes || !proto || Object.getPrototypeOf(proto) !== Object.prototype) return undefined;
  for (const key of Reflect.ownKeys(proto)) {
    const value: unknown = Object.getOwnPropertyDescriptor(proto, key)!.value;
    if (key !== "constructor" && (typeof value !== "function" || !source.includes(sourceOf(value)))) return undefined;
  }
  const call: unknown = Object.getOwnPropertyDescriptor(proto, "call")?.value;
  return typeof call === "function" && !sloppy(call as UdfFunction) ? call as UdfFunction : undefined;
}

class Escape extends Error {}

/** The keys read from the function's first parameter; undefined when it escapes the analysis. */
function parameterReads(fn: Node): readonly string[] | undefined {
  const params = fn.params as Node[];
  const bindings = bindingIdentifiers(fn);
  const declared = new Map<string, number>();
  for (const id of bindings) declared.set(id.name as string, (declared.get(id.name as string) ?? 0) + 1);
  try {
    walk(fn, (node, parent) => {
      if (node.type === "WithStatement") throw new Escape();
      if (node.type === "Identifier" && isReference(node, parent, bindings) && (node.name === "arguments" || node.name === "eval")) throw new Escape();
    });
    if (params.length === 0) return [];
    const first = params[0];
    const columns: string[] = [];
    if (first.type === "ObjectPattern") { patternKeys(first, columns); return [...new Set(columns)]; }
    if (first.type !== "Identifier") return undefined;
    const aliases = new Set([first.name as string]);
    // Aliases are found before the uses they serve (a closure may use one declared later in the text).
    for (let size = 0; size !== aliases.size;) {
      size = aliases.size;
      columns.length = 0;
      walk(fn, (node, parent, grandparent) => {
        if (node.type === "Identifier" && aliases.has(node.name as string) && isReference(node, parent, bindings)) {
          use(node, parent!, grandparent, columns, aliases);
        }
      });
    }
    // Bail rather than resolve scopes: each tracked name is declared exactly once.
    for (const name of aliases) if (declared.get(name) !== 1) return undefined;
    return [...new Set(columns)];
  } catch (e) {
    if (e instanceof Escape) return undefined;
    throw e;
  }
}

/** One use of the parameter or an alias: a static property read, or a const alias, or an escape. */
function use(node: Node, parent: Node, grandparent: Node | undefined, columns: string[], aliases: Set<string>): void {
  if (parent.type === "MemberExpression" && parent.object === node) {
    const key = parent.computed ? literalKey(parent.property as Node) : keyName(parent.property as Node);
    if (key === undefined || isInherited(key)) throw new Escape();
    // `p.f()` calls with p as `this`.
    const called = (grandparent?.type === "CallExpression" || grandparent?.type === "NewExpression") && grandparent.callee === parent;
    if (called || (grandparent?.type === "TaggedTemplateExpression" && grandparent.tag === parent)) throw new Escape();
    columns.push(key);
    return;
  }
  if (parent.type === "VariableDeclarator" && parent.init === node && grandparent?.type === "VariableDeclaration" && grandparent.kind === "const") {
    const id = parent.id as Node;
    if (id.type === "Identifier") { aliases.add(id.name as string); return; }
    if (id.type === "ObjectPattern") { patternKeys(id, columns); return; }
  }
  throw new Escape();
}

/** The keys a destructuring `{ a, b: c }` reads; an escape for rest elements, computed keys and defaults. */
function patternKeys(pattern: Node, columns: string[]): void {
  for (const property of pattern.properties as Node[]) {
    if (property.type !== "Property" || property.computed || (property.value as Node).type === "AssignmentPattern") throw new Escape();
    const key = keyName(property.key as Node);
    if (key === undefined || isInherited(key)) throw new Escape();
    columns.push(key);
  }
}

/** A name Object.prototype has (toString, constructor, __proto__…): not a column read. */
const isInherited = (key: string) => key in Object.prototype;

const keyName = (key: Node): string | undefined =>
  key.type === "Identifier" ? key.name as string : key.type === "Literal" && typeof key.value === "string" ? key.value : undefined;

const literalKey = (key: Node): string | undefined => (key.type === "Literal" && typeof key.value === "string" ? key.value : undefined);

/** Identifiers an expression reads: not declarations, property names, labels. */
function isReference(node: Node, parent: Node | undefined, bindings: Set<Node>): boolean {
  if (bindings.has(node)) return false;
  if (!parent) return true;
  switch (parent.type) {
    case "MemberExpression": return parent.object === node || Boolean(parent.computed);
    case "Property": case "MethodDefinition": case "PropertyDefinition": return parent.value === node || Boolean(parent.computed);
    case "LabeledStatement": case "BreakStatement": case "ContinueStatement": case "MetaProperty": return false;
    default: return true;
  }
}

/** Every identifier that declares a name in the function: parameters, variables, functions, classes, catch parameters. */
function bindingIdentifiers(fn: Node): Set<Node> {
  const found = new Set<Node>();
  const pattern = (p: Node | null | undefined): void => {
    if (!p) return;
    switch (p.type) {
      case "Identifier": found.add(p); break;
      case "ObjectPattern": for (const prop of p.properties as Node[]) pattern(prop.type === "RestElement" ? prop : prop.value as Node); break;
      case "ArrayPattern": for (const element of p.elements as (Node | null)[]) pattern(element); break;
      case "AssignmentPattern": pattern(p.left as Node); break;
      case "RestElement": pattern(p.argument as Node); break;
    }
  };
  walk(fn, (node) => {
    switch (node.type) {
      case "FunctionDeclaration": case "FunctionExpression": case "ArrowFunctionExpression":
        pattern(node.id as Node | null);
        for (const param of node.params as Node[]) pattern(param);
        break;
      case "ClassDeclaration": case "ClassExpression": pattern(node.id as Node | null); break;
      case "VariableDeclarator": pattern(node.id as Node); break;
      case "CatchClause": pattern(node.param as Node | null); break;
    }
  });
  return found;
}

/** Visits every node with its parent and grandparent. */
function walk(root: Node, visit: (node: Node, parent: Node | undefined, grandparent: Node | undefined) => void): void {
  const go = (node: Node, parent: Node | undefined, grandparent: Node | undefined) => {
    visit(node, parent, grandparent);
    for (const key in node) {
      if (key === "type" || key === "start" || key === "end") continue;
      const child = node[key];
      if (Array.isArray(child)) { for (const c of child) if (isNode(c)) go(c, node, parent); }
      else if (isNode(child)) go(child, node, parent);
    }
  };
  go(root, undefined, undefined);
}

const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && typeof (value as Node).type === "string";
