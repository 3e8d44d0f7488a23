// Multi-threaded guests (issue 11): pthreads built with glibc, musl and as
// static-pie (test/guests/threads.c), Rust's std::thread and Go's runtime
// print byte for byte what they print natively and exit with the same
// status; a thread's fault kills the whole process, a thread's exit()
// ends it, main may leave first, and creating more threads than torov
// allows fails with EAGAIN without harming the rest.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, variants, writeManifest } from "../helpers.js";

/** A thread test that hangs has lost a wake-up: it fails sooner than the default minute. */
const TIMEOUT = 30_000;

/** Runs `name` under torov (in a fresh MountPoint) and natively (in a fresh cwd). */
function both(name: string, args: string[], extra: Record<string, unknown> = {}) {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const vm = torov(["run", writeManifest(dir, { binary: guest(name), extra }), ...args], { timeout: TIMEOUT });
  const host = native(guest(name), args, { cwd: tempDir() });
  return { vm, host };
}

/** Skips a test of a guest that was not built (its compiler is missing: see test/guests/Makefile). */
const unbuilt = (name: string, tool: string) => !existsSync(guest(name)) && `test/guests/out/${name} was not built (no ${tool})`;

for (const v of variants("threads")) {
  test(`${v}: pthreads (mutexes, condvars, barriers, rwlocks, TLS and errno, join, detach, pthread_exit, cancel, once, robust mutexes, contention, signals, stacks) match the native run`, () => {
    const { vm, host } = both(v, []);
    assert.equal(host.status, 0, host.stdout);
    assert.match(host.stdout, /\nfailures=0\n$/);
    assert.equal(vm.stdout, host.stdout, vm.stderr);
    assert.equal(vm.stderr, host.stderr);
    assert.equal(vm.status, 0);
  });

  test(`${v}: a NULL dereference in a thread while main waits in pthread_join kills the process with SIGSEGV (139)`, () => {
    const { vm, host } = both(v, ["crash"]);
    assert.equal(host.status, 128 + 11);
    assert.equal(vm.status, 128 + 11, vm.stdout + vm.stderr);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.stdout, "a thread dereferences NULL while main waits in pthread_join\n");
    assert.match(vm.stderr, new RegExp(`^torov: ${v.replace(".", "\\.")} killed by SIGSEGV`));
    assert.match(vm.stderr, /read from unmapped address 0x0\n/);
    // The report is the faulting thread's, not main's.
    assert.match(vm.stderr, /\n {2}at rip 0x[0-9a-f]+ <crasher(\+0x[0-9a-f]+)?>\n/);
  });

  test(`${v}: exit(3) in a thread ends the process with 3 while main waits for a thread blocked in read`, () => {
    const { vm, host } = both(v, ["exit-in-thread"]);
    assert.equal(host.status, 3);
    assert.equal(vm.status, 3, vm.stdout + vm.stderr);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.stdout, "main waits in pthread_join for a thread blocked in read\na thread calls exit(3)\n");
    assert.equal(vm.stderr, "");
  });

  test(`${v}: main's pthread_exit leaves a worker running, which joins main, and the process exits 0 when it ends`, () => {
    const { vm, host } = both(v, ["main-exit"]);
    assert.equal(host.status, 0);
    assert.equal(vm.status, 0, vm.stdout + vm.stderr);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.stdout, "main calls pthread_exit while a worker runs\nthe worker joined main: ok, its value NULL; the worker finishes\n");
  });

  test(`${v}: 200 threads at once: those torov cannot start fail with EAGAIN, and the others run and are joined`, () => {
    const { vm, host } = both(v, ["many", "200"]);
    assert.equal(host.status, 0, host.stdout);
    assert.equal(vm.status, 0, vm.stdout + vm.stderr);
    const parse = (stdout: string) => {
      const m = /^many: (\d+) of 200 created, all running at once: (\d+)\nmany: first error: (\w+)\nmany: joined (\d+)\n$/.exec(stdout);
      assert.ok(m, `unexpected output:\n${stdout}`);
      return { created: Number(m[1]), running: Number(m[2]), first: m[3], joined: Number(m[4]) };
    };
    const h = parse(host.stdout);
    const g = parse(vm.stdout);
    // Natively all 200 start (unless this host limits threads: then EAGAIN too).
    assert.equal(h.first, h.created === 200 ? "none" : "EAGAIN");
    // torov may allow fewer (one vCPU each), and says so as Linux does.
    assert.ok(g.created >= 1, `created ${g.created}, natively ${h.created}`);
    assert.equal(g.first, g.created === 200 ? "none" : "EAGAIN");
    assert.equal(g.running, g.created);
    assert.equal(g.joined, g.created);
  });
}

// rust-threads.dynamic: as cargo builds by default, dynamically linked (issue 18).
for (const v of ["rust-threads", "rust-threads.dynamic"]) {
  test(`${v}: std::thread spawn/join, mpsc, Arc<Mutex>, Condvar, RwLock, Barrier, thread::scope, a caught panic and thread_local! match the native run`, { skip: unbuilt(v, "cargo") }, () => {
    const { vm, host } = both(v, []);
    assert.equal(host.status, 0, host.stderr);
    assert.match(host.stdout, /^7 panic: join returned Err: true, its message: "on purpose"$/m);
    assert.match(host.stdout, /\ndone\n$/);
    assert.equal(vm.stdout, host.stdout, vm.stderr);
    assert.equal(vm.stderr, host.stderr);
    assert.equal(vm.status, 0);
  });
}

// Go's runtime reserves address space up front (512 MiB for its page
// summaries alone) and guest addresses are guest RAM: 256 MiB is not enough.
test("go-threads: goroutines on 4 Ps, LockOSThread threads, channels, Mutex, select with time.After and async preemption match the native run", { skip: unbuilt("go-threads", "go") }, () => {
  const { vm, host } = both("go-threads", [], { Memory: 1024 });
  assert.equal(host.status, 0, host.stderr);
  assert.match(host.stdout, /^5 LockOSThread: 4 goroutines each on its own OS thread, all distinct: true$/m);
  assert.match(host.stdout, /\ndone\n$/);
  assert.equal(vm.stdout, host.stdout, vm.stderr);
  assert.equal(vm.stderr, host.stderr);
  assert.equal(vm.status, 0);
});

// Issue 18: cgo, as go build makes a program where a C compiler is:
// dynamically linked against glibc (the loader lent), threads started by
// pthread_create, C calling back into Go from a thread Go did not make.
test("go-cgo: Go calling C and C calling Go from its own pthread, goroutines in C, dynamically linked, match the native run", { skip: unbuilt("go-cgo", "go") }, () => {
  const { vm, host } = both("go-cgo", [], { Memory: 1024 });
  assert.equal(host.status, 0, host.stderr);
  assert.match(host.stdout, /^goSquare from a C thread: 144$/m);
  assert.equal(vm.stdout, host.stdout, vm.stderr);
  assert.equal(vm.stderr, host.stderr);
  assert.equal(vm.status, 0);
});
