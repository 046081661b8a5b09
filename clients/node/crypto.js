// The storage format (docs/storage-format.md): Fernet tokens whose payload is bound to the row
// and column it is stored in, interoperable both ways with tokensync.

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

import { TokensyncError } from "./errors.js";

const VERSION = 0x80;
const MAGIC = Buffer.from("ts1\0", "latin1");
const BINDING_BYTES = 16;
const COLUMNS = new Set(["access", "refresh"]);

/** The keys of a TOKENSYNC_ENCRYPTION_KEYS value (comma-separated), or of an array; first first. */
export function parseKeys(keys = process.env.TOKENSYNC_ENCRYPTION_KEYS ?? "") {
  const list = (Array.isArray(keys) ? keys : String(keys).split(","))
    .map((key) => key.trim())
    .filter((key) => key && !key.startsWith("#"));
  const raw = list.map((key) => Buffer.from(key, "base64url"));
  if (!raw.length || raw.some((key) => key.length !== 32)) {
    throw new TokensyncError(
      "bad_keys",
      "the encryption keys must be 44-character URL-safe base64 keys (tokensync keys generate)",
    );
  }
  return raw;
}

/** What a ciphertext is bound to: the first 16 bytes of SHA-256 of "user\x1fplatform\x1fcolumn". */
export function binding(userId, platform, column) {
  if (!COLUMNS.has(column)) throw new TypeError('column must be "access" or "refresh"');
  const text = [userId, platform, column].join("\x1f");
  return createHash("sha256").update(text, "utf8").digest().subarray(0, BINDING_BYTES);
}

/**
 * The ciphertext of `token` for the column ("access" or "refresh") of the row of (userId,
 * platform), with the first key: what tokensync itself would store there.
 */
export function encryptToken(token, { userId, platform, column }, keys) {
  if (typeof token !== "string" || !token) throw new TypeError("a token is a non-empty string");
  const [key] = parseKeys(keys);
  const payload = Buffer.concat([MAGIC, binding(userId, platform, column), Buffer.from(token)]);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-128-cbc", key.subarray(16), iv);
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)));
  const signed = Buffer.concat([
    Buffer.from([VERSION]),
    stamp,
    iv,
    cipher.update(payload),
    cipher.final(),
  ]);
  const mac = createHmac("sha256", key.subarray(0, 16)).update(signed).digest();
  // Fernet is URL-safe base64 with its padding, as Python's cryptography writes it.
  return Buffer.concat([signed, mac]).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The Fernet payload, with the first key whose HMAC matches; null when none does. */
function fernetDecrypt(ciphertext, keys) {
  const data = Buffer.from(String(ciphertext), "base64url");
  // version (1) | timestamp (8) | IV (16) | ciphertext (a multiple of 16) | HMAC-SHA256 (32)
  if (data.length < 1 + 8 + 16 + 16 + 32 || data[0] !== VERSION || (data.length - 57) % 16) {
    return null;
  }
  const signed = data.subarray(0, data.length - 32);
  const mac = data.subarray(data.length - 32);
  for (const key of parseKeys(keys)) {
    const expected = createHmac("sha256", key.subarray(0, 16)).update(signed).digest();
    if (!timingSafeEqual(expected, mac)) continue;
    const decipher = createDecipheriv("aes-128-cbc", key.subarray(16), data.subarray(9, 25));
    return Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
  }
  return null;
}

/**
 * The token in `ciphertext`, checked to belong to this row and column. Throws (code
 * decrypt_failed) when no key opens it, or when it was made for another row or column.
 */
export function decryptToken(ciphertext, { userId, platform, column }, keys) {
  const payload = fernetDecrypt(ciphertext, keys);
  if (payload === null) {
    throw new TokensyncError(
      "decrypt_failed",
      "no configured key opens this ciphertext (wrong TOKENSYNC_ENCRYPTION_KEYS?)",
    );
  }
  const head = Buffer.concat([MAGIC, binding(userId, platform, column)]);
  const found = payload.subarray(0, head.length);
  if (found.length !== head.length || !timingSafeEqual(found, head)) {
    throw new TokensyncError(
      "decrypt_failed",
      "this ciphertext belongs to another connection or column: refusing it",
    );
  }
  return payload.subarray(head.length).toString("utf8");
}

