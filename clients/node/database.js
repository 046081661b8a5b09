// The database interface (docs/node.md): tokensync_save_grant and tokensync_request_refresh on
// PostgreSQL, the statements of sql/sqlite.sql on SQLite; reads of the documented columns.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { decryptToken, encryptToken } from "./crypto.js";
import { TokensyncError } from "./errors.js";

// What tokens import accepts (src/tokensync/oauth/token_endpoint.py: MAX_EXPIRES_IN): ten years at most.
const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;
// An event is retried for this long after it is written (src/tokensync/store/outbox.py).
const DELIVERY_WINDOW_MS = 3 * 24 * 3600 * 1000;

// Platforms whose grant ends by a rule, in months from the authorisation (src/tokensync/platforms/
// catalog.py: grant_lifetime_months); saveGrant's grantLifetimeMonths covers platforms of your own.
export const GRANT_LIFETIME_MONTHS = Object.freeze({ spotify: 6 });
/** The default minimum lifetime of a token handed out, as `tokensync tokens get --min-ttl`. */
export const DEFAULT_MIN_TTL = 300;

/** The named statements of sql/sqlite.sql (changes.js reads the feed with two of them). */
export const SQLITE = sqliteStatements(
  readFileSync(new URL("./sql/sqlite.sql", import.meta.url), "utf8"),
);

const PG_SAVE =
  "SELECT connection_id, grant_generation, created " +
  "FROM tokensync_save_grant($1, $2, $3, $4, $5, $6, $7, $8)";
const PG_REQUEST = "SELECT tokensync_request_refresh($1, $2) AS outcome";
const PG_READ =
  "SELECT id, user_id, platform, status, access_token_enc, token_type, scope, expires_at, " +
  "grant_generation FROM connections WHERE user_id = $1 AND platform = $2";

/** The named statements of sql/sqlite.sql (`-- name: x` starts one; other comments are left). */
function sqliteStatements(text) {
  const out = {};
  let name = null;
  for (const line of text.split("\n")) {
    const header = /^-- name: (\w+)/.exec(line);
    if (header) {
      name = header[1];
      out[name] = "";
    } else if (name && !line.startsWith("--")) {
      out[name] += line + "\n";
    }
  }
  return out;
}

/** better-sqlite3's Database has prepare(); pg's Client and Pool have query(). */
export function isSqlite(db) {
  return typeof db?.prepare === "function" && typeof db?.query !== "function";
}

/** A time as tokensync writes it in SQLite: 2026-11-28T14:07:30.123000Z (it sorts as it reads). */
function sqliteTime(date) {
  return date.toISOString().replace("Z", "000Z");
}

function seconds(value, name) {
  const number = typeof value === "string" ? Number(value.trim()) : value;
  if (typeof number !== "number" || !Number.isFinite(number) || number < 0) {
    throw new TokensyncError("invalid_grant", `${name} must be a number of seconds from 0`);
  }
  if (number > MAX_EXPIRES_IN) {
    throw new TokensyncError("invalid_grant", `${name} must be at most ${MAX_EXPIRES_IN} seconds`);
  }
  return number;
}

function present(value) {
  return value !== undefined && value !== null && value !== "";
}

/**
 * Store the token response an OAuth callback received (`access_token`, `refresh_token`,
 * `expires_in`, `scope`, `token_type`, `refresh_token_expires_in`, as the provider sent them) as
 * the connection of (userId, platform): created, or replaced and active again, as tokensync's
 * `save_grant` and `tokens import` do. A refresh token makes it a new grant, which wins over any
 * refresh of the older grant in flight; a response without one keeps the stored refresh token.
 * The grant's end is refresh_token_expires_in when the provider says, else the platform's rule
 * (grantLifetimeMonths: Spotify's six months by default). Returns { connectionId,
 * grantGeneration, created }.
 */
