#!/usr/bin/env node
// A template: export an application's own token table as `tokensync tokens import` lines.
//
// The tokens are decrypted here with the application's own key, written as JSON Lines to stdout,
// and piped into tokensync, which encrypts them with its own key (nothing in plaintext on disk):
//
//   OLD_DATABASE_URL=postgres://... OLD_TOKEN_KEY=... node export-tokens.mjs --check
//   OLD_DATABASE_URL=postgres://... OLD_TOKEN_KEY=... node export-tokens.mjs | tokensync tokens import
//
// `--check` decrypts every row and prints how many there are, and no token: run it first, since
// an import commits what it was given, and a pipe cut short by a bad row gives it a part.
// docs/migrating.md is the whole procedure. Adapt the three marked places to your application:
// the query (your table), decryptOld (your encryption) and PLATFORMS (your provider names).
// Needs your app's PostgreSQL client (`pg`). Errors name a row by its id, never a token.

import { createDecipheriv } from "node:crypto";
import { pathToFileURL } from "node:url";

import pg from "pg";

// ADAPT 1: your table. Keyset pages by id, so a big table is read a page at a time.
const PAGE = 1000;
const QUERY = `
  SELECT id, user_id, provider, access_token, refresh_token, expires_at, scope, connected_at
  FROM oauth_tokens WHERE id > $1 ORDER BY id LIMIT $2`;

// ADAPT 2: your provider names, as tokensync's platforms (tokensync's README: "Configuration").
export const PLATFORMS = {
  spotify: "spotify",
  github: "github",
  discord: "discord",
  google: "youtube",
};

// ADAPT 3: your encryption. This one is AES-256-GCM, stored as "iv:tag:ciphertext" in hex, with a
// 32-byte key in hex (OLD_TOKEN_KEY): a common way to do it, not the only one.
export function decryptOld(stored, key) {
  const [iv, tag, data] = stored.split(":").map((part) => Buffer.from(part, "hex"));
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
}

/** One import line (tokensync's README: "Import format") of a row of the old table. */
export function importLine(row, key) {
  const platform = PLATFORMS[row.provider];
  if (!platform) throw new Error(`row ${row.id}: no tokensync platform for provider ${row.provider}`);
  let accessToken, refreshToken;
  try {
    accessToken = decryptOld(row.access_token, key);
    refreshToken = row.refresh_token === null ? null : decryptOld(row.refresh_token, key);
  } catch {
    throw new Error(`row ${row.id}: its tokens do not decrypt with OLD_TOKEN_KEY`);
  }
  const line = { userId: String(row.user_id), platform, accessToken };
  if (refreshToken !== null) line.refreshToken = refreshToken;
  if (row.expires_at !== null) line.expiresAt = new Date(row.expires_at).toISOString();
  if (row.scope) line.scope = row.scope;
  // When the user authorised it: dates the grant's end where the platform has a rule (Spotify).
  if (row.connected_at) line.authorizedAt = new Date(row.connected_at).toISOString();
  return line;
}

async function* rows(client) {
  let after = 0;
  for (;;) {
    const { rows: page } = await client.query(QUERY, [after, PAGE]);
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1].id;
  }
}

async function main() {
  const check = process.argv.includes("--check");
  const key = Buffer.from(process.env.OLD_TOKEN_KEY ?? "", "hex");
  if (key.length !== 32) throw new Error("OLD_TOKEN_KEY must be 32 bytes in hex");
  const client = new pg.Client({ connectionString: process.env.OLD_DATABASE_URL });
  await client.connect();
  let count = 0;
  try {
    for await (const row of rows(client)) {
      const line = importLine(row, key);
      count += 1;
      if (!check && !process.stdout.write(JSON.stringify(line) + "\n")) {
        await new Promise((resolve) => process.stdout.once("drain", resolve));
      }
    }
  } finally {
    await client.end();
  }
  process.stderr.write(`export-tokens: ${count} connections${check ? " decrypt" : " exported"}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await main();
  } catch (error) {
    process.stderr.write(`export-tokens: ${error.message}\n`);
    process.exitCode = 1;
  }
}
