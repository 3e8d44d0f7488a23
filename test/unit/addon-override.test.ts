// TOROV_ADDON (src/vmm/native.ts): a sanitizer build (scripts/sanitize.mjs)
// is loaded instead of build/Release's, exactly the file named, or an error
// that names it.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { addonOverride } from "../../src/vmm/native.js";
import { tempDir } from "../helpers.js";

test("unset or empty, build/Release's addon is used", () => {
  assert.equal(addonOverride({}), undefined);
  assert.equal(addonOverride({ TOROV_ADDON: "" }), undefined);
});

test("a file that exists is the addon", () => {
  const path = join(tempDir(), "torov.node");
  writeFileSync(path, "");
  assert.equal(addonOverride({ TOROV_ADDON: path }), path);
});

test("a missing file or a relative path is an error that names it", () => {
  const path = join(tempDir(), "absent.node");
  assert.throws(() => addonOverride({ TOROV_ADDON: path }), { message: `TOROV_ADDON names ${path}, which does not exist` });
  assert.throws(() => addonOverride({ TOROV_ADDON: "build-asan/torov.node" }), /must be an absolute path/);
});
