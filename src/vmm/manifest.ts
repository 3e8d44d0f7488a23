// The app manifest: ToroV's format as it is, plus torov's additions.
//
//   { "Binary": "hello", "MountPoint": "./mountpoint", "Newpid": "False",
//     "Debug": { "Allowed": "False", "Port": "1234" },
//     "Hypercalls": [ { "Name": "Write", "Allowed": "True" } ],
//     "Startaddr": "400200",                       (flat binaries)
//     "Args": ["-v"], "Env": { "HOME": "/" },      (torov)
//     "Memory": 256, "OnDenied": "errno" }         (torov)
//
// Every problem is one TorovError naming the file, the key path and what is
// wrong, with a suggestion when a name is close to a real one. Nothing falls
// back to a default silently.

import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { TorovError } from "./errors.js";
import { isKnownName, policyNames, type PolicyEntry } from "./policy.js";
import { HYPERCALLS } from "./hypercalls.js";
import { didYouMean } from "./suggest.js";

export interface Manifest {
  /** Absolute path of the manifest file. */
  readonly path: string;
  /** Absolute path of the program. */
  readonly binary: string;
  /** Absolute path of the folder the guest sees as "/"; undefined: no file system. */
  readonly mountPoint?: string;
  readonly newpid: boolean;
  readonly debug: { readonly allowed: boolean; readonly port: number };
  readonly hypercalls: readonly PolicyEntry[];
  /** Load address of a flat binary. */
  readonly startaddr?: number;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly memoryMiB: number;
  readonly onDenied: "errno" | "kill";
  /** The parsed JSON, for tools that rewrite the manifest (torov profile). */
  readonly raw: Record<string, unknown>;
}

export const DEFAULT_MEMORY_MIB = 256;
export const MIN_MEMORY_MIB = 16;
export const MAX_MEMORY_MIB = 65536;
export const DEFAULT_DEBUG_PORT = 1234;

const KEYS = ["$schema", "Binary", "MountPoint", "Newpid", "Debug", "Hypercalls", "Startaddr", "Args", "Env", "Memory", "OnDenied"];
const DEBUG_KEYS = ["Allowed", "Port"];
const HYPERCALL_KEYS = ["Name", "Allowed"];

class Checker {
  constructor(readonly file: string) {}

  fail(where: string, problem: string): never {
    throw new TorovError(`${this.file}: ${where ? `${where}: ` : ""}${problem}`, "EMANIFEST");
  }

  object(v: unknown, where: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(where, `expected an object, found ${describe(v)}`);
    return v as Record<string, unknown>;
  }

  keys(o: Record<string, unknown>, allowed: string[], where: string): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const ci = allowed.find((a) => a.toLowerCase() === k.toLowerCase());
      const hint = ci ? ` (did you mean "${ci}"?)` : didYouMean(k, allowed);
      this.fail(where ? `${where}.${k}` : k, `unknown key${hint}`);
    }
  }

  string(v: unknown, where: string): string {
    if (typeof v !== "string") this.fail(where, `expected a string, found ${describe(v)}`);
    if (v.includes("\0")) this.fail(where, "contains a NUL character");
    return v;
  }

  /** ToroV wrote booleans as "True"/"False"; JSON booleans are accepted too. */
  boolean(v: unknown, where: string): boolean {
    if (typeof v === "boolean") return v;
    if (typeof v === "string") {
      const l = v.toLowerCase();
      if (l === "true") return true;
      if (l === "false") return false;
    }
    this.fail(where, `expected true or false (or "True"/"False"), found ${describe(v)}`);
  }

  integer(v: unknown, where: string, min: number, max: number): number {
    let n: number = NaN;
    if (typeof v === "number") n = v;
    else if (typeof v === "string" && /^\s*\d+\s*$/.test(v)) n = Number(v);
    if (!Number.isInteger(n)) this.fail(where, `expected an integer, found ${describe(v)}`);
    if (n < min || n > max) this.fail(where, `${n} is out of range (${min} to ${max})`);
    return n;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/** Where in the text a JSON.parse error points, as "line L, column C". */
function jsonPosition(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m && !/end of JSON input/.test(message)) return "";
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return ` (line ${line}, column ${column})`;
}

/** Reads and validates a manifest file. */
export function loadManifest(path: string): Manifest {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "is a directory, not a manifest" : err.message;
    throw new TorovError(`${path}: ${why}`, "EMANIFEST");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new TorovError(`${path}: invalid JSON: ${msg}${jsonPosition(text, msg)}`, "EMANIFEST");
  }
  return parseManifest(json, path, dirname(file));
}

/**
 * Validates a parsed manifest. `name` is how errors name the file; relative
 * paths resolve against `baseDir`.
 */