export async function saveGrant(
  db,
  {
    userId,
    platform,
    grant,
    keys,
    now = new Date(),
    grantLifetimeMonths = GRANT_LIFETIME_MONTHS[platform] ?? null,
  },
) {
  if (typeof userId !== "string" || !userId.trim() || typeof platform !== "string" || !platform) {
    throw new TokensyncError("invalid_grant", "userId and platform must be non-empty strings");
  }
  if (typeof grant?.access_token !== "string" || !grant.access_token.trim()) {
    throw new TokensyncError("invalid_grant", "the grant has no access_token (a non-empty string)");
  }
  const at = (field) =>
    present(grant[field]) ? new Date(now.getTime() + seconds(grant[field], field) * 1000) : null;
  const refresh = present(grant.refresh_token) ? grant.refresh_token : null;
  const row = {
    user_id: userId,
    platform,
    access_token_enc: encryptToken(grant.access_token, { userId, platform, column: "access" }, keys),
    refresh_token_enc:
      refresh === null ? null : encryptToken(refresh, { userId, platform, column: "refresh" }, keys),
    expires_at: at("expires_in"),
    scope: present(grant.scope) ? String(grant.scope) : null,
    token_type: present(grant.token_type) ? String(grant.token_type) : "Bearer",
    refresh_token_expires_at:
      at("refresh_token_expires_in") ??
      (refresh !== null && grantLifetimeMonths !== null ? grantEnd(now, grantLifetimeMonths) : null),
  };
  if (isSqlite(db)) return saveSqlite(db, row, now);
  const { rows } = await db.query(PG_SAVE, [
    row.user_id,
    row.platform,
    row.access_token_enc,
    row.refresh_token_enc,
    row.expires_at,
    row.scope,
    row.token_type,
    row.refresh_token_expires_at,
  ]);
  const [saved] = rows;
  return {
    connectionId: Number(saved.connection_id),
    grantGeneration: Number(saved.grant_generation),
    created: saved.created,
  };
}

/** The grant's end by a platform's rule: the same day of the month that many months after the
 * authorisation (now), or that month's last day (as Platform.grant_end in tokensync). */
function grantEnd(authorized, months) {
  const index = authorized.getUTCMonth() + months;
  const year = authorized.getUTCFullYear() + Math.floor(index / 12);
  const month = index % 12;
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const end = new Date(authorized.getTime());
  end.setUTCFullYear(year, month, Math.min(authorized.getUTCDate(), last));
  return end;
}

/** tokensync_save_grant's write, as sql/sqlite.sql's statements in one IMMEDIATE transaction. */
function saveSqlite(db, row, now) {
  const params = {
    ...row,
    keep: row.refresh_token_enc === null ? 1 : 0,
    expires_at: row.expires_at && sqliteTime(row.expires_at),
    refresh_token_expires_at: row.refresh_token_expires_at && sqliteTime(row.refresh_token_expires_at),
    now: sqliteTime(now),
  };
  const write = db.transaction(() => {
    const found = db.prepare(SQLITE.find_connection).get(params);
    if (!found) {
      const made = db.prepare(SQLITE.insert_grant).get(params);
      return { connectionId: Number(made.id), grantGeneration: 1, created: true };
    }
    if (found.status !== "active") {
      db.prepare(SQLITE.recovered_event).run({
        event_id: `evt_${randomUUID().replaceAll("-", "")}`,
        id: found.id,
        user_id: row.user_id,
        platform: row.platform,
        previous_status: found.status,
        now: params.now,
        give_up_at: sqliteTime(new Date(now.getTime() + DELIVERY_WINDOW_MS)),
      });
    }
    const saved = db.prepare(SQLITE.replace_grant).get({ ...params, id: found.id });
    return {
      connectionId: Number(found.id),
      grantGeneration: Number(saved.grant_generation),
      created: false,
    };
  });
  return write.immediate();
}

/**
 * Ask tokensync to refresh the connection's token first: the next refresh-tokens run, or a
 * `tokens get` anywhere, refreshes it (under its lease; never refresh it yourself). Throws when
 * it cannot be refreshed: not_found, needs_reauth, disabled or revoked (the user must connect again),
 * not_refreshable (no refresh token stored).
 */
