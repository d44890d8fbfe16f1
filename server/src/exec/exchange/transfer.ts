// Where a reduce task's pieces come from: this process (inline bytes, or a spill file here), or, on a
// cluster, the node holding them — fetched straight from its chunk server (cluster/chunks.ts), never
// through the driver. A peer that cannot answer fails the task as lost, not as wrong: the executor
// reruns what the peer held and then the task.
import { type Block, blockFromIPC, sliceBlock } from "../../block";
import { ChunkFetcher, TaskError } from "../../cluster";
import type { ChunkRef, ExchangeReduceSpec, ReducePiece } from "../../plan";
import { chunkBytes } from "./spill";

export class PieceReader {
  private fetcher?: ChunkFetcher;

  /** moved: told the bytes of each piece fetched from another node. */
  constructor(private readonly spec: ExchangeReduceSpec, private readonly moved?: (bytes: number) => void) {}

  /** A piece's rows: its chunk's bytes, sliced to [start, end). */
  async read(piece: ReducePiece): Promise<Block> {
    const block = blockFromIPC(await this.bytes(piece.chunk));
    return piece.start === undefined && piece.end === undefined ? block : sliceBlock(block, piece.start ?? 0, piece.end ?? block.numRows);
  }

  close(): void {
    this.fetcher?.close();
  }

  private async bytes(chunk: ChunkRef): Promise<Uint8Array> {
    const { fetch, peers, operator } = this.spec;
    if (chunk.node === undefined || (chunk.node === fetch?.here && chunk.file !== undefined)) return chunkBytes(chunk);
    const url = peers?.[chunk.node];
    const lost = (why: string) => new TaskError({ kind: "internal", operator, peerLost: chunk.node, message: `${operator}: fetching a partition from node ${chunk.node}: ${why}` });
    if (!fetch || url === undefined) throw lost("the node is not in the cluster any more");
    this.fetcher ??= new ChunkFetcher(fetch.transport, fetch.silentMs);
    let ipc: Uint8Array;
    try {
      ipc = await this.fetcher.get(url, chunk);
    } catch (e) {
      throw lost(`${url}: ${(e as Error).message}`);
    }
    if (chunk.node !== fetch.here) this.moved?.(ipc.byteLength);
    return ipc;
  }
}
