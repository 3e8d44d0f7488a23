// torov run app.json [-- args...]: the application runs to its end and the
// process exits with its status (128 + signal when it was killed).

import { loadManifest } from "../vmm/manifest.js";
import { Machine } from "../vmm/machine.js";

export async function run(manifestPath: string, args: string[]): Promise<void> {
  const manifest = loadManifest(manifestPath);
  // Debug.Allowed: wait for a debugger first, as ToroV did.
  if (manifest.debug.allowed) return (await import("./debug.js")).debug(manifest, args, {});
  const machine = new Machine(manifest, { args });
  const result = await machine.start();
  if (result.report.length) (await import("./ui.js")).report(result.report);
  process.exitCode = result.status;
}
