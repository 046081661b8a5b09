#!/usr/bin/env node
// Verify a tokensync lifecycle event delivery, from Node.js, with node:crypto only.
//
// Deliveries follow the Standard Webhooks specification: the `standardwebhooks` npm package
// verifies them in one call (`new Webhook(secret).verify(rawBody, headers)`); this file does the
// same by hand, for an application that would rather not add a dependency. The signature is
// HMAC-SHA256, keyed with the base64 after `whsec_`, over "webhook-id.webhook-timestamp.body";
// `webhook-signature` holds one "v1,<base64>" per secret tokensync signs with (two while the
// secret rotates), space-separated; any one that matches will do. A timestamp more than five
// minutes from now is refused (a replayed request).
//
//   node verify-webhook.mjs < delivery.json      # {"headers": {...}, "body": "<the raw body>"}
//
// with the secret in WEBHOOK_SECRET; prints the event, or exits 1 saying why not. Deduplicate by
// `webhook-id`: a delivery may come more than once. In your own code, import verifyDelivery.

import { createHmac, timingSafeEqual } from "node:crypto";
import { pathToFileURL } from "node:url";

export const TOLERANCE_SECONDS = 5 * 60;

/** The event of a delivery, if `secret` signed it recently; throws otherwise. */
export function verifyDelivery(secret, headers, body, nowSeconds = Date.now() / 1000) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const id = lower["webhook-id"];
  const timestamp = lower["webhook-timestamp"];
  const signatures = lower["webhook-signature"];
  if (!id || !timestamp || !signatures) throw new Error("missing webhook headers");
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) {
    throw new Error("the timestamp is too old or too new");
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  for (const entry of signatures.split(" ")) {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    if (version === "v1" && given.length === expected.length && timingSafeEqual(given, expected)) {
      return JSON.parse(body);
    }
  }
  throw new Error("no matching signature");
}

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { headers, body } = JSON.parse(input);
  try {
    const event = verifyDelivery(process.env.WEBHOOK_SECRET ?? "", headers, body);
    process.stdout.write(JSON.stringify(event) + "\n");
  } catch (error) {
    process.stderr.write(`verify-webhook: ${error.message}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
