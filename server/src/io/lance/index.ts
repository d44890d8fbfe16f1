export { LanceDatasource, readLance, type LanceNearest, type LanceReadInput, type LanceSource } from "./datasource";
export { LanceDatasink, lanceOutput, type LanceOutput, type LanceWriteMode, type LanceWriteOptions } from "./sink";
export { lanceLocation } from "./table";
