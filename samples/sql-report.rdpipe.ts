// Reads the unpaid orders of samples/data/shop.db (make it with samples/make-sqlite.rdpipe.ts) in four
// shards, one read task each, and totals them per customer.
import * as rd from "rdpipe";

export default rd
  .readSql("SELECT customer, amount FROM orders WHERE NOT paid", rd.sqlite("data/shop.db", { readonly: true }), { shardKeys: ["customer"], parallelism: 4 })
  .groupBy("customer")
  .sum("amount")
  .sort("customer");
