// torov as a library: run an application as a KVM virtual machine.
//
//   import { run } from "torov";
//   const status = await run("examples/hello/hello.json");

export { run, Machine, type MachineOptions, type RunOptions } from "./vmm/machine.js";
export { loadManifest, parseManifest, type Manifest } from "./vmm/manifest.js";
export { Policy, type PolicyEntry } from "./vmm/policy.js";
export { HYPERCALLS, GROUPS, type Hypercall } from "./vmm/hypercalls.js";
export { TorovError, type TorovErrorCode } from "./vmm/errors.js";
export type { RunOutcome } from "./vmm/report.js";
export { Tracer, type TraceOptions } from "./trace/tracer.js";
export type { TraceRecord } from "./trace/records.js";
