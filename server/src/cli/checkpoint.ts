// `rdpipe checkpoint show PATH [--json]`: what a job-level checkpoint holds, local or on S3.
import path from "node:path";
import { CheckpointReader, type ErroredRow } from "../checkpoint";
import { formatCount as n } from "../exec";

/** Lines of a list shown in text form; --json shows all. */
const TEXT_LIST_LIMIT = 50;

const toJson = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2);

/** Prints the checkpoint at `location` (a folder or s3:// URL); 1 when there is none or it cannot be read. */
export async function showCheckpoint(location: string, asJson: boolean): Promise<number> {
  const root = location.startsWith("s3://") ? location : path.resolve(location);
  let report: Awaited<ReturnType<typeof readCheckpoint>>;
  try {
    report = await readCheckpoint(root);
  } catch (e) {
    console.error(`rdpipe: cannot show the checkpoint at ${root}: ${(e as Error).message}`);
    return 1;
  }
  if (asJson) {
    console.log(toJson(report));
    return 0;
  }
  const { manifest, attempts, committedIds, committedFiles, doneInputFiles, erroredRows, damagedRecords } = report;
  const lines = [`Checkpoint ${root}`];
  if (manifest) lines.push(`  job: ID column '${manifest.idColumn}', writes ${manifest.output.format} to ${manifest.output.path} (created ${manifest.createdAt})`);
  lines.push(`  attempts: ${attempts.length}${attempts.length ? ` (${attempts.join(", ")})` : ""}`);
  lines.push(`  committed IDs: ${n(committedIds)}`);
  lines.push(`  committed files: ${n(committedFiles.length)}`);
  lines.push(...limited(committedFiles.map((f) => `    ${f.output}  ${n(f.ids)} IDs`)));
  if (damagedRecords.length > 0) {
    lines.push(`  damaged commit records: ${n(damagedRecords.length)} (a resume that needs their IDs removes them with their output files and writes their rows again; one of a task that consumed all its input files is not needed: its output file is complete and its inputs are done)`);
    lines.push(...limited(damagedRecords.map((d) => `    ${d.record}: ${d.error}`)));
  }
  lines.push(`  done input files: ${n(doneInputFiles.length)}`);
  lines.push(`  errored rows: ${n(erroredRows.length)}${erroredRows.length ? " (a resume processes exactly these)" : ""}`);
  lines.push(...limited(erroredRows.map((r) => `    id ${String(r.id)}  ${r.operator}  ${r.file ?? "(no file)"}${r.row !== undefined ? ` row ${r.row}` : ""}: ${udfMessage(r)}`)));
  console.log(lines.join("\n"));
  return 0;
}

/** The UDF's own error, without the "OPERATOR failed on row R of FILE: " prefix the line already shows. */
function udfMessage(row: ErroredRow): string {
  const marker = row.file && row.error.startsWith(`${row.operator} failed on `) ? row.error.indexOf(`${row.file}: `) : -1;
  return marker < 0 ? row.error : row.error.slice(marker + row.file!.length + 2);
}

async function readCheckpoint(root: string) {
  const reader = await CheckpointReader.open(root);
  const { manifest, attempts, committedIds, committedFiles, damagedRecords } = await reader.summary();
  const doneInputFiles = (await reader.doneFiles()).map((f) => f.path).sort();
  return { path: root, manifest, attempts, committedIds, committedFiles, damagedRecords, doneInputFiles, erroredRows: await reader.erroredRows() };
}

function limited(lines: string[]): string[] {
  if (lines.length <= TEXT_LIST_LIMIT) return lines;
  return [...lines.slice(0, TEXT_LIST_LIMIT), `    … ${n(lines.length - TEXT_LIST_LIMIT)} more (--json lists all)`];
}
