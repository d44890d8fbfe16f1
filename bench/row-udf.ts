// The row UDF both the engine and the hand row loop run in the overhead bench.
export const addTotalRow = (r: Record<string, unknown>) => ({ ...r, total: (r.price as number) * (r.qty as number) });
