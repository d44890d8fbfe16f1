// Writes 10,000 orders into the SQLite file samples/data/shop.db with writeSql, one transaction per block.
// The connection factory runs in every worker that writes, so it is defined here, in the pipeline file;
// this one also creates the table where it is missing. Then run samples/sql-report.rdpipe.ts.
import fs from "node:fs";
import path from "node:path";
import * as rd from "rdpipe";

const file = path.join(__dirname, "data", "shop.db");

function shop() {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = rd.sqlite(file, { wal: true })();
  db.exec("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, paid BOOLEAN)");
  return db;
}

export default rd
  .range(10_000, { overrideNumBlocks: 4 })
  .map((row) => {
    const id = Number(row.id);
    return { id, customer: `customer-${id % 97}`, amount: ((id * 37) % 10_000) / 100, paid: id % 3 !== 0 };
  })
  .writeSql("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)", shop);
