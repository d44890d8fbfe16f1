// The rdpipe language server, for *.rdpipe.ts files beside the built-in TypeScript support. It never
// evaluates user code: the execution server inspects the plan in a job-runner child process (POST /plan:
// each operator's schema and why the engine would reject the plan), and the TypeScript compiler API
// finds the call that built each operator, so diagnostics, completions, hovers and CodeLens land on it.
import { fileURLToPath } from "node:url";
import {
  CompletionItemKind, DiagnosticSeverity, MarkupKind, TextDocumentSyncKind, TextDocuments,
  type CodeLens, type CompletionItem, type Connection, type Diagnostic, type Hover, type Range,
} from "vscode-languageserver";
import { TextDocument } from "vscode-languageserver-textdocument";
import { RemoteClient, RemoteError, type FieldInfo, type JobDetail, type PlanInspection, type PlanOperator } from "../../../server/src/contract";
import { jobSource } from "../bundled-cli";
import { latestJobOf } from "../jobs";
import { serverFetch } from "../server-fetch";
import { typedExprAt } from "./expr-syntax";
import { findOperatorCalls, matchOperatorsToCalls, type ColumnArgument, type OffsetRange, type OperatorCall } from "./operator-calls";
import { OPERATOR_DOCS } from "./operator-docs";
import { editorOperatorName, stageOfOperator, type LineOfOperator } from "./operator-names";

/** What the client passes in `initializationOptions`. */
export interface LanguageServerOptions {
  serverUrl: string;
  token?: string;
  /** For a remote server (which may not see this disk): the rdpipe CLI that compiles files into bundles to inspect. */
  bundleWith?: string;
  /** A remote server's CA file (`rdpipe.server.caFile`). */
  caFile?: string;
}

/** The argument of every CodeLens command. */
export interface OperatorCommandArgument { uri: string; operatorIndex: number }

export const PIPELINE_SUFFIX = ".rdpipe.ts";

/** The saved file's plan, or why it could not be inspected (`rejected`: the engine refused to load it). */
type PlanState = { inspection: PlanInspection } | { error: string; rejected: boolean };

const COLUMN_OPERATORS = new Set(["selectColumns", "dropColumns", "renameColumns", "withColumn", "filterExpr", "select"]);

/** A document's operator calls, each paired with its plan operator when the plan is known. */
interface Analysis {
  calls: OperatorCall[];
  operators: PlanOperator[];
  callOf: Map<number, OperatorCall>;
  operatorOf: Map<OperatorCall, PlanOperator>;
  lineOf: LineOfOperator;
  checkpointed: boolean;
}

function analyse(document: TextDocument, state: PlanState): Analysis {
  const calls = findOperatorCalls(fileURLToPath(document.uri), document.getText());
  const operators = "inspection" in state ? state.inspection.operators : [];
  const callOf = matchOperatorsToCalls(operators, calls);
  const operatorOf = new Map([...callOf].map(([index, call]) => [call, operators[index]]));
  const lineOf: LineOfOperator = (index) => {
    const call = callOf.get(index);
    return call && document.positionAt(call.nameRange.start).line + 1;
  };
  return { calls, operators, callOf, operatorOf, lineOf, checkpointed: "inspection" in state && state.inspection.checkpointed };
}

/** The schema flowing into a call: its operator's input in the plan, else (a call added since the save) its receiver's output. */
function inputSchemaOf(analysis: Analysis, call: OperatorCall): FieldInfo[] | null {
  const operator = analysis.operatorOf.get(call);
  if (operator) return analysis.operators[operator.inputs[0]]?.schema ?? null;
  return (call.receiver && analysis.operatorOf.get(call.receiver)?.schema) ?? null;
}

const contains = (range: OffsetRange, offset: number) => range.start <= offset && offset <= range.end;

/** The column name at an offset in an operator's arguments (a string, or `col("…")` in an expression), with its input's schema. */
function columnAt(analysis: Analysis, offset: number): { argument: ColumnArgument; schema: FieldInfo[] } | undefined {
  for (const call of analysis.calls) {
    const argument = COLUMN_OPERATORS.has(call.kind) ? call.columnArguments.find((a) => contains(a.range, offset)) : undefined;
    const schema = argument && inputSchemaOf(analysis, call);
    if (argument && schema) return { argument, schema };
  }
  return undefined;
}

