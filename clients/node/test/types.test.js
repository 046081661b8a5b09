// index.d.ts describes index.js's calls: a TypeScript program using them compiles under --strict.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

test("the types compile against a program that uses every call", () => {
  const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
  const program = fileURLToPath(new URL("./types-check.ts", import.meta.url));
  execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext",
    "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node", program], {
    stdio: "pipe",
  });
});
