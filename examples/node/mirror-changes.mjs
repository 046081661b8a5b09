#!/usr/bin/env node
// Mirror tokensync's polled data into a database of your own, change by change, from Node.js:
// readChanges of the package in clients/node, through the database interface (no Python).
//
//   node mirror-changes.mjs postgres://myapp:...@host/tokensync mirror.db [--once]
//   node mirror-changes.mjs /var/lib/tokensync/tokensync.db mirror.db [--once]
//
// The first argument is tokensync's database: a PostgreSQL URL (a role granted with
// tokensync_grant_app_role, docs/node.md) or tokensync's SQLite file. The mirror (a SQLite file
// here; any database will do) holds one row per live item, and the feed's position, saved in the
// same transaction as the changes it covers: a crash never loses nor repeats a change. Each
// round reads pages until none is left, then waits for more (a `data.changed` webhook could wake
// it instead). A position too old for the feed (`position_expired`: `data prune` removed
// tombstones the mirror never saw) empties the mirror and reads again from the beginning.
// --once stops when the feed is drained. docs/changes.md describes the feed.

import { createRequire } from "node:module";

import { readChanges } from "../../clients/node/index.js";

// Your application imports its own clients (`pg`, `better-sqlite3`); this example borrows the
// ones the package in clients/node installs for its tests.
const require = createRequire(new URL("../../clients/node/package.json", import.meta.url));
const Database = require("better-sqlite3");

const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
    user_id TEXT, platform TEXT, endpoint TEXT, item_key TEXT, data TEXT,
    PRIMARY KEY (user_id, platform, endpoint, item_key));
CREATE TABLE IF NOT EXISTS feed (one INTEGER PRIMARY KEY CHECK (one = 1), position TEXT);`;

async function openSource(target) {
  if (/^postgres(ql)?:\/\//.test(target)) {
    const pg = require("pg");
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    return { db: client, close: () => client.end() };
  }
  const db = new Database(target, { fileMustExist: true });
  db.pragma("busy_timeout = 10000"); // tokensync's runs write to the same file
  return { db, close: async () => db.close() };
}

/** A page's changes and its `next`, in one transaction of the mirror. */
function applyPage(mirror, page) {
  const upsert = mirror.prepare(
    "INSERT INTO items VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET data = excluded.data",
  );
  const remove = mirror.prepare(
    "DELETE FROM items WHERE user_id = ? AND platform = ? AND endpoint = ? AND item_key = ?",
  );
  mirror.transaction(() => {
    for (const c of page.changes) {
      const key = [c.userId, c.platform, c.endpoint, c.itemKey];
      // A delete (whatever its deletedReason): this copy drops the item.
      if (c.op === "upsert") upsert.run(...key, JSON.stringify(c.data));
      else remove.run(...key);
    }
    mirror.prepare("INSERT OR REPLACE INTO feed VALUES (1, ?)").run(page.next);
  })();
}

async function main([source, path, ...flags]) {
  const once = flags.includes("--once");
  const mirror = new Database(path);
  mirror.exec(SCHEMA);
  const tokensync = await openSource(source);
  try {
    for (;;) {
      const after = mirror.prepare("SELECT position FROM feed").get()?.position ?? null;
      let page;
      try {
        page = await readChanges(tokensync.db, { after, limit: 500 });
      } catch (error) {
        if (error.code !== "position_expired") throw error;
        mirror.exec("BEGIN; DELETE FROM items; DELETE FROM feed; COMMIT;"); // start again
        continue;
      }
      applyPage(mirror, page);
      if (!page.hasMore) {
        if (once) return;
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
    }
  } finally {
    await tokensync.close();
    mirror.close();
  }
}

await main(process.argv.slice(2));
