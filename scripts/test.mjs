#!/usr/bin/env node
// npm test: bring the build up to date (incrementally), build the test
// guests, then run every unit and end-to-end test on node's test runner.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.error || r.status !== 0) process.exit(r.status ?? 1);
}

run(process.execPath, ["scripts/install.mjs"]);
run("make", ["-s", "-C", "test/guests"]);
const files = ["unit", "e2e"].flatMap((dir) =>
  readdirSync(join("dist/test", dir))
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join("dist/test", dir, f)),
);
run(process.execPath, ["--test", ...process.argv.slice(2), ...files]);
