// rd.readImages and ds.writeImages with sharp on images the test generates (PNG and JPEG, RGB, RGBA and
// grayscale): decoding, resizing and mode conversion in worker threads, an undecodable file failing the
// read by name or skipped and recorded, and the sample pipelines that make and resize a folder of images.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import sharpModule from "sharp";
import * as rd from "../server/src/api";
import { optionalPackage } from "../server/src/io/optional";
import { copySamples, listFilesRecursive, runCli, tempDir } from "./helpers";

const sharp = sharpModule as unknown as typeof import("sharp").default;

interface Made { name: string; height: number; width: number; rgb: [number, number, number] }

/** Solid-colour images, so every pixel of a decoded, resized one is known. */
const IMAGES: (Made & { format: "png" | "jpeg"; channels: 3 | 4 | 1 })[] = [
  { name: "red.png", height: 10, width: 20, rgb: [255, 0, 0], format: "png", channels: 3 },
  { name: "green-alpha.png", height: 16, width: 16, rgb: [0, 255, 0], format: "png", channels: 4 },
  { name: "blue.jpg", height: 30, width: 24, rgb: [0, 0, 255], format: "jpeg", channels: 3 },
  { name: "gray.png", height: 7, width: 9, rgb: [128, 128, 128], format: "png", channels: 1 },
  { name: "nested/white.jpeg", height: 12, width: 12, rgb: [255, 255, 255], format: "jpeg", channels: 3 },
];

async function makeImages(dir: string): Promise<void> {
  for (const { name, height, width, rgb, format, channels } of IMAGES) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const [r, g, b] = rgb;
    let image = sharp({ create: { width, height, channels: channels === 4 ? 4 : 3, background: { r, g, b, alpha: 1 } } });
    if (channels === 1) image = image.toColourspace("b-w");
    await image.toFormat(format).toFile(file);
  }
}

type Row = Record<string, unknown>;
/** Rows by their file's path relative to dir. */
const byPath = (rows: Row[], dir: string) => new Map(rows.map((row) => [path.relative(dir, String(row.path)), row]));

