// A TypeScript server plugin (contributed through `typescriptServerPlugins`, staged as
// node_modules/rdpipe-typescript-plugin): where `import ... from "rdpipe"` resolves to nothing (no rdpipe
// package installed, no tsconfig path), it resolves to the API declarations bundled with the extension,
// so pipeline files type-check in the editor with no setup.
import type * as ts from "typescript/lib/tsserverlibrary";
import { MODULE_NAME, addBundledResolution, bundledTypesEntry } from "./resolution";

const init: ts.server.PluginModuleFactory = () => ({
  create(info) {
    addBundledResolution(info.languageServiceHost, bundledTypesEntry(__dirname));
    info.project.projectService.logger.info(`rdpipe plugin: "${MODULE_NAME}" falls back to ${bundledTypesEntry(__dirname)}`);
    return info.languageService;
  },
});

export = init;
