#!/usr/bin/env node
// `npm install` runs this: build the native addon, compile the TypeScript
// and the manifest schema's validator, build the examples. Each step is
// incremental, because npm runs install scripts twice here (the package
// depends on itself, "file:.", so that `npx torov` finds its own bin) and the
// second run should cost nothing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

function step(what, cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit status ${r.status}`;
    console.error(`torov install: ${what} failed (${cmd} ${args.join(" ")}: ${why})`);
    process.exit(1);
  }
}

// npm sets npm_config_node_gyp to the node-gyp it bundles; run directly
// (node scripts/test.mjs), use that same one, next to node.
const bundled = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const nodeGyp = gyp ? [process.execPath, [gyp]] : ["node-gyp", []];
if (!existsSync("build/Makefile")) step("configuring the native addon", nodeGyp[0], [...nodeGyp[1], "configure"]);
step("building the native addon", nodeGyp[0], [...nodeGyp[1], "build"]);

const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
if (existsSync(tsc)) step("compiling TypeScript", process.execPath, [tsc, "-p", ".", "--incremental"]);
else if (!existsSync("dist/src/cli/index.js")) {
  console.error("torov install: TypeScript is not installed and dist/ is missing: run npm install without --omit=dev");
  process.exit(1);
}

step("compiling the manifest schema", process.execPath, ["scripts/gen-manifest-validator.mjs"]);

if (existsSync("examples/Makefile")) step("building the examples", "make", ["-s", "-C", "examples"]);
