// The change feed (docs/changes.md), read through the database interface: on PostgreSQL the
// function tokensync_read_changes (migrations 0011 and 0012), on SQLite the statements
// change_horizon and read_changes of sql/sqlite.sql, read as tokensync's own SQLite read does
// (src/tokensync/store/changes.py): the same positions, pages, `next` and `hasMore`.

import { SQLITE, isSqlite } from "./database.js";
import { TokensyncError } from "./errors.js";

/** The changes a page holds unless told, as `tokensync data changes`. */
export const DEFAULT_CHANGES_LIMIT = 1000;

const POSITION = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/;
const PG_READ = "SELECT tokensync_read_changes($1, $2) AS page";

function position(after) {
  if (after === null || after === undefined) return null;
  const match = typeof after === "string" ? POSITION.exec(after.trim()) : null;
  if (!match) {
    throw new TokensyncError(
      "invalid_position",
      "not a position of the change feed: pass the `next` or a `position` it handed out, or " +
        "null to read from the beginning",
    );
  }
  return [BigInt(match[1]), BigInt(match[2])];
}

function before(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

function expired(after, pruned) {
  return new TokensyncError(
    "position_expired",
    `position ${after} is older than the tombstones \`data prune\` removed (up to ` +
      `${pruned[0]}-${pruned[1]}): read the feed again from the beginning (after null) and ` +
      "replace your copy",
  );
}

/**
 * A page of the change feed after `after` (null: from the beginning), oldest first, at most
 * `limit` changes: { changes, next, hasMore }, each change as `tokensync data changes` prints it
 * (position, op, userId, platform, endpoint, itemKey, data or deletedReason, changedAt). Pass
 * `next` as `after` next time (it may move on with no change); read again while `hasMore`.
 * Throws TokensyncError "position_expired" when `data prune` removed tombstones after `after`
 * (read again from the beginning and replace your copy), "invalid_position" for a string the
 * feed did not hand out.
 */
export async function readChanges(db, { after = null, limit = DEFAULT_CHANGES_LIMIT } = {}) {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be a whole number from 1");
  const start = position(after);
  if (isSqlite(db)) return readSqlite(db, after, start, limit);
  try {
    const { rows } = await db.query(PG_READ, [start === null ? null : after.trim(), limit]);
    return rows[0].page;
  } catch (error) {
    if (error?.code === "TS001") {
      throw new TokensyncError("position_expired", String(error.message));
    }
    throw error;
  }
}

/** The feed's SQLite read: the horizon and the page in one read transaction (one snapshot). */
function readSqlite(db, after, start, limit) {
  const read = db.transaction(() => {
    const head = db.prepare(SQLITE.change_horizon).get();
    const pruned = [BigInt(head.pruned_txn), BigInt(head.pruned_id)];
    const from = start ?? [0n, 0n];
    if (start !== null && before(start, pruned)) throw expired(after.trim(), pruned);
    const rows = db.prepare(SQLITE.read_changes).all({
      txn: from[0],
      id: from[1],
      horizon: BigInt(head.horizon),
      limit: limit + 1,
    });
    return { head, from, rows };
  });
  const { head, from, rows } = read.deferred();
  const hasMore = rows.length > limit;
  const changes = rows.slice(0, limit).map(change);
  const horizon = [BigInt(head.horizon), 0n];
  const last = before(from, horizon) ? horizon : from;
  const next = hasMore ? changes[changes.length - 1].position : `${last[0]}-${last[1]}`;
  return { changes, next, hasMore };
}

function change(row) {
  const deleted = row.deleted_at !== null;
  const body = {
    position: `${row.txn}-${row.id}`,
    op: deleted ? "delete" : "upsert",
    userId: row.user_id,
    platform: row.platform,
    endpoint: row.endpoint,
    itemKey: row.item_key,
  };
  if (deleted) body.deletedReason = row.deleted_reason;
  else body.data = JSON.parse(row.data);
  // Stored as 2026-11-28T14:07:30.123456Z; the feed says it to the second.
  body.changedAt = `${(row.deleted_at ?? row.fetched_at).slice(0, 19)}Z`;
  return body;
}
