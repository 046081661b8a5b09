#!/usr/bin/env node
// Verify a tokensync lifecycle event delivery, from Node.js, with node:crypto only.
//
// Deliveries follow the Standard Webhooks specification: the `standardwebhooks` npm package
// verifies them in one call (`new Webhook(secret).verify(rawBody, headers)`); this file does the
// same with the package in clients/node (node:crypto alone), for an application that would
// rather not add a dependency. The signature is HMAC-SHA256, keyed with the base64 after
// `whsec_`, over "webhook-id.webhook-timestamp.body";
// `webhook-signature` holds one "v1,<base64>" per secret tokensync signs with (two while the
// secret rotates), space-separated; any one that matches will do. A timestamp more than five
// minutes from now is refused (a replayed request).
//
//   node verify-webhook.mjs < delivery.json      # {"headers": {...}, "body": "<the raw body>"}
//
// with the secret in WEBHOOK_SECRET; prints the event, or exits 1 saying why not. Deduplicate by
// `webhook-id`: a delivery may come more than once. In your own code, use verifyWebhook of the
// package in clients/node (docs/node.md).

import { pathToFileURL } from "node:url";

// The package in clients/node does the checking (docs/node.md).
import { verifyWebhook, WEBHOOK_TOLERANCE } from "../../clients/node/index.js";

export const TOLERANCE_SECONDS = WEBHOOK_TOLERANCE;

/** The event of a delivery, if `secret` (or one of a list of secrets) signed it recently. */
export function verifyDelivery(secret, headers, body, nowSeconds = Date.now() / 1000) {
  return verifyWebhook(headers, body, secret, { nowSeconds });
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
