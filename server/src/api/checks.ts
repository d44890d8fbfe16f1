// Argument checks shared by Dataset methods: a bad value is named with the method it was passed to.
import type { ErrorPolicy } from "../plan";

export function checkSeed(method: string, seed: number | undefined): number | undefined {
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new RangeError(`${method}: seed must be a non-negative integer, got ${seed}`);
  return seed;
}

export function checkErrorPolicy<T extends ErrorPolicy>(method: string, options: T): T {
  if (options.onError !== undefined && options.onError !== "fail" && options.onError !== "skip") {
    throw new RangeError(`${method}: onError must be "fail" or "skip", got ${JSON.stringify(options.onError)}`);
  }
  const budget = options.maxErroredRows;
  if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) {
    throw new RangeError(`${method}: maxErroredRows must be a non-negative integer, got ${budget}`);
  }
  if (budget !== undefined && options.onError !== "skip") throw new RangeError(`${method}: maxErroredRows needs onError: "skip"`);
  return options;
}
