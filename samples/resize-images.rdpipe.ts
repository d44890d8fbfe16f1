// Resizes a folder of images into 32×32 grayscale JPEG thumbnails. Make the images first:
// `npx rdpipe run samples/make-images.rdpipe.ts`, then `npx rdpipe run samples/resize-images.rdpipe.ts`.
import * as rd from "rdpipe";

export default rd
  .readImages("data/images", { size: [32, 32], mode: "L", onError: "skip" })
  .writeImages("out/thumbnails", { column: "image", format: "jpeg", mode: "overwrite" });
