// Images through sharp (libvips): rd.readImages decodes one file into one row of raw pixels (`image`,
// height × width × channels bytes, row-major, interleaved) with `height`, `width` and `channels`, resized
// and converted on request; writeImages encodes each row of a block into its own file.
import { Binary, makeData, makeVector, type Vector } from "apache-arrow";
import { blockFromColumns, columnValues, emptyBlock, type Block } from "../block";
import { columnsToRead } from "./columns";
import { IoError, errorMessage, pathError } from "./errors";
import { optionalPackage } from "./optional";
import type { FileSystem } from "./fs";
import type { FileBlock, FileRef, FormatReadOptions, ImageFormat, ImageReadOptions, ImageWriteOptions } from "./types";

type Sharp = import("sharp").Sharp;
/** sharp, loaded where images are first read or written (its types are its ES module's, its default export the function). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sharp = (input?: Buffer, options?: import("sharp").SharpOptions): Sharp =>
  optionalPackage(() => require("sharp") as typeof import("sharp").default, "sharp", "0.35.6", "Images")(input, options);

export const IMAGE_COLUMNS = ["image", "height", "width", "channels"];

async function decoded(content: Buffer, { size, mode }: ImageReadOptions): Promise<Sharp> {
  let image = sharp(content);
  if (size) image = image.resize({ height: size[0], width: size[1], fit: "fill" });
  if (mode === "L") return image.grayscale();
  if (mode === "RGB") return image.removeAlpha().toColourspace("srgb");
  if (mode === "RGBA") return image.ensureAlpha().toColourspace("srgb");
  // sharp outputs sRGB unless told otherwise: a gray image keeps its one channel (two with alpha).
  const { channels = 3 } = await image.metadata();
  return channels <= 2 ? image.toColourspace("b-w") : image;
}

const int32 = (value: number): Vector => makeVector(Int32Array.of(value));

/** One row: the file's pixels. An undecodable file fails naming it, or with onError "skip" yields no rows and says why. */
export async function* readImageBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  columnsToRead(IMAGE_COLUMNS, options.columns, file.path, options.optionalColumns);
  const content = Buffer.from(await fs.readAll(file.path));
  let pixels: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    pixels = await (await decoded(content, options.image ?? {})).raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    const reason = `cannot decode the image: ${errorMessage(e)}`;
    if (options.image?.onError === "skip") { yield { block: emptyBlock(), rowOffset: 0, skipped: reason }; return; }
    throw new IoError(`${file.path}: ${reason}`, { cause: e });
  }
  const { data, info } = pixels;
  const image = makeVector(makeData({ type: new Binary(), length: 1, nullCount: 0, valueOffsets: new Int32Array([0, data.length]), data: new Uint8Array(data.buffer, data.byteOffset, data.length) }));
  yield { block: blockFromColumns({ image, height: int32(info.height), width: int32(info.width), channels: int32(info.channels) }), rowOffset: 0 };
}

/** A row's image encoded in the format: from raw pixels when the block gives their dimensions, else from encoded bytes. */
async function encoded(pixels: Uint8Array, dims: { height: number; width: number; channels: number } | undefined, format: ImageFormat): Promise<Buffer> {
  const bytes = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  if (dims && dims.height * dims.width * dims.channels !== bytes.length) {
    throw new Error(`it holds ${bytes.length} bytes, not height × width × channels = ${dims.height} × ${dims.width} × ${dims.channels}`);
  }
  const image = dims ? sharp(bytes, { raw: { height: dims.height, width: dims.width, channels: dims.channels as 1 | 2 | 3 | 4 } }) : sharp(bytes);
  // sharp writes sRGB unless told otherwise: gray pixels stay one channel.
  return (dims && dims.channels <= 2 ? image.toColourspace("b-w") : image).toFormat(format).toBuffer();
}

export const IMAGE_EXTENSIONS: Record<ImageFormat, string> = { png: ".png", jpeg: ".jpg", webp: ".webp", tiff: ".tiff" };

/** Each row's image in its own file `<baseName>_<row><extension>` in dir; the result names the block's first file. */
export async function writeImageFiles(block: Block, fs: FileSystem, dir: string, baseName: string, options: ImageWriteOptions): Promise<{ path: string; rows: number; bytes: number }> {
  const { column, format } = options;
  const values = (name: string) => (block.getChild(name) ? columnValues(block.getChild(name)!) : undefined);
  const images = values(column);
  if (!images) throw new IoError(`writeImages: the dataset has no column '${column}'; its columns are ${block.schema.fields.map((f) => `'${f.name}'`).join(", ")}`);
  const [heights, widths, channels] = ["height", "width", "channels"].map(values);
  let bytes = 0;
  let first = "";
  for (let row = 0; row < block.numRows; row++) {
    const file = fs.join(dir, `${baseName}_${row}${IMAGE_EXTENSIONS[format]}`);
    first ||= file;
    const pixels = images[row];
    if (!(pixels instanceof Uint8Array)) throw new IoError(`${file}: row ${row} of column '${column}' holds no image bytes (${pixels === null ? "null" : typeof pixels})`);
    const dims = heights && widths && channels ? { height: Number(heights[row]), width: Number(widths[row]), channels: Number(channels[row]) } : undefined;
    let content: Buffer;
    try {
      content = await encoded(pixels, dims, format);
    } catch (e) {
      throw new IoError(`${file}: encoding row ${row} of column '${column}' as ${format} failed: ${errorMessage(e)}`, { cause: e });
    }
    try {
      bytes += await fs.write(file, [content]);
    } catch (e) {
      throw pathError(file, e, "write failed");
    }
  }
  return { path: first || fs.join(dir, baseName), rows: block.numRows, bytes };
}
