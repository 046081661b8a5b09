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
// In your own code, use the package in clients/node (docs/node.md): its freshAccessToken reads
// the row, checks it and asks tokensync for a refresh when the token is too old.

import { pathToFileURL } from "node:url";

// The package in clients/node: the format and its checks live there (docs/node.md).
import { decryptToken } from "../../clients/node/index.js";

export { binding, decryptToken } from "../../clients/node/index.js";
export const MIN_TTL_SECONDS = 60;

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
