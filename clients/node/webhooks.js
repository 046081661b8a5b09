// Lifecycle events: Standard Webhooks deliveries, as tokensync signs them (README: "Lifecycle
// events").

import { createHmac, timingSafeEqual } from "node:crypto";

import { TokensyncError } from "./errors.js";

/** How far a webhook-timestamp may be from now, in seconds (Standard Webhooks). */
export const WEBHOOK_TOLERANCE = 5 * 60;

function header(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/**
 * The event of a tokensync webhook delivery, checked: signed (HMAC-SHA256, Standard Webhooks) by
 * one of `secrets` ("whsec_..." strings: both while the secret rotates), over the raw `body`
 * (a string or the bytes received, never re-serialised JSON), with a webhook-timestamp within
 * `toleranceSeconds` of now. Throws TokensyncError (code invalid_webhook) otherwise. Deduplicate
 * by the webhook-id header: a delivery may come more than once.
 */
export function verifyWebhook(
  headers,
  body,
  secrets,
  { toleranceSeconds = WEBHOOK_TOLERANCE, nowSeconds = Date.now() / 1000 } = {},
) {
  const refuse = (message) => new TokensyncError("invalid_webhook", message);
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) throw refuse("missing webhook headers");
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) {
    throw refuse("the timestamp is too old or too new (a replayed delivery?)");
  }
  const raw = Buffer.isBuffer(body) || body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(String(body));
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), raw]);
  const list = (Array.isArray(secrets) ? secrets : [secrets]).filter(Boolean);
  if (!list.length) throw new TypeError("give at least one webhook secret");
  const expected = list.map((secret) =>
    createHmac("sha256", Buffer.from(String(secret).replace(/^whsec_/, ""), "base64"))
      .update(signed)
      .digest(),
  );
  for (const entry of signatures.split(" ")) {
    const [version, signature] = entry.split(",");
    if (version !== "v1") continue;
    const given = Buffer.from(signature ?? "", "base64");
    if (expected.some((mac) => given.length === mac.length && timingSafeEqual(given, mac))) {
      return JSON.parse(raw.toString("utf8"));
    }
  }
  throw refuse("no matching signature");
}

