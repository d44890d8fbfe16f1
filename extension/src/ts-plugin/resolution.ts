// The TypeScript server plugin's module resolution: a failed "rdpipe" lookup gets the declarations
// bundled with the extension; an installed rdpipe package (or a tsconfig path) always wins.
import path from "node:path";
import type * as ts from "typescript/lib/tsserverlibrary";

export const MODULE_NAME = "rdpipe";

/** The bundled declarations, relative to the plugin: <extension>/node_modules/<plugin>/index.js → <extension>/rdpipe/types. */
export function bundledTypesEntry(pluginDir: string): string {
  return path.join(pluginDir, "..", "..", "rdpipe", "types", "api", "index.d.ts");
}

function bundled(typesEntry: string): ts.ResolvedModuleFull {
  return { resolvedFileName: typesEntry, extension: ".d.ts" as ts.Extension, isExternalLibraryImport: true };
}

/** Wraps the host's module resolution (either API generation) so a failed "rdpipe" lookup gets the bundled declarations. */
export function addBundledResolution(host: ts.LanguageServiceHost, typesEntry: string): void {
  const literals = host.resolveModuleNameLiterals?.bind(host);
  if (literals) {
    host.resolveModuleNameLiterals = (moduleLiterals, ...rest) => literals(moduleLiterals, ...rest).map((resolution, i) =>
      resolution.resolvedModule || moduleLiterals[i].text !== MODULE_NAME ? resolution : { resolvedModule: bundled(typesEntry) });
    return;
  }
  const names = host.resolveModuleNames?.bind(host);
  if (names) {
    host.resolveModuleNames = (moduleNames, ...rest) => names(moduleNames, ...rest).map((resolution, i) =>
      resolution || moduleNames[i] !== MODULE_NAME ? resolution : bundled(typesEntry));
  }
}

