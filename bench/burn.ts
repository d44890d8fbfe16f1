// The CPU-bound per-row work of the scaling bench (shared by the pipeline file and the driver's check).
export const BURN_OPS = 2000;

export function burn(seed: number): number {
  let x = seed;
  for (let k = 0; k < BURN_OPS; k++) x = Math.sqrt(Math.abs(Math.sin(x + k)) + k);
  return x;
}
