// The three sentences of samples/embed-lance.rdpipe.ts's table nearest to a question (run that first).
import * as rd from "rdpipe";
import { embed } from "./hash-embedder";

export default rd
  .readLance("out/embeddings.lance", { nearest: { vector: embed("where did the cat sit"), k: 3 }, columns: ["id", "text"] });
