// The all-to-all operators' kernels: they run in the driver over their whole input.
export { repartitionBlocks, shuffleBlocks } from "./shuffle";
export { sortBlocks } from "./sort";
export { zipBlocks } from "./zip";
export { GroupAggregator } from "./group-aggregator";
export { compareScalars, requireColumn } from "./rows";
export { HashJoin, joinBlocks } from "./join";
