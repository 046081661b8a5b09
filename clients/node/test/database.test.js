// saveGrant, requestRefresh and freshAccessToken on a database tokensync created and migrated:
// TOKENSYNC_TEST_DATABASE is {"sqlite": PATH} or {"pg": URL} (a role granted as docs/node.md
// says), with the keys in TOKENSYNC_ENCRYPTION_KEYS; tests/process/test_node_client.py runs this
// file on both engines. How tokensync then refreshes what Node saved is that file's part.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import Database from "better-sqlite3";
import pg from "pg";

import { decryptToken, freshAccessToken, readConnection, requestRefresh, saveGrant } from "../index.js";

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

const grant = (n, refresh = true) => ({
  access_token: `AT-${n}`,
  ...(refresh ? { refresh_token: `RT-${n}` } : {}),
  expires_in: "3600",
  scope: "user-read-recently-played",
  token_type: "Bearer",
});

test("a grant is created, replaced by a newer grant, and kept without a refresh token", { skip }, async () => {
  const save = (g) => saveGrant(db, { userId: "n1", platform: "spotify", grant: g });
  const made = await save(grant(1));
  assert.equal(made.created, true);
  assert.equal(made.grantGeneration, 1);
  const newer = await save(grant(2));
  assert.deepEqual(newer, { connectionId: made.connectionId, grantGeneration: 2, created: false });
  const same = await save(grant(3, false));
  assert.equal(same.grantGeneration, 2, "no refresh token: the same grant");

  const row = await readConnection(db, "n1", "spotify");
  assert.equal(row.status, "active");
  assert.equal(row.scope, "user-read-recently-played");
  const where = { userId: "n1", platform: "spotify", column: "access" };
  assert.equal(decryptToken(row.access_token_enc, where, process.env.TOKENSYNC_ENCRYPTION_KEYS), "AT-3");
  const lives = row.expires_at.getTime() - Date.now();
  assert.ok(lives > 3500_000 && lives <= 3600_000, "expires_in counted from now");
});

test("a fresh token is the stored one; an expiring one is asked for, then retried", { skip }, async () => {
  await saveGrant(db, { userId: "n2", platform: "spotify", grant: grant(1) });
  const fresh = await freshAccessToken(db, "n2", "spotify");
  assert.equal(fresh.accessToken, "AT-1");
  assert.equal(fresh.tokenType, "Bearer");
  assert.equal(fresh.grantGeneration, 1);
  // Nobody refreshes here: asked for an hour and a half, the caller is told to retry.
  await assert.rejects(freshAccessToken(db, "n2", "spotify", { minTtl: 5400, waitMs: 200 }), {
    code: "retry",
    retryable: true,
  });
  await assert.rejects(freshAccessToken(db, "n2", "spotify", { forceRefresh: true, waitMs: 0 }), {
    code: "retry",
  });
});

test("a refresh is asked for only where one can be made", { skip }, async () => {
  await saveGrant(db, { userId: "n3", platform: "spotify", grant: grant(1) });
  assert.equal(await requestRefresh(db, "n3", "spotify"), "requested");
  assert.equal(await requestRefresh(db, "n3", "spotify"), "requested", "asking twice is asking");
  await assert.rejects(requestRefresh(db, "nobody", "spotify"), { code: "not_found" });
  await assert.rejects(freshAccessToken(db, "nobody", "spotify"), { code: "not_found" });
  await saveGrant(db, { userId: "n4", platform: "spotify", grant: grant(1, false) });
  await assert.rejects(requestRefresh(db, "n4", "spotify"), { code: "not_refreshable" });
});

test("a grant that is no token response is refused before any write", { skip }, async () => {
  const save = (g) => saveGrant(db, { userId: "n5", platform: "spotify", grant: g });
  await assert.rejects(save({ refresh_token: "RT" }), { code: "invalid_grant" });
  await assert.rejects(save({ access_token: "AT", expires_in: -1 }), { code: "invalid_grant" });
  await assert.rejects(save({ access_token: "AT", expires_in: "soon" }), { code: "invalid_grant" });
  assert.equal(await readConnection(db, "n5", "spotify"), null);
});
