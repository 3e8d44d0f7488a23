// torov profile app.json -o out.json [--merge earlier.json] [-- args]: runs
// the application with every forwarded hypercall allowed, then writes the
// manifest that allows exactly those it used.

import { existsSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { TorovError } from "../vmm/errors.js";
import { loadManifest } from "../vmm/manifest.js";
import { Machine } from "../vmm/machine.js";
import { Policy } from "../vmm/policy.js";
import { forwardedNames, profileManifest, profiledNames } from "../trace/profile.js";
import * as ui from "./ui.js";

export interface ProfileOptions {
  output?: string;
  merge?: string[];
}

export async function run(manifestPath: string, args: string[], options: ProfileOptions): Promise<void> {
  if (!options.output) throw new TorovError("torov profile: -o FILE is required (where the profiled manifest goes)", "EUSAGE");
  const manifest = loadManifest(manifestPath);
  // Fail before the run, not after it.
  const folder = dirname(resolve(options.output));
  if (!existsSync(folder)) throw new TorovError(`-o ${options.output}: the folder ${folder} does not exist`, "EUSAGE");
  const earlier = (options.merge ?? []).flatMap((m) => profiledNames(loadManifest(m)));
  const machine = new Machine(manifest, { args, policy: Policy.allowAll() });
  const outcome = await machine.start();
  if (outcome.report.length) ui.report(outcome.report);
  const used = forwardedNames(machine.native.neededHypercalls());
  const names = [...new Set([...used, ...earlier])].sort();
  try {
    writeFileSync(options.output, profileManifest(manifest, names, options.output));
  } catch (e) {
    throw new TorovError(`-o ${options.output}: ${(e as Error).message.replace(/^\w+: /, "")}`, "EUSAGE");
  }
  const merged = earlier.length ? ` (with ${options.merge!.join(", ")})` : "";
  ui.info(`profile: ${names.length} forwarded hypercalls allowed${merged}: ${names.join(" ") || "none"}`);
  ui.info(`profile: wrote ${options.output}`);
  if (outcome.status !== 0) ui.warn(`profile: the program exited with status ${outcome.status}; a run that fails may not have used everything it needs`);
  process.exitCode = outcome.status;
}
