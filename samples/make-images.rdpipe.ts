// Generates images for samples/resize-images.rdpipe.ts: 24 colour gradients of a few sizes, as PNG files
// under samples/data/images, written from raw pixels with writeImages.
import * as rd from "rdpipe";

export default rd
  .range(24, { overrideNumBlocks: 4 })
  .map((row) => {
    const id = Number(row.id);
    const [height, width, channels] = [48 + (id % 3) * 16, 64 + (id % 4) * 8, 3];
    const image = new Uint8Array(height * width * channels);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = (y * width + x) * channels;
        image.set([(x * 255) / width, (y * 255) / height, (id * 10) % 256], at);
      }
    }
    return { image, height, width, channels };
  })
  .writeImages("data/images", { column: "image", format: "png", mode: "overwrite" });
