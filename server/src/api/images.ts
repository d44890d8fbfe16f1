// The checks behind rd.readImages and ds.writeImages: options are plain data that travel to workers, so
// a mistake is named here, when the pipeline is built.
import type { ImageReadOptions, ImageWriteOptions } from "../io";

const MODES = ["RGB", "RGBA", "L"];
const FORMATS = ["png", "jpeg", "webp", "tiff"];

export function checkImageReadOptions({ size, mode, onError }: ImageReadOptions): ImageReadOptions {
  if (size !== undefined && !(Array.isArray(size) && size.length === 2 && size.every((n) => Number.isInteger(n) && n > 0))) {
    throw new RangeError(`readImages: size must be [height, width] in pixels, got ${JSON.stringify(size)}`);
  }
  if (mode !== undefined && !MODES.includes(mode)) throw new RangeError(`readImages: mode must be one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  if (onError !== undefined && onError !== "fail" && onError !== "skip") throw new RangeError(`readImages: onError must be "fail" or "skip", got ${JSON.stringify(onError)}`);
  return { size, mode, onError };
}

export function checkImageWriteOptions({ column, format }: ImageWriteOptions): ImageWriteOptions {
  if (typeof column !== "string" || column === "") throw new TypeError(`writeImages: column must name the column of images, got ${JSON.stringify(column)}`);
  if (!FORMATS.includes(format)) throw new RangeError(`writeImages: format must be one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  return { column, format };
}
