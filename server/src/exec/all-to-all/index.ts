// The all-to-all operators' kernels: they run in the driver over their whole input.
export { mulberry32, repartitionBlocks, shuffleBlocks } from "./shuffle";
export { sortBlocks } from "./sort";
export { zipBlocks } from "./zip";
export { GroupAggregator } from "./group-aggregator";
export { compareScalars, countingSort, identityIndices, requireColumn } from "./rows";
