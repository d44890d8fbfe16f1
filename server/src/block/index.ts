// Blocks: Apache Arrow tables, the unit of data between operators, tasks and workers.
export * from "./arrow";
export { ScratchBytes, SharedBytes, freeBytes, transferable, withBlockIPC } from "./buffers";
export { ColumnViews, blockToColumns, columnArray } from "./columns";
export { blockFromRows, blockToRows } from "./rows";
export { utf8Vector } from "./utf8";
export { concatBlocks } from "./concat";
export { joinBatches } from "./join";
export { placeRows, scatterVector, takeRows, takeVector, validity } from "./take";
export { anySeed, hashText, mix32, permutation, seededRandom } from "./random";
export { SchemaMismatch, compatibleSchemas, conformBlock, refineSchema, sameSchema, schemaDifference } from "./conform";
