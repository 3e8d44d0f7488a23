// torov trace app.json [-o FILE] [-e EXPR] [-s N] [-c] [-C] [-T] [-t|-tt] [--json] [-- args]:
// the application runs as with `torov run`, and every hypercall it makes is
// written as strace writes system calls.

import { TorovError } from "../vmm/errors.js";
import { loadManifest } from "../vmm/manifest.js";
import { Machine } from "../vmm/machine.js";
import { parseTraceFilter } from "../trace/filter.js";
import { Tracer } from "../trace/tracer.js";
import * as ui from "./ui.js";
import { EXIT_SIGPIPE } from "./status.js";

export interface TraceCliOptions {
  output?: string;
  expr?: string[];
  stringLimit?: string;
  summaryOnly?: boolean;
  summary?: boolean;
  syscallTimes?: boolean;
  absoluteTimestamps?: number;
  json?: boolean;
}

export async function run(manifestPath: string, args: string[], options: TraceCliOptions): Promise<void> {
  const strsize = options.stringLimit === undefined ? 32 : Number(options.stringLimit);
  if (!Number.isInteger(strsize) || strsize < 0 || strsize > 1 << 20)
    throw new TorovError(`-s: "${options.stringLimit}" is not a string length (0 to 1048576)`, "EUSAGE");
  const filter = parseTraceFilter(options.expr ?? []);
  const manifest = loadManifest(manifestPath);
  const machine = new Machine(manifest, { args });
  const tracer = new Tracer(machine, {
    output: options.output,
    filter,
    strsize,
    summary: options.summaryOnly || options.summary,
    lines: !options.summaryOnly,
    timestamps: options.absoluteTimestamps ?? 0,
    durations: options.syscallTimes,
    json: options.json,
    onReaderGone: () => process.exit(EXIT_SIGPIPE),
  });
  tracer.enable();
  const outcome = await machine.start();
  tracer.finish(outcome);
  if (outcome.report.length) ui.report(outcome.report);
  process.exitCode = outcome.status;
}
