// vFile: GDB reads the program (and files of the guest) through the stub,
// so a bare `target remote` finds the symbols. Read-only; only the program
// and what lies inside the MountPoint can be opened (the target decides).

import { closeSync, fstatSync, readSync } from "node:fs";
import type { Command } from "../protocol/commands.js";
import { escapeBinary } from "../protocol/packet.js";
import type { Context, Reply } from "./context.js";

// GDB's File-I/O errno values (gdb/fileio.h); most equal Linux's.
const FILEIO_ERRNO: Record<number, number> = { 1: 1, 2: 2, 4: 4, 9: 9, 13: 13, 14: 14, 16: 16, 17: 17, 19: 19, 20: 20, 21: 21, 22: 22, 23: 23, 24: 24, 27: 27, 28: 28, 29: 29, 30: 30, 36: 91 };
const errno = (e: number) => `F-1,${(FILEIO_ERRNO[e] ?? 9999).toString(16)}`;
const O_ACCMODE = 3;

/** The /proc files of the program that the target makes itself: /proc/PID/maps, cmdline. */
function procFile(ctx: Context, path: string): "maps" | "cmdline" | undefined {
  const m = /^\/proc\/(\d+|self)\/(maps|cmdline)$/.exec(path);
  if (!m || !ctx.target.procFile || (m[1] !== "self" && Number(m[1]) !== ctx.target.pid)) return undefined;
  return m[2] as "maps" | "cmdline";
}

/** A file the target made, as read-only regular file of its size. */
function fileioStatOf(contents: Buffer): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0o100444, 8);
  b.writeUInt32BE(1, 12);
  b.writeBigUInt64BE(BigInt(contents.length), 28);
  b.writeBigUInt64BE(4096n, 36);
  return b;
}

/** struct stat in GDB's File-I/O format: big-endian, 64 bytes. */
function fileioStat(fd: number): Buffer {
  const st = fstatSync(fd, { bigint: true });
  const b = Buffer.alloc(64);
  b.writeUInt32BE(Number(st.dev & 0xffffffffn), 0);
  b.writeUInt32BE(Number(st.ino & 0xffffffffn), 4);
  b.writeUInt32BE(Number(st.mode), 8);
  b.writeUInt32BE(Number(st.nlink), 12);
  b.writeUInt32BE(Number(st.uid), 16);
  b.writeUInt32BE(Number(st.gid), 20);
  b.writeUInt32BE(Number(st.rdev & 0xffffffffn), 24);
  b.writeBigUInt64BE(st.size, 28);
  b.writeBigUInt64BE(st.blksize, 36);
  b.writeBigUInt64BE(st.blocks, 44);
  b.writeUInt32BE(Number(st.atimeMs / 1000n), 52);
  b.writeUInt32BE(Number(st.mtimeMs / 1000n), 56);
  b.writeUInt32BE(Number(st.ctimeMs / 1000n), 60);
  return b;
}

export function vfile(cmd: Command, ctx: Context): Reply {
  const files = ctx.state.files;
  switch (cmd.kind) {
    case "vFileSetfs":
      return "F0";
    case "vFileOpen": {
      if ((cmd.flags & O_ACCMODE) !== 0) return errno(30); // EROFS: the stub only reads
      const proc = procFile(ctx, cmd.path);
      if (proc) {
        const fd = ctx.state.nextFile++;
        files.set(fd, ctx.target.procFile!(proc));
        return `F${fd.toString(16)}`;
      }
      const host = ctx.target.openFile(cmd.path);
      if (host < 0) return errno(-host);
      const fd = ctx.state.nextFile++;
      files.set(fd, host);
      return `F${fd.toString(16)}`;
    }
    case "vFileClose": {
      const host = files.get(cmd.fd);
      if (host === undefined) return errno(9);
      files.delete(cmd.fd);
      if (typeof host === "number") closeSync(host);
      return "F0";
    }
    case "vFilePread": {
      const host = files.get(cmd.fd);
      if (host === undefined) return errno(9);
      if (typeof host !== "number") {
        const data = host.subarray(Math.min(cmd.offset, host.length), Math.min(cmd.offset + cmd.count, host.length));
        return Buffer.concat([Buffer.from(`F${data.length.toString(16)};`), escapeBinary(data)]);
      }
      const buf = Buffer.alloc(cmd.count);
      let n: number;
      try {
        n = readSync(host, buf, 0, cmd.count, cmd.offset);
      } catch (e) {
        return errno((e as NodeJS.ErrnoException).errno ? -(e as NodeJS.ErrnoException).errno! : 5);
      }
      return Buffer.concat([Buffer.from(`F${n.toString(16)};`), escapeBinary(buf.subarray(0, n))]);
    }
    case "vFileFstat": {
      const host = files.get(cmd.fd);
      if (host === undefined) return errno(9);
      const st = typeof host === "number" ? fileioStat(host) : fileioStatOf(host);
      return Buffer.concat([Buffer.from(`F${st.length.toString(16)};`), escapeBinary(st)]);
    }
    case "vFileReadlink": {
      // /proc/PID/exe, for info proc: the program, as exec-file names it.
      const m = /^\/proc\/(\d+|self)\/exe$/.exec(cmd.path);
      if (m && (m[1] === "self" || Number(m[1]) === ctx.target.pid)) {
        const path = Buffer.from(ctx.target.execFile);
        return Buffer.concat([Buffer.from(`F${path.length.toString(16)};`), escapeBinary(path)]);
      }
      return errno(22); // the guest's file system has no symlink GDB needs
    }
    default:
      return "";
  }
}
