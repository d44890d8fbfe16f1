// Kernels over whole blocks: sort, shuffle, zip, group aggregation, mapGroups (the exchange's reducers and the driver's zip use them).
export { mulberry32, repartitionBlocks, shuffleBlocks } from "./shuffle";
export { sortBlocks, sortedPieces } from "./sort";
export { zipBlocks } from "./zip";
export { GroupAggregator } from "./group-aggregator";
export { mapGroupBlocks } from "./map-groups";
export { compareScalars, groupRows, requireColumn } from "./rows";
export { HashJoin, joinSides, type JoinInput } from "./join";
