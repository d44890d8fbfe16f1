// A deterministic text embedder for the Lance samples: each word is hashed into one of DIMENSIONS
// buckets (signed), and the vector is normalized. No model, no network; similar wording, similar vectors.
export const DIMENSIONS = 64;

export function embed(text: string): number[] {
  const vector = new Array<number>(DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let hash = 2166136261;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 16777619);
    vector[(hash >>> 1) % DIMENSIONS] += hash & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((x) => x / norm);
}
