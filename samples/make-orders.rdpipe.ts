// Generates the checkpointing sample's input: 50,000 orders as JSON Lines under samples/data/orders,
// a few of them malformed the way real exports are (a decimal comma, a missing price).
import * as rd from "rdpipe";

const CUSTOMERS = ["ada", "grace", "edsger", "barbara", "donald", "frances", "john", "margaret"];

function order(row: rd.Row) {
  const id = row.id as number;
  const cents = ((id * 7919) % 100_000) + 100;
  const price = id % 9_973 === 17 ? `${Math.floor(cents / 100)},${String(cents % 100).padStart(2, "0")}` // "12,34"
    : id % 12_347 === 5 ? null
    : (cents / 100).toFixed(2);
  return { order_id: id, customer: CUSTOMERS[id % CUSTOMERS.length], price, quantity: (id % 4) + 1 };
}

export default rd.range(50_000, { overrideNumBlocks: 10 }).map(order).writeJson("data/orders", { mode: "overwrite" });
