// Where a reduce task's pieces come from: this process (inline bytes, or a spill file here), or, on a
// cluster, the node holding them — fetched straight from its chunk server (cluster/chunks.ts), never
// through the driver, and cut there to the rows this partition reads (a ranged get): a sorted chunk
// that spans several partitions moves once in all, a share to each. Fetches go out several at a time,
// ahead of the piece being reduced, so a peer's answer does not leave the task waiting for each one. A
// peer that cannot answer fails the task as lost, not as wrong: the executor reruns what the peer held
// and then the task.
import { type Block, blockFromIPC } from "../../block";
import { ChunkFetcher, TaskError } from "../../cluster";
import type { ExchangeReduceSpec, ReducePiece } from "../../plan";
import { cutBlock, pieceCut } from "./cut";
import { chunkBytes } from "./spill";

/** Fetches a reduce task keeps in flight ahead of the piece it reduces, and the chunk bytes they may cover at most. */
const FETCHES_AHEAD = 8;
const FETCH_AHEAD_BYTES = 8 * 2 ** 20;

export class PieceReader {
  private fetcher?: ChunkFetcher;

  /** moved: told the bytes of each piece fetched from another node. */
  constructor(private readonly spec: ExchangeReduceSpec, private readonly moved?: (bytes: number) => void) {}

  /**
   * The pieces' rows, in order. Those held by other nodes are requested ahead, up to FETCHES_AHEAD at a
   * time within FETCH_AHEAD_BYTES of their chunks; those here are read when their turn comes.
   */
  async *read(pieces: ReducePiece[]): AsyncIterable<Block> {
    const ahead = new Map<number, Promise<Block>>();
    let next = 0, aheadBytes = 0;
    for (let i = 0; i < pieces.length; i++) {
      for (; next < pieces.length && (next <= i || (ahead.size < FETCHES_AHEAD && aheadBytes + pieces[next].chunk.bytes <= FETCH_AHEAD_BYTES)); next++) {
        if (this.isHere(pieces[next])) continue;
        const fetched = this.fetch(pieces[next]);
        fetched.catch(() => undefined); // its error is thrown when its turn comes (or not at all, once the task has stopped)
        ahead.set(next, fetched);
        aheadBytes += pieces[next].chunk.bytes;
      }
      const fetched = ahead.get(i);
      if (!fetched) { yield this.readHere(pieces[i]); continue; }
      ahead.delete(i);
      aheadBytes -= pieces[i].chunk.bytes;
      yield await fetched;
    }
  }

  close(): void {
    this.fetcher?.close();
  }

  private isHere({ chunk }: ReducePiece): boolean {
    return chunk.node === undefined || (chunk.node === this.spec.fetch?.here && chunk.file !== undefined);
  }

  /** A piece in this process: its chunk read and cut. */
  private readHere(piece: ReducePiece): Block {
    const cut = pieceCut(piece, this.spec.range, this.spec.operator);
    const block = blockFromIPC(chunkBytes(piece.chunk));
    return cut ? cutBlock(block, cut) : block;
  }

  /** The piece's rows from the node holding its chunk, cut there. */
  private async fetch(piece: ReducePiece): Promise<Block> {
    const { fetch, peers, operator, range } = this.spec;
    const { chunk } = piece;
    const url = chunk.node === undefined ? undefined : peers?.[chunk.node];
    const lost = (why: string) => new TaskError({ kind: "internal", operator, peerLost: chunk.node, message: `${operator}: fetching a partition from node ${chunk.node}: ${why}` });
    if (!fetch || url === undefined) throw lost("the node is not in the cluster any more");
    this.fetcher ??= new ChunkFetcher(fetch.transport, fetch.silentMs);
    let ipc: Uint8Array;
    try {
      ipc = await this.fetcher.get(url, chunk, pieceCut(piece, range, operator));
    } catch (e) {
      throw lost(`${url}: ${(e as Error).message}`);
    }
    if (chunk.node !== fetch.here) this.moved?.(ipc.byteLength);
    return blockFromIPC(ipc);
  }
}
