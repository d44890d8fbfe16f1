// Decimal columns as JS values: each value its exact decimal string ("-12.50"), as JS database drivers
// give NUMERIC; and back, from strings, numbers or bigints, to the column's precision and scale.
import { makeData, makeVector, type Data, type Decimal, type Vector } from "apache-arrow";

const TEN = 10n;

/** The unscaled value of row `i` of a Decimal chunk (two's complement, little-endian 32-bit words). */
function unscaledAt(data: Data<Decimal>, i: number): bigint {
  const words = data.type.bitWidth / 32;
  const values = data.values as Uint32Array;
  let value = 0n;
  for (let w = words - 1; w >= 0; w--) value = (value << 32n) | BigInt(values[i * words + w]);
  const bits = BigInt(data.type.bitWidth);
  return value >= 1n << (bits - 1n) ? value - (1n << bits) : value;
}

function decimalString(unscaled: bigint, scale: number): string {
  if (scale <= 0) return (unscaled * TEN ** BigInt(-scale)).toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** Rows `from`…`from + length` of a Decimal chunk as strings (null where null), written into `into` at `at`. */
export function decimalsInto(data: Data<Decimal>, into: unknown[], at: number, from = 0, length = data.length - from): void {
  const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
  for (let i = from; i < from + length; i++) {
    const bit = data.offset + i;
    into[at + i - from] = bitmap && (bitmap[bit >> 3] & (1 << (bit & 7))) === 0 ? null : decimalString(unscaledAt(data, i), data.type.scale);
  }
}

/** The unscaled value of a decimal string, rounded half away from zero to `scale` digits; undefined if it is not one. */
function parseDecimal(text: string, scale: number): bigint | undefined {
  const match = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) return undefined;
  const [, sign, whole, fraction = "", exponent = "0"] = match;
  // digits × 10^(exponent - fraction digits), scaled by 10^scale
  const shift = Number(exponent) - fraction.length + scale;
  let unscaled = BigInt(whole + fraction || "0");
  if (shift >= 0) {
    unscaled *= TEN ** BigInt(shift);
  } else {
    const divisor = TEN ** BigInt(-shift);
    const rest = unscaled % divisor;
    unscaled /= divisor;
    if (2n * rest >= divisor) unscaled += 1n;
  }
  return sign === "-" ? -unscaled : unscaled;
}

/** A Decimal column of `type` from JS values (decimal strings, numbers, bigints, null), or the first row whose value is none or does not fit. */
export function decimalVector(values: ArrayLike<unknown>, type: Decimal): { vector: Vector } | { badRow: number } {
  const words = type.bitWidth / 32;
  const data = new Uint32Array(values.length * words);
  const nullBitmap = new Uint8Array(((values.length + 63) & ~63) >> 3);
  const limit = TEN ** BigInt(type.precision);
  const bits = BigInt(type.bitWidth);
  let nullCount = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) { nullCount++; continue; }
    const text = typeof value === "number" ? (Number.isFinite(value) ? value.toFixed(Math.min(100, Math.max(0, type.scale + 2))) : "")
      : typeof value === "bigint" || typeof value === "string" ? String(value) : "";
    const unscaled = parseDecimal(text, type.scale);
    if (unscaled === undefined || unscaled <= -limit || unscaled >= limit) return { badRow: i };
    nullBitmap[i >> 3] |= 1 << (i & 7);
    let word = unscaled < 0n ? unscaled + (1n << bits) : unscaled;
    for (let w = 0; w < words; w++) { data[i * words + w] = Number(word & 0xffffffffn); word >>= 32n; }
  }
  return { vector: makeVector(makeData({ type, length: values.length, nullCount, nullBitmap: nullCount > 0 ? nullBitmap : undefined, data })) };
}
