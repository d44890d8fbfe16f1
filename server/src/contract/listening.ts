// How a parent process learns the address of the `rdpipe serve` it started.

/** The line `rdpipe serve` prints on stdout once it listens, followed by JSON `{ url, port }` (and `cluster`, where nodes join, with --cluster-port). */
export const LISTENING_PREFIX = "RDPIPE_SERVER_LISTENING ";

/** The address in `rdpipe serve`'s output so far, once it has printed its listening line. */
export function parseListening(output: string): { url: string; port: number; cluster?: string } | undefined {
  const line = output.split("\n").find((l) => l.startsWith(LISTENING_PREFIX));
  return line ? (JSON.parse(line.slice(LISTENING_PREFIX.length)) as { url: string; port: number; cluster?: string }) : undefined;
}
