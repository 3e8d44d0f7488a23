// A client that says nothing, sends garbage, bad checksums, endless
// packets, absurd lengths, or writes outside guest memory never takes the
// stub down: afterwards a normal GDB session works.
import assert from "node:assert/strict";
import { test } from "node:test";
import { scaled } from "../helpers.js";
import { debugManifest, gdbBatch, hasGdb, packet, rawClient, startDebug } from "./debugger.js";

const skip = !hasGdb() && "gdb is not installed";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("garbage, bad packets and a silent client, then a normal session", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));

  // Connects and leaves at once.
  (await rawClient(d.port)).socket.destroy();
  await sleep(100);

  const c = await rawClient(d.port);
  c.send("hello\r\nGET / HTTP/1.1\r\n\r\n\x00\xff\xfe"); // noise outside packets
  c.send("$qSupported#00"); // bad checksum
  c.send(`$${"A".repeat(100000)}`); // a packet that never ends
  c.send(packet("m0,ffffffff")); // absurd length
  c.send(packet("m0,10")); // page 0
  c.send(packet("m1000,10")); // the runtime
  c.send(packet("mffffffffffffffff,10")); // the end of the address space
  c.send(packet("M1000,4:00000000")); // write into the runtime
  c.send(packet("X3000,4:abcd")); // write into the hypercall page
  c.send(packet("m4000zz,4")); // not hex
  c.send(packet("Z0,0,1")); // a breakpoint nowhere
  c.send(packet("Z2,0,100000000")); // a watchpoint of absurd size
  c.send(packet("p9999")); // no such register
  c.send(packet("G00")); // short G
  c.send(packet("vFile:open:2f6574632f706173737764,0,0")); // /etc/passwd
  c.send(packet("vFile:pread:99,10,0")); // no such fd
  c.send(packet("qXfer:features:read:../../etc/passwd:0,100"));
  c.send(packet("QCatchSyscalls:1;zz"));
  c.send(packet("vCont;x"));
  c.send(packet("qRcmd,zz"));
  c.send(packet("$"));
  const repliesIn = () => [...c.received().matchAll(/\$([^#]*)#[0-9a-f]{2}/g)].map((m) => m[1]);
  for (const until = Date.now() + scaled(3000); repliesIn().length < 17 && Date.now() < until; ) await sleep(20);
  await sleep(scaled(100)); // and no more come
  const got = c.received();
  assert.match(got, /-/, "a bad checksum is asked again");
  // Every well-framed packet got an answer, and every answer is an error
  // or empty: nothing outside the application's memory was read or written.
  const replies = repliesIn();
  assert.equal(replies.length, 17, `replies: ${got}`);
  for (const r of replies) assert.match(r, /^(E[0-9a-f]{2}|F-1,[0-9a-f]+|)$/, `reply ${JSON.stringify(r)}`);
  c.socket.destroy();

  // A client that connects and says nothing is dropped after a while; a
  // second one is refused meanwhile. The stub survives both.
  const silent = await rawClient(d.port);
  await sleep(100);
  silent.socket.destroy();

  const r = gdbBatch(d.port, ["break area", "continue", "bt 1", "continue"]);
  assert.match(r.output, /Breakpoint 1, area/);
  assert.match(r.output, /exited with code 01/);
  const end = await d.done;
  assert.equal(end.status, 1);
});

test("clients that send garbage and leave, one right after another, do not hold the stub from the next debugger", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  for (let i = 0; i < 5; i++) {
    const c = await rawClient(d.port);
    c.send(`junk ${i}\x00\xff`);
    c.send(packet("m0,ffffffff"));
    c.send(`$${"B".repeat(70000)}`); // oversized, never ends
    c.socket.destroy(); // and gone, without waiting for anything
  }
  const r = gdbBatch(d.port, ["break area", "continue", "continue"]);
  assert.match(r.output, /Breakpoint 1, area/, r.output);
  assert.match(r.output, /exited with code 01/);
  const end = await d.done;
  assert.equal(end.status, 1);
  assert.doesNotMatch(end.stderr, /refused/);
});

test("a second debugger is refused while one is connected", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const first = await rawClient(d.port);
  first.send(packet("qSupported"));
  await sleep(100);
  const second = await rawClient(d.port);
  const closed = await new Promise<boolean>((resolve) => {
    second.socket.on("close", () => resolve(true));
    setTimeout(() => resolve(false), scaled(2000));
  });
  assert.ok(closed, "the second connection was closed");
  assert.match(first.received(), /PacketSize/);
  first.send(packet("vKill;1"));
  const end = await d.done;
  assert.equal(end.status, 137);
  assert.match(end.stderr, /a second debugger connected .* refused/);
});

test("what a client leaves behind is removed when it goes away, even mid-run", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"), [], ["spin"]);
  try {
    // Breakpoints in bytes the program never runs (the ELF header's
    // padding), a watchpoint, catching a syscall it never makes (kill); then
    // it resumes and the client leaves while the program spins.
    const first = await rawClient(d.port);
    for (const p of ["Z0,400008,1", "Z1,400009,1", "Z2,40000a,2", "QCatchSyscalls:1;3e", "c"]) first.send(packet(p));
    await sleep(300);
    assert.equal(first.received(), "+$OK#9a+$OK#9a+$OK#9a+$OK#9a+", "set, then running");
    first.socket.destroy();
    await sleep(300);

    // The program was stopped for the next client, and nothing of the first
    // one's is left to remove.
    const next = await rawClient(d.port);
    for (const p of ["?", "z0,400008,1", "z1,400009,1", "z2,40000a,2"]) next.send(packet(p));
    await sleep(300);
    const replies = [...next.received().matchAll(/\$([^#]*)#/g)].map((m) => m[1]);
    assert.match(replies[0], /^T02/);
    assert.deepEqual(replies.slice(1), ["E0e", "E0e", "E0e"]);
    next.send(packet("vKill;1"));
    const end = await d.done;
    assert.equal(end.status, 137);
  } finally {
    d.proc.kill("SIGKILL"); // the program spins forever
  }
});
