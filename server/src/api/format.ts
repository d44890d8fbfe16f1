// Rows as `show()` prints them: strings quoted, bigints with n, bytes as a count.
import type { Row } from "../block";

export function formatRow(row: Row): string {
  return `{${Object.entries(row).map(([k, v]) => `${k}: ${formatValue(v)}`).join(", ")}}`;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value && typeof value === "object") return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v));
  return String(value);
}
