// tokensync from Node.js: save a grant, read a fresh access token, verify lifecycle events, read
// the change feed.
//
// No dependency beyond node:crypto (and node:fs, to read the SQLite statements this package
// ships): the caller passes its own database client, a `pg` Client or Pool for PostgreSQL, or a
// `better-sqlite3` Database for SQLite. The formats and the database interface are those of
// docs/storage-format.md and docs/node.md; README.md beside this file shows the calls.
//
// crypto.js: the storage format; database.js: saving grants and reading fresh tokens;
// changes.js: reading the change feed; webhooks.js: verifying deliveries; errors.js: TokensyncError.

export { DEFAULT_CHANGES_LIMIT, readChanges } from "./changes.js";
export { binding, decryptToken, encryptToken, parseKeys } from "./crypto.js";
export {
  DEFAULT_MIN_TTL,
  GRANT_LIFETIME_MONTHS,
  freshAccessToken,
  readConnection,
  requestRefresh,
  saveGrant,
} from "./database.js";
export { TokensyncError } from "./errors.js";
export { WEBHOOK_TOLERANCE, verifyWebhook } from "./webhooks.js";
