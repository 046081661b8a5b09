// One step of a Node application, for the Python tests of clients/node
// (tests/process/test_node_client.py):
//
//   node tests/support/node_steps.mjs '{"op": "save", "db": {"sqlite": PATH} | {"pg": URL}, ...}'
//
// with the keys in TOKENSYNC_ENCRYPTION_KEYS. Prints the step's result as JSON, or
// {"error": {"code", "message"}} and exits 1. The database clients are those the package's tests
// install (clients/node/package.json, devDependencies).

import { createRequire } from "node:module";
import * as tokensync from "../../clients/node/index.js";

const require = createRequire(new URL("../../clients/node/package.json", import.meta.url));

async function open(db) {
  if (db.sqlite) {
    const Database = require("better-sqlite3");
    const handle = new Database(db.sqlite);
    handle.pragma("busy_timeout = 10000");
    return { handle, close: async () => handle.close() };
  }
  const { Client } = require("pg");
  const handle = new Client({ connectionString: db.pg });
  await handle.connect();
  return { handle, close: () => handle.end() };
}

const step = JSON.parse(process.argv[2]);
const db = await open(step.db);
try {
  let result;
  if (step.op === "save") {
    result = await tokensync.saveGrant(db.handle, {
      userId: step.userId,
      platform: step.platform,
      grant: step.grant,
      ...(step.now ? { now: new Date(step.now) } : {}),
    });
  } else if (step.op === "request") {
    result = await tokensync.requestRefresh(db.handle, step.userId, step.platform);
  } else if (step.op === "token") {
    result = await tokensync.freshAccessToken(db.handle, step.userId, step.platform, step.options);
  } else {
    throw new Error(`unknown step ${step.op}`);
  }
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: { code: error.code, message: error.message } }) + "\n");
  process.exitCode = 1;
} finally {
  await db.close();
}
