// Everything the CLI prints about itself goes through here: one prefix, one
// place for colour (chalk decides whether the terminal wants it).

import chalk from "chalk";

const PREFIX = "torov:";

/** A failure the user caused or can fix: one line, no stack. */
export function error(message: string): void {
  process.stderr.write(`${chalk.red(PREFIX)} ${message}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`${chalk.yellow(PREFIX)} ${message}\n`);
}

export function info(message: string): void {
  process.stderr.write(`${chalk.dim(PREFIX)} ${message}\n`);
}

/** A report about the guest (a crash): the first line stands out. */
export function report(lines: readonly string[]): void {
  if (!lines.length) return;
  const [first, ...rest] = lines;
  const head = first.startsWith(PREFIX) ? `${chalk.red(PREFIX)}${chalk.bold(first.slice(PREFIX.length))}` : first;
  process.stderr.write([head, ...rest.map((l) => chalk.dim(l))].join("\n") + "\n");
}

/** A bug in torov: the stack, and what to do with it. */
export function bug(e: unknown): void {
  const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`${chalk.red(`${PREFIX} internal error`)} (this is a bug in torov; please report it with this output)\n${stack}\n`);
}

export const style = { bold: chalk.bold, dim: chalk.dim, green: chalk.green, red: chalk.red, yellow: chalk.yellow, cyan: chalk.cyan };
