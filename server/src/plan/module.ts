/** A bundled pipeline file: what the driver and every worker evaluate to get the same plan. */
export interface ModuleRef {
  /** Absolute path of the *.rdpipe.ts file. */
  filename: string;
  /** CommonJS code with an inline source map; `rdpipe` is left for the loader to provide. */
  code: string;
}
