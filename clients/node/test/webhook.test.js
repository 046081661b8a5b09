// verifyWebhook: Standard Webhooks, as tokensync signs (src/tokensync/events/webhook.py). What tokensync
// itself signs is verified in tests/process/test_node_webhook.py, through
// examples/node/verify-webhook.mjs.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";

import { verifyWebhook } from "../index.js";

const secret = () => `whsec_${randomBytes(24).toString("base64")}`;
const OLD = secret();
const NEW = secret();
const BODY = JSON.stringify({ type: "connection.recovered", data: { userId: "u1" } });

function deliver(secrets, body = BODY, timestamp = Math.floor(Date.now() / 1000)) {
  const id = `evt_${randomBytes(16).toString("hex")}`;
  const signatures = secrets.map((s) => {
    const key = Buffer.from(s.slice("whsec_".length), "base64");
    return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
  });
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatures.join(" "),
  };
}

test("a delivery signed with either secret verifies while the secret rotates", () => {
  const both = deliver([NEW, OLD]);
  assert.deepEqual(verifyWebhook(both, BODY, [NEW]), JSON.parse(BODY));
  assert.deepEqual(verifyWebhook(both, BODY, OLD), JSON.parse(BODY));
  // A receiver that has the new secret first and the old one second reads either sender.
  assert.deepEqual(verifyWebhook(deliver([OLD]), BODY, [NEW, OLD]), JSON.parse(BODY));
  assert.deepEqual(verifyWebhook(deliver([NEW]), Buffer.from(BODY), [NEW, OLD]), JSON.parse(BODY));
});

test("headers are read whatever their case, or from a Fetch Headers object", () => {
  const sent = deliver([NEW]);
  const upper = Object.fromEntries(Object.entries(sent).map(([k, v]) => [k.toUpperCase(), v]));
  assert.deepEqual(verifyWebhook(upper, BODY, NEW), JSON.parse(BODY));
  assert.deepEqual(verifyWebhook(new Headers(sent), BODY, NEW), JSON.parse(BODY));
});

test("an altered, forged, replayed or unsigned delivery is refused", () => {
  const sent = deliver([NEW]);
  const refused = { code: "invalid_webhook" };
  assert.throws(() => verifyWebhook(sent, BODY.replace("u1", "u2"), NEW), refused);
  assert.throws(() => verifyWebhook(sent, BODY, secret()), { ...refused, message: /no matching/ });
  assert.throws(() => verifyWebhook({ ...sent, "webhook-id": "evt_other" }, BODY, NEW), refused);
  const old = deliver([NEW], BODY, Math.floor(Date.now() / 1000) - 10 * 60);
  assert.throws(() => verifyWebhook(old, BODY, NEW), { ...refused, message: /too old/ });
  const future = deliver([NEW], BODY, Math.floor(Date.now() / 1000) + 10 * 60);
  assert.throws(() => verifyWebhook(future, BODY, NEW), refused);
  const { "webhook-signature": _, ...unsigned } = sent;
  assert.throws(() => verifyWebhook(unsigned, BODY, NEW), { ...refused, message: /missing/ });
  // Within a tolerance the receiver chose, the old one passes.
  assert.ok(verifyWebhook(old, BODY, NEW, { toleranceSeconds: 11 * 60 }));
});