export function parseManifest(json: unknown, name: string, baseDir: string): Manifest {
  const c: Checker = new Checker(name);
  const o = c.object(json, "");
  c.keys(o, KEYS, "");
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

  if (o.Binary === undefined) c.fail("Binary", "missing: the program to run");
  const binary = at(c.string(o.Binary, "Binary"));
  let st;
  try {
    st = statSync(binary);
  } catch {
    c.fail("Binary", `${binary} does not exist`);
  }
  if (!st.isFile()) c.fail("Binary", `${binary} is not a regular file`);

  let mountPoint: string | undefined;
  if (o.MountPoint !== undefined) {
    mountPoint = at(c.string(o.MountPoint, "MountPoint"));
    let mst;
    try {
      mst = statSync(mountPoint);
    } catch {
      c.fail("MountPoint", `${mountPoint} does not exist (torov never runs a guest unconfined: create the folder)`);
    }
    if (!mst.isDirectory()) c.fail("MountPoint", `${mountPoint} is not a directory`);
  }

  const newpid = o.Newpid === undefined ? false : c.boolean(o.Newpid, "Newpid");

  let debug = { allowed: false, port: DEFAULT_DEBUG_PORT };
  if (o.Debug !== undefined) {
    const d = c.object(o.Debug, "Debug");
    c.keys(d, DEBUG_KEYS, "Debug");
    debug = {
      allowed: d.Allowed === undefined ? false : c.boolean(d.Allowed, "Debug.Allowed"),
      // 0: any free port (torov says which).
      port: d.Port === undefined ? DEFAULT_DEBUG_PORT : c.integer(d.Port, "Debug.Port", 0, 65535),
    };
  }

  const hypercalls: PolicyEntry[] = [];
  if (o.Hypercalls !== undefined) {
    if (!Array.isArray(o.Hypercalls)) c.fail("Hypercalls", `expected an array, found ${describe(o.Hypercalls)}`);
    o.Hypercalls.forEach((entry, i) => {
      const where = `Hypercalls[${i}]`;
      const e = c.object(entry, where);
      c.keys(e, HYPERCALL_KEYS, where);
      if (e.Name === undefined) c.fail(`${where}.Name`, "missing");
      const raw = c.string(e.Name, `${where}.Name`).trim();
      const name = raw.toLowerCase();
      if (!isKnownName(name)) {
        const kind = name.startsWith("@") ? "group" : "hypercall";
        c.fail(`${where}.Name`, `unknown ${kind} "${raw}"${didYouMean(name, policyNames())}`);
      }
      const allowed = e.Allowed === undefined ? true : c.boolean(e.Allowed, `${where}.Allowed`);
      if (!allowed && !name.startsWith("@") && name !== "*") {
        const h = HYPERCALLS.find((x) => x.name === name);
        if (h?.kind === "emulated")
          c.fail(`${where}.Name`, `"${raw}" is emulated by torov (it never reaches the host) and cannot be denied`);
      }
      hypercalls.push({ name, allowed });
    });
  }

  let startaddr: number | undefined;
  if (o.Startaddr !== undefined) {
    const v = o.Startaddr;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) startaddr = v;
    else if (typeof v === "string" && /^\s*(0x|\$)?[0-9a-fA-F]+\s*$/.test(v)) startaddr = parseInt(v.trim().replace(/^(0x|\$)/, ""), 16);
    else c.fail("Startaddr", `expected a hexadecimal address such as "400200", found ${describe(v)}`);
  }

  let args: string[] = [];
  if (o.Args !== undefined) {
    if (!Array.isArray(o.Args)) c.fail("Args", `expected an array of strings, found ${describe(o.Args)}`);
    args = o.Args.map((a, i) => c.string(a, `Args[${i}]`));
  }

  const env: Record<string, string> = {};
  if (o.Env !== undefined) {
    const e = c.object(o.Env, "Env");
    for (const [k, v] of Object.entries(e)) {
      if (k === "" || k.includes("=")) c.fail(`Env.${k}`, "a variable name cannot be empty or contain '='");
      env[k] = c.string(v, `Env.${k}`);
    }
  }

  const memoryMiB = o.Memory === undefined ? DEFAULT_MEMORY_MIB : c.integer(o.Memory, "Memory", MIN_MEMORY_MIB, MAX_MEMORY_MIB);

  let onDenied: "errno" | "kill" = "errno";
  if (o.OnDenied !== undefined) {
    const v = c.string(o.OnDenied, "OnDenied");
    if (v !== "errno" && v !== "kill") c.fail("OnDenied", `expected "errno" or "kill", found ${describe(v)}${didYouMean(v, ["errno", "kill"])}`);
    onDenied = v;
  }

  return { path: resolve(name), binary, mountPoint, newpid, debug, hypercalls, startaddr, args, env, memoryMiB, onDenied, raw: o };
}