/** The type of the expression under `offset` (the innermost one), as the engine typed it against the operator's input. */
function expressionHover(analysis: Analysis, offset: number): { value: string; range: OffsetRange } | undefined {
  for (const call of analysis.calls) {
    const operator = analysis.operatorOf.get(call);
    const found = call.expressions && operator?.expressions && typedExprAt(call.expressions, operator.expressions, offset);
    if (!found || !operator) continue;
    const { node, range } = found;
    const lines = [node.type !== undefined ? `\`${node.text}\`: **${node.type}**` : `\`${node.text}\`: ${node.error}`];
    const column = node.column === undefined ? undefined : operator.schema?.find((f) => f.name === node.column);
    if (column) lines.push(`Output column \`${column.name}\`: ${column.type}${column.nullable ? " (nullable)" : ""}`);
    return { value: lines.join("\n\n"), range };
  }
  return undefined;
}

export function startLanguageServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const plans = new Map<string, Promise<PlanState>>();
  let server: RemoteClient | undefined;
  let bundleWith: string | undefined;

  const toRange = (document: TextDocument, range: OffsetRange): Range => ({ start: document.positionAt(range.start), end: document.positionAt(range.end) });
  const fileStart: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

  async function inspect(uri: string): Promise<PlanState> {
    try {
      const source = await jobSource(fileURLToPath(uri), bundleWith);
      const { operators, problems, checkpointed } = await server!.request("POST", "/plan", "plan", { type: "inspectPlan", source });
      return { inspection: { operators, problems, checkpointed } };
    } catch (e) {
      return { error: (e as Error).message, rejected: e instanceof RemoteError && e.status === 422 };
    }
  }

  function diagnosticsOf(document: TextDocument, state: PlanState): Diagnostic[] {
    if (!("inspection" in state)) {
      return [{
        range: fileStart, source: "rdpipe", severity: state.rejected ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
        message: state.rejected ? state.error : `rdpipe could not inspect this pipeline: ${state.error}`,
      }];
    }
    const analysis = analyse(document, state);
    const rangeOfOperator = (index: number | null) => {
      const call = index === null ? undefined : analysis.callOf.get(index);
      return call ? toRange(document, call.range) : fileStart;
    };
    const diagnostics: Diagnostic[] = state.inspection.problems.map((problem) => ({
      range: rangeOfOperator(problem.operatorIndex), severity: DiagnosticSeverity.Error, source: "rdpipe", message: problem.message,
    }));
    for (const call of analysis.calls.filter((c) => COLUMN_OPERATORS.has(c.kind))) {
      const schema = inputSchemaOf(analysis, call);
      if (!schema) continue;
      const names = schema.map((field) => field.name);
      for (const argument of call.columnArguments.filter((a) => !names.includes(a.column))) {
        diagnostics.push({
          range: toRange(document, argument.range), severity: DiagnosticSeverity.Error, source: "rdpipe",
          message: `unknown column '${argument.column}': the input of ${call.method} has columns ${names.map((n) => `'${n}'`).join(", ")}`,
        });
      }
    }
    return diagnostics;
  }

  async function publish(document: TextDocument): Promise<void> {
    const state = await plans.get(document.uri);
    if (state && documents.get(document.uri) === document) await connection.sendDiagnostics({ uri: document.uri, diagnostics: diagnosticsOf(document, state) });
  }

  /** The open pipeline document at `uri` with its analysis, once its plan is known. */
  async function analysed(uri: string): Promise<{ document: TextDocument; analysis: Analysis } | undefined> {
    const document = documents.get(uri);
    const state = await plans.get(uri);
    return document && state ? { document, analysis: analyse(document, state) } : undefined;
  }

  async function lastRunText(uri: string, analysis: Analysis, index: number): Promise<string> {
    try {
      const last = await latestJobOf(server!, fileURLToPath(uri));
      if (!last) return "No run of this pipeline on the server yet.";
      const { job, progress }: JobDetail = await server!.request("GET", `/jobs/${last.id}`, "job");
      const found = stageOfOperator(progress?.operators ?? [], analysis.operators, index, analysis.lineOf);
      const rows = found ? `; this operator's stage (${found.name}) did ${found.stage.rowsDone} rows in ${found.stage.tasksDone} tasks` : "";
      const result = job.result ? `: ${job.result.rowsOut} rows out in ${(job.result.durationMs / 1000).toFixed(1)} s` : "";
      return `Last run: job ${job.id}, ${job.state}${result}${rows}.`;
    } catch (e) {
      return `Last run unknown: ${(e as Error).message}`;
    }
  }

  connection.onInitialize((params) => {
    const options = params.initializationOptions as LanguageServerOptions;
    server = new RemoteClient(options.serverUrl, options.token, serverFetch(options.caFile));
    bundleWith = options.bundleWith;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        completionProvider: { triggerCharacters: ["\"", "'", "`"] },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
      },
    };
  });

  const isPipeline = (uri: string) => uri.endsWith(PIPELINE_SUFFIX);
  // The plan is of the file as saved: inspected on open and on save. Opening also fires a content change, which publishes.
  documents.onDidOpen(({ document }) => { if (isPipeline(document.uri)) plans.set(document.uri, inspect(document.uri)); });
  documents.onDidSave(({ document }) => {
    if (!isPipeline(document.uri)) return;
    plans.set(document.uri, inspect(document.uri));
    void publish(document);
  });
  documents.onDidChangeContent(({ document }) => { if (plans.has(document.uri)) void publish(document); });
  documents.onDidClose(({ document }) => {
    if (plans.delete(document.uri)) void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onCompletion(async ({ textDocument, position }): Promise<CompletionItem[]> => {
    const found = await analysed(textDocument.uri);
    if (!found) return [];
    const offset = found.document.offsetAt(position);
    const call = found.analysis.calls.find((c) => COLUMN_OPERATORS.has(c.kind) && c.columnArguments.some((a) => contains(a.range, offset)));
    const schema = call && inputSchemaOf(found.analysis, call);
    return (schema ?? []).map((field) => ({ label: field.name, kind: CompletionItemKind.Field, detail: `${field.type}${field.nullable ? " (nullable)" : ""}` }));
  });

  connection.onHover(async ({ textDocument, position }): Promise<Hover | null> => {
    const found = await analysed(textDocument.uri);
    if (!found) return null;
    const offset = found.document.offsetAt(position);
    const column = columnAt(found.analysis, offset);
    if (column) {
      const field = column.schema.find((f) => f.name === column.argument.column);
      const value = field ? `\`${field.name}\`: ${field.type}${field.nullable ? " (nullable)" : ""}` : `unknown column \`${column.argument.column}\``;
      return { contents: { kind: MarkupKind.Markdown, value }, range: toRange(found.document, column.argument.range) };
    }
    const expression = expressionHover(found.analysis, offset);
    if (expression) return { contents: { kind: MarkupKind.Markdown, value: expression.value }, range: toRange(found.document, expression.range) };
    const call = found.analysis.calls.find((c) => contains(c.nameRange, offset));
    if (!call) return null;
    const operator = found.analysis.operatorOf.get(call);
    const name = operator ? editorOperatorName(found.analysis.operators, operator.index, found.analysis.lineOf) : call.method;
    const lines = [`**${name}** — ${OPERATOR_DOCS[call.kind]}`];
    if (operator?.schema) lines.push(`Output columns: ${operator.schema.map((f) => `\`${f.name}\`: ${f.type}`).join(", ")}`);
    else if (operator?.schemaError) lines.push(`Output schema unknown: ${operator.schemaError}`);
    if (operator) lines.push(await lastRunText(textDocument.uri, found.analysis, operator.index));
    return { contents: { kind: MarkupKind.Markdown, value: lines.join("\n\n") }, range: toRange(found.document, call.nameRange) };
  });

  connection.onCodeLens(async ({ textDocument }): Promise<CodeLens[]> => {
    const found = await analysed(textDocument.uri);
    if (!found) return [];
    const { operators, callOf, checkpointed } = found.analysis;
    const root = operators.length - 1;
    return [...callOf].flatMap(([operatorIndex, call]) => {
      const range = toRange(found.document, call.nameRange);
      const argument: OperatorCommandArgument = { uri: textDocument.uri, operatorIndex };
      const lens = (title: string, command: string): CodeLens => ({ range, command: { title, command, arguments: [argument] } });
      if (operatorIndex !== root) return [lens("Run to here", "rdpipe.runToHere")];
      return checkpointed
        ? [lens("Run", "rdpipe.run"), lens("Resume", "rdpipe.resume"), lens("Inspect checkpoint", "rdpipe.inspectCheckpoint")]
        : [lens("Run", "rdpipe.run")];
    });
  });

  documents.listen(connection);
  connection.listen();
}
