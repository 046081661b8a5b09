// Types of @tokensync/client (index.js); test/types.test.js compiles a program against them.
// The database client is the caller's: a `pg` Client or Pool (anything with query(text, values)
// returning { rows }), or a `better-sqlite3` Database.

/** What the package needs of a PostgreSQL client: pg's Client and Pool have it. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** What the package needs of a SQLite database: better-sqlite3's Database has it. */
export interface SqliteDatabase {
  prepare(sql: string): {
    get(params?: object): any;
    all(params?: object): any[];
    run(params?: object): { changes: number };
  };
  transaction<F extends (...args: any[]) => any>(fn: F): F & { immediate: F; deferred: F };
}

export type Db = PgQueryable | SqliteDatabase;

/** Keys as TOKENSYNC_ENCRYPTION_KEYS holds them (comma-separated), or a list; the first encrypts. */
export type Keys = string | readonly string[];

export type Column = "access" | "refresh";

export interface RowRef {
  userId: string;
  platform: string;
  column: Column;
}

export type ErrorCode =
  | "bad_keys"
  | "decrypt_failed"
  | "invalid_grant"
  | "not_found"
  | "needs_reauth"
  | "disabled"
  | "revoked"
  | "not_refreshable"
  | "retry"
  | "invalid_webhook"
  | "position_expired"
  | "invalid_position";

export class TokensyncError extends Error {
  readonly code: ErrorCode;
  /** True for "retry": a refresh was asked for and is not done yet; ask again shortly. */
  readonly retryable: boolean;
}

export const DEFAULT_MIN_TTL: number;
/** Platforms whose grant ends a number of months after the authorisation (spotify: 6). */
export const GRANT_LIFETIME_MONTHS: Readonly<Record<string, number>>;
export const WEBHOOK_TOLERANCE: number;

/** The raw 32-byte keys; throws TokensyncError("bad_keys") for a malformed one. */
export function parseKeys(keys?: Keys): Buffer[];
/** The first 16 bytes of SHA-256 of "user\x1fplatform\x1fcolumn". */
export function binding(userId: string, platform: string, column: Column): Buffer;
/** The ciphertext of a token for this row and column, with the first key. */
export function encryptToken(token: string, where: RowRef, keys?: Keys): string;
/** The token, checked to belong to this row and column; throws TokensyncError("decrypt_failed"). */
export function decryptToken(ciphertext: string, where: RowRef, keys?: Keys): string;

/** A provider's token response, as an OAuth callback receives it (RFC 6749 section 5.1). */
export interface Grant {
  access_token: string;
  /** Absent or null: the stored refresh token is kept (and the grant with it). */
  refresh_token?: string | null;
  expires_in?: number | string | null;
  scope?: string | null;
  token_type?: string | null;
  refresh_token_expires_in?: number | string | null;
}

export interface SavedGrant {
  connectionId: number;
  grantGeneration: number;
  created: boolean;
}

export function saveGrant(
  db: Db,
  options: {
    userId: string;
    platform: string;
    grant: Grant;
    keys?: Keys;
    /** When the user authorised it (default: now): expires_in counts from then. */
    now?: Date;
    /** The grant ends this many months after `now`, unless refresh_token_expires_in says when
     * (default: GRANT_LIFETIME_MONTHS[platform], else no known end). */
    grantLifetimeMonths?: number | null;
  },
): Promise<SavedGrant>;

export function requestRefresh(
  db: Db,
  userId: string,
  platform: string,
  options?: { now?: Date },
): Promise<"requested">;

/** The documented columns of a connection (docs/storage-format.md), or null. */
export interface ConnectionRow {
  id: number;
  user_id: string;
  platform: string;
  status: "active" | "needs_reauth" | "disabled" | "revoked";
  access_token_enc: string;
  token_type: string;
  scope: string | null;
  expires_at: Date | null;
  grant_generation: number;
}

export function readConnection(
  db: Db,
  userId: string,
  platform: string,
): Promise<ConnectionRow | null>;

export interface AccessToken {
  accessToken: string;
  tokenType: string;
  scope: string | null;
  /** null: the token does not expire. */
  expiresAt: Date | null;
  connectionId: number;
  grantGeneration: number;
}

export interface FreshOptions {
  keys?: Keys;
  /** Seconds the token must still live (default 300, as `tokens get`). */
  minTtl?: number;
  /** How long to wait for tokensync to refresh a token asked for (default 10000 ms). */
  waitMs?: number;
  /** How often to look meanwhile (default 250 ms). */
  pollMs?: number;
  /** Ask for a new token whatever the stored one's expiry (after a 401, say). */
  forceRefresh?: boolean;
}

export function freshAccessToken(
  db: Db,
  userId: string,
  platform: string,
  options?: FreshOptions,
): Promise<AccessToken>;

/** A header bag: a plain object (any case), Node's IncomingHttpHeaders, or Fetch Headers. */
export type WebhookHeaders =
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null };

/** A tokensync lifecycle event (README: "Lifecycle events"). */
export interface WebhookEvent {
  type: string;
  timestamp?: string;
  data: Record<string, unknown>;
  [field: string]: unknown;
}

export function verifyWebhook(
  headers: WebhookHeaders,
  body: string | Uint8Array,
  secrets: string | readonly string[],
  options?: { toleranceSeconds?: number; nowSeconds?: number },
): WebhookEvent;

/** One change of the feed, as `tokensync data changes` prints it (docs/changes.md). */
export interface UpsertChange {
  /** Opaque: store it, pass it back, never build one. */
  position: string;
  op: "upsert";
  userId: string;
  platform: string;
  endpoint: string;
  itemKey: string;
  /** The item as the platform sent it. */
  data: unknown;
  /** When its stored content last changed, to the second (2026-11-28T14:07:30Z). */
  changedAt: string;
}

export interface DeleteChange {
  position: string;
  op: "delete";
  userId: string;
  platform: string;
  endpoint: string;
  itemKey: string;
  deletedReason:
    | "deleted_at_source"
    | "absent_from_snapshot"
    | "absent_after_resync"
    | "disconnected";
  /** When it was tombstoned, to the second. */
  changedAt: string;
}

export type Change = UpsertChange | DeleteChange;

export interface ChangePage {
  changes: Change[];
  /** Pass it as `after` next time; it may move on when `changes` is empty. */
  next: string;
  /** More changes follow now: read again. */
  hasMore: boolean;
}

/** The changes a page holds unless told (1000). */
export const DEFAULT_CHANGES_LIMIT: number;

/**
 * A page of the change feed after `after` (null or absent: from the beginning). Throws
 * TokensyncError "position_expired" (read again from the beginning and replace your copy) or
 * "invalid_position"; RangeError for a limit below 1.
 */
export function readChanges(
  db: Db,
  options?: { after?: string | null; limit?: number },
): Promise<ChangePage>;
