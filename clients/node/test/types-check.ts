// Compiled (never run) by types.test.js: the calls of docs/node.md type-check against index.d.ts.
import { freshAccessToken, saveGrant, verifyWebhook, TokensyncError, encryptToken, decryptToken, GRANT_LIFETIME_MONTHS } from "../index.js";
declare const pool: { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> };
async function main(): Promise<void> {
  const saved = await saveGrant(pool, { userId: "u", platform: "spotify", grant: { access_token: "a", refresh_token: "r", expires_in: 3600 } });
  const n: number = saved.grantGeneration;
  const t = await freshAccessToken(pool, "u", "spotify", { minTtl: 60, waitMs: 0 });
  const s: string = t.accessToken;
  const e = verifyWebhook({ "webhook-id": "x" }, Buffer.from(""), ["whsec_x"]);
  const ty: string = e.type;
  const c = encryptToken("x", { userId: "u", platform: "p", column: "access" }, "k");
  decryptToken(c, { userId: "u", platform: "p", column: "refresh" }, ["k"]);
  try {
    await freshAccessToken(pool, "u", "spotify");
  } catch (err) {
    if (err instanceof TokensyncError && err.code === "retry") console.log(err.retryable);
  }
  console.log(n, s, ty, GRANT_LIFETIME_MONTHS.spotify);
}
void main;
import { readChanges, type Change } from "../index.js";
async function feed(): Promise<string> {
  const page = await readChanges(pool, { after: null, limit: 10 });
  const keys = page.changes.map((c: Change) => (c.op === "delete" ? c.deletedReason : c.itemKey));
  return page.hasMore ? page.next : keys.join();
}
void feed;
