// torov vscode writes the two files VS Code needs; the test then does what
// VS Code does with them: run the task until its background end pattern,
// then drive GDB over MI with the launch configuration's settings.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { EXAMPLES, guest, tempDir, torov, writeManifest } from "../helpers.js";
import { hasGdb, Mi } from "./debugger.js";

interface Task {
  label: string;
  command: string;
  args: string[];
  problemMatcher: { background: { endsPattern: string } };
}
interface Config {
  name: string;
  program: string;
  setupCommands: Array<{ text: string }>;
  miDebuggerServerAddress: string;
  preLaunchTask: string;
}

/** What VS Code does with the files torov vscode wrote. */
function configured(dir: string, manifest: string): { config: Config; task: Task } {
  const r = torov(["vscode", manifest, "--dir", dir, "--port", String(40000 + (process.pid % 20000))]);
  assert.equal(r.status, 0, r.stderr);
  const launch = JSON.parse(readFileSync(join(dir, ".vscode", "launch.json"), "utf8"));
  const tasks = JSON.parse(readFileSync(join(dir, ".vscode", "tasks.json"), "utf8"));
  const config = launch.configurations.find((c: Config) => c.name.startsWith("torov: "));
  return { config, task: tasks.tasks.find((t: Task) => t.label === config.preLaunchTask) };
}

/** VS Code: start the task, wait for its end pattern; `exited` resolves with what it printed once it has exited. */
async function startTask(dir: string, task: Task): Promise<{ exited: Promise<string>; kill: () => void }> {
  const proc = spawn(task.command, task.args.map((a: string) => a.replace("${workspaceFolder}", dir)), { cwd: dir });
  let out = "";
  const ends = new RegExp(task.problemMatcher.background.endsPattern);
  await new Promise<void>((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d;
      if (ends.test(out)) resolve();
    };
    proc.stdout.on("data", on);
    proc.stderr.on("data", on);
    proc.on("exit", () => reject(new Error(out)));
  });
  const exited = new Promise<string>((resolve) => {
    let stdout = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.on("exit", () => resolve(stdout));
  });
  return { exited, kill: () => proc.kill("SIGKILL") };
}

/** cppdbg: gdb with the program, the setup commands, then target remote; stopped at the first stop. */
async function attach(dir: string, config: Config): Promise<Mi> {
  const mi = new Mi();
  await mi.cmd("-gdb-set mi-async on");
  for (const c of config.setupCommands) await mi.cmd(c.text.startsWith("-") ? c.text : `-interpreter-exec console "${c.text}"`);
  await mi.cmd(`-file-exec-and-symbols ${config.program.replace("${workspaceFolder}", dir)}`);
  await mi.cmd(`-target-select remote ${config.miDebuggerServerAddress}`);
  await mi.stopped();
  return mi;
}

test("torov vscode: launch.json and tasks.json that VS Code can use", { skip: !hasGdb() && "gdb is not installed" }, async () => {
  const dir = tempDir();
  mkdirSync(join(dir, ".vscode"));
  // An existing launch.json, with comments, keeps its other configurations.
  writeFileSync(join(dir, ".vscode", "launch.json"), `{\n  // mine\n  "version": "0.2.0",\n  "configurations": [ { "name": "other", "type": "node", "request": "launch", }, ],\n}\n`);
  const manifest = join(EXAMPLES, "debugging", "debugging.json");
  const r = torov(["vscode", manifest, "--dir", dir, "--port", String(40000 + (process.pid % 20000))]);
  assert.equal(r.status, 0, r.stderr);
  const launch = JSON.parse(readFileSync(join(dir, ".vscode", "launch.json"), "utf8"));
  const tasks = JSON.parse(readFileSync(join(dir, ".vscode", "tasks.json"), "utf8"));
  assert.deepEqual(launch.configurations.map((c: { name: string }) => c.name), ["other", "torov: average"]);
  const config = launch.configurations[1];
  assert.equal(config.type, "cppdbg");
  assert.equal(config.MIMode, "gdb");
  const task = tasks.tasks.find((t: { label: string }) => t.label === config.preLaunchTask);
  assert.ok(task && task.isBackground);

  const { exited, kill } = await startTask(dir, task);

  const mi = await attach(dir, config);
  try {
    await mi.cmd("-break-insert average.c:17");
    await mi.cmd("-exec-continue");
    assert.equal((await mi.stopped()).reason, "breakpoint-hit");
    const vars = await mi.cmd("-stack-list-variables --simple-values");
    const i = (vars.variables as Array<{ name: string; value?: string }>).find((v) => v.name === "i");
    assert.equal(i?.value, "1", "the loop starts at 1: the bug");
    const first = await mi.cmd(`-data-evaluate-expression "r[0].station"`);
    assert.match(String(first.value), /^0x[0-9a-f]+ "north"$/, "the reading the loop skips");
    await mi.cmd("-break-delete");
    await mi.cmd("-exec-continue");
    assert.equal((await mi.stopped()).reason, "exited-normally");
  } catch (e) {
    kill(); // a failed test leaves no torov debug waiting for a debugger
    throw e;
  } finally {
    mi.close();
  }
  assert.equal(await exited, "4 stations, average 11.88 C\n");
});

test("torov vscode on a dynamic program (the loader lent): a breakpoint in main, one in libc, the stack through both", { skip: (!hasGdb() || !existsSync(guest("dynamic"))) && "gdb or the dynamic guest is missing" }, async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, { binary: guest("dynamic") });
  const { config, task } = configured(dir, manifest);
  const { exited, kill } = await startTask(dir, task);
  const mi = await attach(dir, config);
  try {
    await mi.cmd("-break-insert main");
    await mi.cmd("-exec-continue");
    const atMain = await mi.stopped();
    assert.equal(atMain.reason, "breakpoint-hit", JSON.stringify(atMain));
    assert.match(JSON.stringify(atMain), /"func":"main"/);
    // libc's symbols are loaded (from the target, at its guest path).
    await mi.cmd("-break-insert qsort");
    await mi.cmd("-exec-continue");
    const inLibc = await mi.stopped();
    assert.equal(inLibc.reason, "breakpoint-hit", JSON.stringify(inLibc));
    // The stack from libc's qsort down to main.
    const frames = JSON.stringify((await mi.cmd("-stack-list-frames")).stack);
    assert.match(frames, /^\[[^\]]*?"func":"[^"]*qsort[^"]*"/);
    assert.match(frames, /"func":"main"/);
    await mi.cmd("-break-delete");
    await mi.cmd("-exec-continue");
    // dynamic.c ends with status 7.
    const end = await mi.stopped();
    assert.equal(end.reason, "exited", JSON.stringify(end));
    assert.equal(end["exit-code"], "07");
  } catch (e) {
    kill(); // a failed test leaves no torov debug waiting for a debugger
    throw e;
  } finally {
    mi.close();
  }
  assert.match(await exited, /^qsort sorted: yes$/m);
});