describe("images: readImages and writeImages", function () {
  this.timeout(180_000);
  let dir: string;
  let good: string;
  let withBroken: string;
  before(async () => {
    dir = tempDir("rdpipe-images-");
    good = path.join(dir, "good");
    withBroken = path.join(dir, "broken");
    await makeImages(good);
    fs.cpSync(good, withBroken, { recursive: true });
    fs.writeFileSync(path.join(withBroken, "broken.png"), "this is no PNG");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("decodes and resizes to [height, width] in RGB: solid colours stay solid, with the file's path", async () => {
    const rows = await rd.readImages(good, { size: [8, 12], mode: "RGB", includePaths: true }).takeAll();
    const got = byPath(rows, good);
    assert.deepEqual([...got.keys()].sort(), IMAGES.map((i) => i.name).sort());
    for (const made of IMAGES) {
      const row = got.get(made.name)!;
      assert.deepEqual([row.height, row.width, row.channels], [8, 12, 3], made.name);
      const image = row.image as Uint8Array;
      assert.equal(image.length, 8 * 12 * 3);
      // JPEG is lossy: a few levels off at most.
      const tolerance = made.name.endsWith("png") ? 0 : 4;
      for (let i = 0; i < image.length; i++) {
        assert.ok(Math.abs(image[i] - made.rgb[i % 3]) <= tolerance, `${made.name}: byte ${i} is ${image[i]}, expected ${made.rgb[i % 3]}`);
      }
    }
  });

  it("keeps each image's own size and channels without options, and converts to one channel with mode L", async () => {
    const native = byPath(await rd.readImages(good, { includePaths: true }).takeAll(), good);
    for (const made of IMAGES) {
      const row = native.get(made.name)!;
      assert.deepEqual([row.height, row.width, row.channels], [made.height, made.width, made.channels], made.name);
      assert.equal((row.image as Uint8Array).length, made.height * made.width * made.channels);
    }
    const gray = await rd.readImages(good, { size: [5, 5], mode: "L" }).takeAll();
    assert.equal(gray.length, IMAGES.length);
    for (const row of gray) {
      assert.deepEqual([row.height, row.width, row.channels], [5, 5, 1]);
      const image = row.image as Uint8Array;
      assert.equal(image.length, 25);
      assert.ok(image.every((v) => Math.abs(v - image[0]) <= 4), `a solid image is one gray: ${[...image]}`);
    }
    const white = byPath(await rd.readImages(good, { mode: "L", includePaths: true }).takeAll(), good).get("nested/white.jpeg")!;
    assert.ok((white.image as Uint8Array).every((v) => v >= 250));
  });

  it("fails naming an undecodable file", async () => {
    await assert.rejects(rd.readImages(withBroken).takeAll(), /broken\.png: cannot decode the image: .*unsupported image format/);
  });

  it("with onError: \"skip\" leaves an undecodable file out and records it as an errored row naming it", async () => {
    const ds = rd.readImages(withBroken, { size: [4, 4], onError: "skip" });
    const rows = await ds.takeAll();
    assert.equal(rows.length, IMAGES.length);
    const result = ds.lastRun()!;
    assert.equal(result.erroredRows.length, 1);
    assert.match(result.erroredRows[0].file!, /broken\.png$/);
    assert.match(result.erroredRows[0].error, /broken\.png: cannot decode the image/);
    assert.equal(result.progress.erroredRows, 1);
  });

  it("writes each row as its own image file: PNG exactly the pixels read, JPEG of the right size", async () => {
    const out = path.join(dir, "out-png");
    const read = rd.readImages(good, { size: [6, 10], mode: "RGB" });
    const result = await read.writeImages(out, { column: "image", format: "png" }).run();
    assert.equal(result.rowsOut, IMAGES.length);
    const files = listFilesRecursive(out);
    assert.equal(files.length, IMAGES.length);
    assert.ok(files.every((f) => f.endsWith(".png")), files.join(", "));
    const written = await Promise.all(files.map((f) => sharp(f).raw().toBuffer({ resolveWithObject: true })));
    const readBack = (await read.takeAll()).map((row) => Buffer.from(row.image as Uint8Array).toString("hex")).sort();
    assert.deepEqual(written.map(({ data }) => data.toString("hex")).sort(), readBack);
    assert.ok(written.every(({ info }) => info.width === 10 && info.height === 6 && info.channels === 3));

    const jpegOut = path.join(dir, "out-jpeg");
    await rd.readImages(good, { mode: "L" }).writeImages(jpegOut, { column: "image", format: "jpeg" }).run();
    const jpegs = listFilesRecursive(jpegOut);
    assert.equal(jpegs.length, IMAGES.length);
    const sizes = (await Promise.all(jpegs.map((f) => sharp(f).metadata()))).map((m) => `${m.format} ${m.height}x${m.width}`).sort();
    assert.deepEqual(sizes, IMAGES.map((i) => `jpeg ${i.height}x${i.width}`).sort());
  });

  it("refuses a write whose column holds no images, naming the column", async () => {
    await assert.rejects(rd.range(3).writeImages(path.join(dir, "nope"), { column: "pixels", format: "png" }).run(), /writeImages: the dataset has no column 'pixels'; its columns are 'id'/);
    assert.throws(() => rd.range(3).writeImages(dir, { column: "id", format: "gif" as "png" }), /writeImages: format must be one of png, jpeg, webp, tiff, got "gif"/);
    assert.throws(() => rd.readImages(dir, { size: [0, 3] }), /readImages: size must be \[height, width\] in pixels, got \[0,3\]/);
  });

  it("runs the samples: make-images writes a folder of PNGs, resize-images makes 32×32 grayscale thumbnails of them", async () => {
    const samples = copySamples();
    try {
      const made = runCli(["run", path.join(samples, "make-images.rdpipe.ts"), "--quiet"]);
      assert.equal(made.code, 0, made.stderr);
      const images = listFilesRecursive(path.join(samples, "data", "images"));
      assert.equal(images.length, 24);
      const resized = runCli(["run", path.join(samples, "resize-images.rdpipe.ts"), "--quiet"]);
      assert.equal(resized.code, 0, resized.stderr);
      const thumbnails = listFilesRecursive(path.join(samples, "out", "thumbnails"));
      assert.equal(thumbnails.length, 24);
      for (const file of thumbnails) {
        const meta = await sharp(file).metadata();
        assert.deepEqual([meta.format, meta.height, meta.width, meta.channels], ["jpeg", 32, 32, 1], file);
      }
    } finally {
      fs.rmSync(samples, { recursive: true, force: true });
    }
  });
});

describe("optional native packages", () => {
  it("a missing one fails naming the feature and the install command", () => {
    assert.throws(() => optionalPackage(() => require("rdpipe-no-such-package"), "rdpipe-no-such-package", "1.2.3", "Widgets"),
      /Widgets need the npm package rdpipe-no-such-package where rdpipe runs \(npm install rdpipe-no-such-package@1\.2\.3\)/);
  });
});
