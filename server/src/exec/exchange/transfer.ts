// Where a reduce task's pieces come from: this process (inline bytes, or a spill file here), or, on a
// cluster, the node holding them — fetched straight from its chunk server (cluster/chunks.ts), never
// through the driver, and cut there to the rows this partition reads (a ranged get): a sorted chunk
// that spans several partitions moves once in all, a share to each. A peer that cannot answer fails
// the task as lost, not as wrong: the executor reruns what the peer held and then the task.
import { type Block, blockFromIPC } from "../../block";
import { ChunkFetcher, TaskError } from "../../cluster";
import type { ChunkCut, ExchangeReduceSpec, ReducePiece } from "../../plan";
import { cutBlock, pieceCut } from "./cut";
import { chunkBytes } from "./spill";

export class PieceReader {
  private fetcher?: ChunkFetcher;

  /** moved: told the bytes of each piece fetched from another node. */
  constructor(private readonly spec: ExchangeReduceSpec, private readonly moved?: (bytes: number) => void) {}

  /** A piece's rows: of its chunk, those in [start, end) and in the partition's key range. */
  async read(piece: ReducePiece): Promise<Block> {
    const { fetch, operator } = this.spec;
    const cut = pieceCut(piece, this.spec.range, operator);
    const { chunk } = piece;
    if (chunk.node === undefined || (chunk.node === fetch?.here && chunk.file !== undefined)) {
      const block = blockFromIPC(chunkBytes(chunk));
      return cut ? cutBlock(block, cut) : block;
    }
    return blockFromIPC(await this.fetch(piece, cut));
  }

  close(): void {
    this.fetcher?.close();
  }

  /** The cut rows' bytes from the node holding the chunk. */
  private async fetch({ chunk }: ReducePiece, cut: ChunkCut | undefined): Promise<Uint8Array> {
    const { fetch, peers, operator } = this.spec;
    const url = chunk.node === undefined ? undefined : peers?.[chunk.node];
    const lost = (why: string) => new TaskError({ kind: "internal", operator, peerLost: chunk.node, message: `${operator}: fetching a partition from node ${chunk.node}: ${why}` });
    if (!fetch || url === undefined) throw lost("the node is not in the cluster any more");
    this.fetcher ??= new ChunkFetcher(fetch.transport, fetch.silentMs);
    let ipc: Uint8Array;
    try {
      ipc = await this.fetcher.get(url, chunk, cut);
    } catch (e) {
      throw lost(`${url}: ${(e as Error).message}`);
    }
    if (chunk.node !== fetch.here) this.moved?.(ipc.byteLength);
    return ipc;
  }
}
