// The torov command line. This file only registers commands; each lives in
// its own file, imported when it runs, and exports `run(...)`.
//
// Exit status: the guest's own (or 128 + signal) for a run; 2 for bad input
// (a TorovError or a usage error); 70 for a bug in torov; 141 when the
// reader of torov's output went away.

import { isTorovError } from "../vmm/errors.js";
import { EXIT_BUG, EXIT_SIGPIPE, EXIT_USAGE } from "./status.js";

/** The program's arguments: what follows the manifest, less one leading "--". */
function programArgs(args: string[]): string[] {
  return args[0] === "--" ? args.slice(1) : args;
}

async function main(argv: string[]): Promise<void> {
  // `torov run app.json [--] [args...]` is the command that runs most often
  // and whose start-up is measured: it does not need commander (8 ms to load).
  const [command, manifest, ...rest] = argv.slice(2);
  if (command === "run" && manifest && !manifest.startsWith("-")) {
    return (await import("./run.js")).run(manifest, programArgs(rest));
  }
  const { Command, CommanderError } = await import("commander");
  const program = new Command("torov")
    .description("Run a static Linux program as its own KVM virtual machine, every system call checked against its manifest.")
    .enablePositionalOptions()
    .showHelpAfterError("(run torov help for usage)")
    .addHelpText(
      "after",
      "\nExit status: the guest's own; 128 + n when signal n ended it; 2 for bad input (a manifest,\n" +
        "a binary, the command line), said in one line; 70 for a bug in torov. doctor: 1 when this\n" +
        "host cannot run torov VMs. See SECURITY.md.",
    )
    .exitOverride();

  program
    .command("run")
    .description("run the application a manifest describes; arguments after it go to the program")
    .argument("<manifest>", "the app's JSON manifest")
    .argument("[args...]", "arguments for the program (after the manifest's Args)")
    .passThroughOptions()
    .action(async (manifest: string, args: string[]) => (await import("./run.js")).run(manifest, programArgs(args)));

  program
    .command("debug")
    .description("run the application stopped before its first instruction, with a GDB stub")
    .argument("<manifest>", "the app's JSON manifest")
    .argument("[args...]", "arguments for the program (after --)")
    .option("--port <port>", "TCP port to listen on (default: the manifest's Debug.Port, or 1234)")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--stdio", "speak the protocol on stdin/stdout: target remote | torov debug --stdio app.json")
    .option("--gdb", "start GDB in this terminal, attached, with the program's symbols")
    .option("--stop-on-denied", "stop with SIGSYS when the manifest refuses a hypercall")
    .action(async (manifest: string, args: string[], opts) => (await import("./debug.js")).run(manifest, args, opts));

  program
    .command("trace")
    .description("run the application and show its hypercalls as strace shows system calls")
    .argument("<manifest>", "the app's JSON manifest")
    .argument("[args...]", "arguments for the program: everything after the manifest, as with strace")
    .option("-o, --output <file>", "write the trace to a file (default: stderr)")
    .option("-e, --expr <expr>", "which calls: -e read,write, -e trace=@file, -e '!mmap' (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("-s, --string-limit <n>", "the longest string shown (default 32; paths are shown in full)")
    .option("-c, --summary-only", "count time, calls and errors per call; print the table at the end, no lines")
    .option("-C, --summary", "like -c, and the lines too")
    .option("-T, --syscall-times", "show the time spent in each call")
    .option("-t, --absolute-timestamps", "prefix each line with the time of day (-tt: with microseconds, -ttt: since the epoch)", (_v: string, prev: number = 0) => prev + 1)
    .option("--json", "one JSON object per call (seq, ts, name, nr, args, ret, errno, dur_ns, denied)")
    .passThroughOptions() // as strace: what follows the manifest is the program's
    .action(async (manifest: string, args: string[], opts) => (await import("./trace.js")).run(manifest, programArgs(args), opts));

  program
    .command("profile")
    .description("run the application with every hypercall allowed; write the manifest that allows just those it used")
    .argument("<manifest>", "the app's JSON manifest")
    .argument("[args...]", "arguments for the program (after --)")
    .option("-o, --output <file>", "where the profiled manifest goes (required)")
    .option("--merge <profile>", "also allow what an earlier profile allows (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .action(async (manifest: string, args: string[], opts) => (await import("./profile.js")).run(manifest, programArgs(args), opts));

  program
    .command("vscode")
    .description("write .vscode/launch.json and tasks.json to debug the application from VS Code")
    .argument("<manifest>", "the app's JSON manifest")
    .option("--dir <folder>", "the workspace folder", ".")
    .option("--port <port>", "the port torov debug listens on (default: Debug.Port, or 1234)")
    .action(async (manifest: string, opts) => (await import("./vscode.js")).run(manifest, opts));

  program
    .command("validate")
    .description("check a manifest as run would, without KVM or running anything, and say what its guest would see")
    .argument("<manifest>", "the app's JSON manifest")
    .action(async (manifest: string) => (await import("./validate.js")).run(manifest));

  program
    .command("doctor [manifest]")
    .description("what this host offers torov: KVM, debugging, containment, tools (for bug reports); with a manifest, also what its guest sees")
    .action(async (manifest?: string) => (await import("./doctor.js")).run(manifest));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw e;
  }
}

// A reader that goes away (`torov doctor | head -3`) ends torov quietly, as
// SIGPIPE ends a Unix tool: status 128 + 13 and no message (Node ignores
// SIGPIPE, so its writes fail with EPIPE instead).
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(EXIT_SIGPIPE);
  });
}

main(process.argv).catch(async (e: unknown) => {
  const ui = await import("./ui.js");
  if (isTorovError(e)) {
    ui.error(e.message);
    process.exitCode = EXIT_USAGE;
  } else {
    ui.bug(e);
    process.exitCode = EXIT_BUG;
  }
});