export async function requestRefresh(db, userId, platform, { now = new Date() } = {}) {
  let outcome;
  if (isSqlite(db)) {
    const params = { user_id: userId, platform, now: sqliteTime(now) };
    outcome = db.transaction(() => {
      if (db.prepare(SQLITE.request_refresh).run(params).changes) return "requested";
      const row = db.prepare(SQLITE.read_token).get(params);
      if (!row) return "not_found";
      return row.status !== "active" ? row.status : "not_refreshable";
    }).immediate();
  } else {
    outcome = (await db.query(PG_REQUEST, [userId, platform])).rows[0].outcome;
  }
  if (outcome !== "requested") throw unusable(outcome, userId, platform);
  return outcome;
}

function unusable(code, userId, platform) {
  const messages = {
    not_found: `no ${platform} connection for that user`,
    needs_reauth: `the ${platform} connection needs re-authorisation: the user must connect again`,
    disabled: `the ${platform} connection is disabled: the user must connect again`,
    revoked: `the user revoked the ${platform} grant at the provider: the user must connect again`,
    not_refreshable: `the ${platform} connection has no refresh token: the user must connect again`,
  };
  return new TokensyncError(code, messages[code] ?? `the ${platform} connection is ${code}`);
}

/** The documented columns of a connection (docs/storage-format.md), or null. */
export async function readConnection(db, userId, platform) {
  let row;
  if (isSqlite(db)) {
    row = db.prepare(SQLITE.read_token).get({ user_id: userId, platform }) ?? null;
  } else {
    row = (await db.query(PG_READ, [userId, platform])).rows[0] ?? null;
  }
  if (row === null) return null;
  const expires = row.expires_at === null ? null : new Date(row.expires_at);
  return { ...row, id: Number(row.id), grant_generation: Number(row.grant_generation), expires_at: expires };
}

function tokenOf(row, keys) {
  const where = { userId: row.user_id, platform: row.platform, column: "access" };
  return {
    accessToken: decryptToken(row.access_token_enc, where, keys),
    tokenType: row.token_type,
    scope: row.scope,
    expiresAt: row.expires_at,
    connectionId: row.id,
    grantGeneration: row.grant_generation,
  };
}

function livesFor(row, minTtl, nowMs) {
  return row.expires_at === null || row.expires_at.getTime() - nowMs >= minTtl * 1000;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An access token of (userId, platform) that lives at least `minTtl` seconds more (or does not
 * expire): the stored one when it does; otherwise (or with `forceRefresh`, after a 401, say) a
 * refresh is requested and the stored token watched for `waitMs` until tokensync has refreshed
 * it. When it has not by then, throws TokensyncError with code "retry" (retryable: true): ask
 * again shortly. Returns { accessToken, tokenType, scope, expiresAt, connectionId,
 * grantGeneration }.
 */
export async function freshAccessToken(
  db,
  userId,
  platform,
  { keys, minTtl = DEFAULT_MIN_TTL, waitMs = 10_000, pollMs = 250, forceRefresh = false } = {},
) {
  const row = await readConnection(db, userId, platform);
  if (row === null) throw unusable("not_found", userId, platform);
  if (row.status !== "active") throw unusable(row.status, userId, platform);
  if (!forceRefresh && livesFor(row, minTtl, Date.now())) return tokenOf(row, keys);
  await requestRefresh(db, userId, platform);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    const now = await readConnection(db, userId, platform);
    if (now === null) throw unusable("not_found", userId, platform);
    if (now.status !== "active") throw unusable(now.status, userId, platform);
    const renewed = now.access_token_enc !== row.access_token_enc;
    if (renewed && livesFor(now, minTtl, Date.now())) return tokenOf(now, keys);
  }
  throw new TokensyncError(
    "retry",
    `tokensync has not refreshed the ${platform} token yet (a refresh is requested): retry ` +
      "shortly, once refresh-tokens has run",
  );
}

