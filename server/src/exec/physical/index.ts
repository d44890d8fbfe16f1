// Physical operators of the streaming executor. Task operators (read, map, actor pool) run their work
// on workers; the others (limit, all-to-all, union, zip) are bookkeeping in the driver.
export { OperatorError, PhysicalOperator, type QueuedBlock, queued } from "./base";
export { TaskOperator } from "./task";
export { ActorPoolOperator, usesTaskSlot } from "./actor-pool";
export { LimitOperator } from "./limit";
export { ExchangeOperator, type ExchangeSettings } from "./exchange";
export { UnionOperator } from "./union";
export { ZipOperator } from "./zip";
export { BlockOrderOperator } from "./block-order";
