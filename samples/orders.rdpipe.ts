// Checkpointing and malformed rows. Run it after samples/make-orders.rdpipe.ts: a few orders have a
// price like "12,34", and parsePrice throws on them. The job stops naming the row; what it wrote so far
// stays committed. Fix parsePrice (accept a decimal comma), run the same command again, and it resumes:
// only the orders not yet written are processed, and each order is written exactly once.
import * as rd from "rdpipe";

rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({
  idColumn: "order_id",
  checkpointPath: "out/orders-checkpoint",
});

function parsePrice(text: unknown): number {
  if (typeof text !== "string" || !/^\d+(\.\d+)?$/.test(text)) throw new Error(`malformed price ${JSON.stringify(text)}`);
  return Number(text);
}

function total(row: rd.Row) {
  const price = parsePrice(row.price);
  return { ...row, price, total: Math.round(price * (row.quantity as number) * 100) / 100 };
}

export default rd
  .readJson("data/orders")
  .map(total)
  .writeParquet("out/orders");
