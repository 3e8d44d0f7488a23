// The torov command line. This file only registers commands; each lives in
// its own file, imported when it runs, and exports `run(...)`.
//
// Exit status: the guest's own (or 128 + signal) for a run; 2 for bad input
// (a TorovError or a usage error); 70 for a bug in torov.

import { isTorovError } from "../vmm/errors.js";

const EXIT_USAGE = 2;
const EXIT_BUG = 70;

async function main(argv: string[]): Promise<void> {
  // `torov run app.json [--] [args...]` is the command that runs most often
  // and whose start-up is measured: it does not need commander (8 ms to load).
  const [command, manifest, ...rest] = argv.slice(2);
  if (command === "run" && manifest && !manifest.startsWith("-")) {
    return (await import("./run.js")).run(manifest, rest[0] === "--" ? rest.slice(1) : rest);
  }
  const { Command, CommanderError } = await import("commander");
  const program = new Command("torov")
    .description("Run a static Linux program as its own KVM virtual machine, every system call checked against its manifest.")
    .enablePositionalOptions()
    .showHelpAfterError("(run torov help for usage)")
    .exitOverride();

  program
    .command("run")
    .description("run the application a manifest describes; arguments after it go to the program")
    .argument("<manifest>", "the app's JSON manifest")
    .argument("[args...]", "arguments for the program (after the manifest's Args)")
    .passThroughOptions()
    .action(async (manifest: string, args: string[]) => (await import("./run.js")).run(manifest, args));

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
