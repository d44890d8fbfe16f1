import { IoError } from "./errors";

/**
 * A native package loaded only where a pipeline uses it (the VS Code extension's bundled server does not
 * ship it); when it is missing, an error says which feature needs it and how to install it.
 */
export function optionalPackage<T>(load: () => T, name: string, version: string, feature: string): T {
  try {
    return load();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND" || !String((e as Error).message).includes(name)) throw e;
    throw new IoError(`${feature} need the npm package ${name} where rdpipe runs (npm install ${name}@${version})`, { cause: e });
  }
}
