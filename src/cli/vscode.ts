// torov vscode app.json [--dir D] [--port N]: writes .vscode/launch.json
// (a cppdbg configuration that attaches GDB to miDebuggerServerAddress) and
// .vscode/tasks.json (a background task that starts torov debug and tells
// VS Code when it listens). Existing files keep their other entries.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { TorovError } from "../vmm/errors.js";
import { loadManifest } from "../vmm/manifest.js";
import * as ui from "./ui.js";

export interface VscodeOptions {
  dir?: string;
  port?: string;
}

/** VS Code's files are JSON with comments and trailing commas. */
function readJsonc(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, "utf8")
    .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (m, str) => str ?? "")
    .replace(/,(\s*[}\]])/g, "$1");
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new TorovError(`${path}: cannot read it as JSON (${(e as Error).message}); fix or move it first`, "EUSAGE");
  }
}

function upsert(list: unknown, key: string, value: string, entry: Record<string, unknown>): Record<string, unknown>[] {
  const items = Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
  const i = items.findIndex((x) => x && x[key] === value);
  if (i >= 0) items[i] = entry;
  else items.push(entry);
  return items;
}

export async function run(manifestPath: string, options: VscodeOptions): Promise<void> {
  const manifest = loadManifest(manifestPath);
  const dir = resolve(options.dir ?? ".");
  // The workspace folder VS Code opens: a typo must not create a new one.
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TorovError(`--dir: ${dir} is not a folder`, "EUSAGE");
  const port = options.port ?? String(manifest.debug.port || 1234);
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new TorovError(`--port: "${port}" is not a TCP port`, "EUSAGE");
  const name = manifest.binary.split("/").pop()!;
  const vscode = join(dir, ".vscode");
  mkdirSync(vscode, { recursive: true });
  const rel = (p: string) => {
    const r = relative(dir, p);
    return r.startsWith("..") ? p : `\${workspaceFolder}/${r}`;
  };
  const taskLabel = `torov: debug ${name}`;

  const tasksPath = join(vscode, "tasks.json");
  const tasks = readJsonc(tasksPath) ?? { version: "2.0.0" };
  tasks.tasks = upsert(tasks.tasks, "label", taskLabel, {
    label: taskLabel,
    type: "process",
    // This installation of torov, whatever the workspace has installed.
    command: process.execPath,
    args: [resolve(__dirname, "../../../bin/torov.js"), "debug", rel(manifest.path), "--port", port],
    isBackground: true,
    problemMatcher: {
      owner: "torov",
      pattern: { regexp: "^torov: (.*)$", message: 1 },
      background: { activeBegins: true, beginsPattern: "^torov: .* is stopped at its entry point", endsPattern: "GDB can attach on" },
    },
  });
  writeFileSync(tasksPath, JSON.stringify(tasks, null, 2) + "\n");

  const launchPath = join(vscode, "launch.json");
  const launch = readJsonc(launchPath) ?? { version: "0.2.0" };
  const configName = `torov: ${name}`;
  launch.configurations = upsert(launch.configurations, "name", configName, {
    name: configName,
    type: "cppdbg",
    request: "launch",
    program: rel(manifest.binary),
    cwd: "${workspaceFolder}",
    MIMode: "gdb",
    miDebuggerPath: "gdb",
    miDebuggerServerAddress: `127.0.0.1:${port}`,
    stopAtEntry: false,
    preLaunchTask: taskLabel,
    setupCommands: [
      { description: "pretty printing", text: "-enable-pretty-printing", ignoreFailures: true },
      { description: "the program's files come from the VM", text: "set sysroot /", ignoreFailures: true },
    ],
  });
  writeFileSync(launchPath, JSON.stringify(launch, null, 2) + "\n");
  ui.info(`wrote ${relative(process.cwd(), launchPath) || launchPath} ("${configName}") and ${relative(process.cwd(), tasksPath) || tasksPath} ("${taskLabel}")`);
  ui.info(`in VS Code (with the C/C++ extension), Run and Debug "${configName}"`);
}
