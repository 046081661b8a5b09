// readChanges on a database tokensync created: TOKENSYNC_TEST_DATABASE as in database.test.js;
// tests/process/test_node_client.py (test_npm_test) polled guilds "1" and "2" of user "npm" into it, then
// a snapshot without "2". tests/process/test_node_changes.py compares every page with what
// `tokensync data changes` prints, on both engines.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import Database from "better-sqlite3";
import pg from "pg";

import { DEFAULT_CHANGES_LIMIT, TokensyncError, readChanges } from "../index.js";

const target = JSON.parse(process.env.TOKENSYNC_TEST_DATABASE ?? "null");
const skip = target === null && "TOKENSYNC_TEST_DATABASE is not set (tests/process/test_node_client.py sets it)";
let db;

before(async () => {
  if (skip) return;
  if (target.sqlite) {
    db = new Database(target.sqlite);
    db.pragma("busy_timeout = 10000");
  } else {
    db = new pg.Client({ connectionString: target.pg });
    await db.connect();
  }
});

after(async () => {
  if (!db) return;
  if (target.sqlite) db.close();
  else await db.end();
});

const mine = (changes) => changes.filter((c) => c.userId === "npm");

test("from the beginning, the feed is the current data set: live items and tombstones", { skip }, async () => {
  const page = await readChanges(db);
  assert.equal(page.hasMore, false);
  const [live, gone] = mine(page.changes);
  const { position, changedAt, ...rest } = live;
  assert.deepEqual(rest, {
    op: "upsert", userId: "npm", platform: "discord", endpoint: "user_guilds", itemKey: "1",
    data: { id: "1" },
  });
  assert.match(position, /^\d+-\d+$/);
  assert.match(changedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(gone.op, "delete");
  assert.equal(gone.itemKey, "2");
  assert.equal(gone.deletedReason, "absent_from_snapshot");
  assert.equal("data" in gone, false);
  assert.match(gone.changedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(DEFAULT_CHANGES_LIMIT, 1000);

  const again = await readChanges(db, { after: page.next });
  assert.deepEqual(again, { changes: [], next: page.next, hasMore: false }, "nothing new");
});

test("pages of one change chain to the same changes, each after the last", { skip }, async () => {
  const whole = (await readChanges(db)).changes;
  const seen = [];
  let position = null;
  for (;;) {
    const page = await readChanges(db, { after: position, limit: 1 });
    assert.ok(page.changes.length <= 1);
    seen.push(...page.changes);
    position = page.next;
    if (!page.hasMore) break;
  }
  assert.deepEqual(seen, whole);
});

test("a string the feed did not hand out is refused, and so is a limit below 1", { skip }, async () => {
  for (const after of ["12", "x-1", "1-01", 7]) {
    await assert.rejects(readChanges(db, { after }), (error) => {
      assert.ok(error instanceof TokensyncError);
      assert.equal(error.code, "invalid_position");
      return true;
    });
  }
  await assert.rejects(readChanges(db, { limit: 0 }), RangeError);
});
