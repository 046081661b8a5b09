// encryptToken / decryptToken: Fernet with the row binding (docs/storage-format.md). That Python
// reads what these write, and the other way round, is tests/process/test_node_client.py's part.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { binding, decryptToken, encryptToken, parseKeys } from "../index.js";

const newKey = () => randomBytes(32).toString("base64url") + "=";
const KEY = newKey();
const ROW = { userId: "u1", platform: "spotify", column: "access" };

test("a token encrypted for a row decrypts for that row, under any key of the list", () => {
  const sealed = encryptToken("AT-1", ROW, KEY);
  assert.equal(decryptToken(sealed, ROW, KEY), "AT-1");
  assert.equal(decryptToken(sealed, ROW, `${newKey()},${KEY}`), "AT-1", "while rotating");
  assert.equal(decryptToken(sealed, ROW, [newKey(), KEY]), "AT-1");
});

test("the ciphertext is a Fernet token: version 0x80, URL-safe base64 with padding", () => {
  const sealed = encryptToken("AT-1", ROW, KEY);
  assert.match(sealed, /^gAAAAA[A-Za-z0-9_-]+=*$/);
  const raw = Buffer.from(sealed, "base64url");
  assert.equal(raw[0], 0x80);
  assert.equal((raw.length - 57) % 16, 0);
  assert.equal(sealed.length % 4, 0, "padded");
  const stamp = Number(raw.readBigUInt64BE(1));
  assert.ok(Math.abs(stamp - Date.now() / 1000) < 3600, "its timestamp is now");
});

test("a ciphertext is refused for another row, another column, or without its key", () => {
  const sealed = encryptToken("AT-1", ROW, KEY);
  for (const where of [
    { ...ROW, userId: "u2" },
    { ...ROW, platform: "github" },
    { ...ROW, column: "refresh" },
  ]) {
    assert.throws(() => decryptToken(sealed, where, KEY), {
      code: "decrypt_failed",
      message: /another connection or column/,
    });
  }
  assert.throws(() => decryptToken(sealed, ROW, newKey()), { code: "decrypt_failed" });
  const flipped = Buffer.from(sealed, "base64url");
  flipped[30] ^= 1;
  assert.throws(() => decryptToken(flipped.toString("base64url"), ROW, KEY), {
    code: "decrypt_failed",
  });
});

test("the binding is the first 16 bytes of SHA-256 of user, platform and column", () => {
  // Computed by tokensync.crypto.binding("u1", "spotify", "access").
  assert.equal(binding("u1", "spotify", "access").toString("hex"), EXPECTED_BINDING);
  assert.throws(() => binding("u1", "spotify", "other"), TypeError);
});

test("keys: a malformed one is refused, comments and blanks are not keys", () => {
  assert.throws(() => parseKeys("not-a-key"), { code: "bad_keys" });
  assert.throws(() => parseKeys(""), { code: "bad_keys" });
  assert.equal(parseKeys(` ${KEY} , ,`).length, 1);
});

const EXPECTED_BINDING = "e6591ba32a41e63988c088e32ee5c3fa";
