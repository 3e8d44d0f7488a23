// torov profile: a least-privilege manifest from a run. The output is the
// input manifest with one change: `Hypercalls` lists exactly the forwarded
// hypercalls the run needed, sorted, each allowed by name (no groups, no
// "*"). Relative paths are rewritten when the output lives in another
// folder, so that they still name the same files.

import { dirname, isAbsolute, relative, resolve } from "node:path";
import { TorovError } from "../vmm/errors.js";
import { HYPERCALLS, hypercallByName } from "../vmm/hypercalls.js";
import type { Manifest } from "../vmm/manifest.js";

/** The forwarded hypercalls among `numbers`, by name. */
export function forwardedNames(numbers: Iterable<number>): string[] {
  const set = new Set(numbers);
  return HYPERCALLS.filter((h) => h.kind === "forwarded" && set.has(h.nr)).map((h) => h.name);
}

/** The names an earlier profile allows; an error if it is not one (groups, "*", denials). */
export function profiledNames(previous: Manifest): string[] {
  const names: string[] = [];
  for (const e of previous.hypercalls) {
    const h = hypercallByName(e.name);
    if (!e.allowed || !h || h.kind !== "forwarded")
      throw new TorovError(`--merge ${previous.path}: not a profile (Hypercalls has "${e.name}"${e.allowed ? "" : " denied"}; a profile allows forwarded hypercalls by name only)`, "EUSAGE");
    names.push(h.name);
  }
  return names;
}

/** The profiled manifest as JSON text, to be written at `outPath`. */
export function profileManifest(input: Manifest, names: readonly string[], outPath: string): string {
  const raw = structuredClone(input.raw);
  const inDir = dirname(input.path);
  const outDir = dirname(resolve(outPath));
  if (inDir !== outDir) {
    for (const key of ["Binary", "MountPoint"]) {
      const v = raw[key];
      if (typeof v === "string" && v !== "" && !isAbsolute(v)) raw[key] = relative(outDir, resolve(inDir, v)) || ".";
    }
  }
  // ToroV wrote "True"; keep the input's way of spelling booleans.
  const previous = Array.isArray(raw.Hypercalls) ? (raw.Hypercalls as Array<Record<string, unknown>>) : [];
  const allowed = previous.some((e) => typeof e?.Allowed === "string") ? "True" : true;
  raw.Hypercalls = [...new Set(names)].sort().map((Name) => ({ Name, Allowed: allowed }));
  // One hypercall per line, as ToroV's manifests have them.
  return JSON.stringify(raw, null, 2).replace(/\{\n\s*"Name": ("[^"]*"),\n\s*"Allowed": (true|"True")\n\s*\}/g, '{ "Name": $1, "Allowed": $2 }') + "\n";
}
