#!/usr/bin/env node
// Read an access token that tokensync stored, from Node.js, with node:crypto only.
//
// The at-rest format is described in docs/storage-format.md. Your application reads the row with
// its own database client; this script takes that row as JSON on stdin (an object, or an array of
// one, as `sqlite3 -json` and `psql ... row_to_json` print it) and the keys from
// TOKENSYNC_ENCRYPTION_KEYS (comma-separated, as tokensync reads them), and prints the token.
//
//   sqlite3 -json tokensync.db "SELECT user_id, platform, status, expires_at, access_token_enc
//     FROM connections WHERE user_id = 'u_1' AND platform = 'spotify'" | node read-token.mjs
//
// It refuses (exit 1) a ciphertext that no key opens, or that was made for another row or column
// (a ciphertext copied into another user's row), and (exit 2) a token that is not usable now:
// a connection that is not active, or a token that expires within MIN_TTL_SECONDS. Then ask
// tokensync for a fresh one (`tokensync tokens get`), which refreshes it under its lease: never
// use the refresh token yourself, or a rotating provider will see it used twice and revoke the
// grant.
//
// In your own code, import decryptToken and usableAccessToken from this file.

import { createDecipheriv, createHash, createHmac, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";

const VERSION = 0x80;
const MAGIC = Buffer.from("ts1\0", "latin1");
const BINDING_BYTES = 16;
export const MIN_TTL_SECONDS = 60;

/** What a ciphertext is bound to: the first 16 bytes of SHA-256 of "user\x1fplatform\x1fcolumn". */
export function binding(userId, platform, column) {
  const text = [userId, platform, column].join("\x1f");
  return createHash("sha256").update(text, "utf8").digest().subarray(0, BINDING_BYTES);
}

/** The Fernet payload of a token, with the first key whose HMAC matches; null when none does. */
function fernetDecrypt(token, keys) {
  const data = Buffer.from(token, "base64url");
  // version (1) | timestamp (8) | IV (16) | ciphertext (a multiple of 16) | HMAC-SHA256 (32)
  if (data.length < 1 + 8 + 16 + 16 + 32 || data[0] !== VERSION || (data.length - 57) % 16) {
    return null;
  }
  const signed = data.subarray(0, data.length - 32);
  const mac = data.subarray(data.length - 32);
  for (const key of keys) {
    const raw = Buffer.from(key.trim(), "base64url");
    if (raw.length !== 32) continue;
    const expected = createHmac("sha256", raw.subarray(0, 16)).update(signed).digest();
    if (!timingSafeEqual(expected, mac)) continue;
    const iv = data.subarray(9, 25);
    const decipher = createDecipheriv("aes-128-cbc", raw.subarray(16), iv);
    return Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
  }
  return null;
}

/**
 * The token in `ciphertext`, checked to belong to this row and column ("access" or "refresh").
 * Throws when no key opens it, or when it was made for another row or column.
 */
export function decryptToken(ciphertext, { userId, platform, column }, keys) {
  const payload = fernetDecrypt(ciphertext, keys);
  if (payload === null) {
    throw new Error("no configured key opens this ciphertext (wrong TOKENSYNC_ENCRYPTION_KEYS?)");
  }
  const head = Buffer.concat([MAGIC, binding(userId, platform, column)]);
  const found = payload.subarray(0, head.length);
  if (found.length !== head.length || !timingSafeEqual(found, head)) {
    throw new Error("this ciphertext belongs to another connection or column: refusing it");
  }
  return payload.subarray(head.length).toString("utf8");
}

/** A row's access token if it can be used for `minTtl` seconds more; else throws, saying why. */
export function usableAccessToken(row, keys, minTtl = MIN_TTL_SECONDS) {
  if (!("status" in row) || !("expires_at" in row)) {
    throw new Error("select status and expires_at with the token: both say if it is usable");
  }
  if (row.status !== "active") {
    throw Object.assign(new Error(`the connection is ${row.status}: the user must reconnect`), {
      unusable: true,
    });
  }
  if (row.expires_at !== null && Date.parse(row.expires_at) - Date.now() < minTtl * 1000) {
    throw Object.assign(new Error("the token expires soon: run `tokensync tokens get`"), {
      unusable: true,
    });
  }
  const where = { userId: row.user_id, platform: row.platform, column: "access" };
  return decryptToken(row.access_token_enc, where, keys);
}

async function main() {
  const keys = (process.env.TOKENSYNC_ENCRYPTION_KEYS ?? "").split(",").filter((k) => k.trim());
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  let row = JSON.parse(input);
  if (Array.isArray(row)) [row] = row;
  try {
    process.stdout.write(usableAccessToken(row, keys) + "\n");
  } catch (error) {
    process.stderr.write(`read-token: ${error.message}\n`);
    process.exitCode = error.unusable ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
