// The GDB stub's transports: a TCP listener (127.0.0.1 by default) serving
// one client at a time, or stdin/stdout (`target remote | torov debug
// --stdio app.json`). A client that goes away leaves the program stopped
// and the next one finds it there; a client that connects and says nothing
// is dropped after a while; the program's end closes everything.

import { createServer, type Server, type Socket } from "node:net";
import { Session } from "./session.js";
import type { DebugTarget, StopEvent } from "./target.js";

/** How long a second connection waits for the first to finish leaving before it is refused. */
const SECOND_CLIENT_GRACE_MS = 1000;

export interface ServerOptions {
  host?: string;
  port?: number;
  /** How long a silent client may hold the stub (ms). */
  silenceTimeout?: number;
  log?: (message: string) => void;
}

export class GdbServer {
  private server: Server | undefined;
  private socket: Socket | undefined;
  private session: Session | undefined;
  /** A session whose client left while the program ran: it cleans up at the stop. */
  private leaving: Session | undefined;
  private done = false;
  private finished: Promise<void>;
  private finish!: () => void;
  /** The port actually listened on. */
  port = 0;

  private constructor(
    private readonly target: DebugTarget,
    private readonly options: ServerOptions,
  ) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    target.onStop((event) => this.onStop(event));
  }

  /** Listens for GDB on TCP. Rejects when the address cannot be bound. */
  static async listen(target: DebugTarget, options: ServerOptions = {}): Promise<GdbServer> {
    const s = new GdbServer(target, options);
    await s.startTcp();
    return s;
  }

  /** Speaks the protocol on a pair of streams (stdin/stdout). */
  static stdio(target: DebugTarget, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, options: ServerOptions = {}): GdbServer {
    const s = new GdbServer(target, options);
    s.session = new Session(target, {
      write: (data) => output.write(data),
      end: () => s.end(),
      log: options.log,
    });
    input.on("data", (chunk: Buffer) => s.session?.onData(chunk));
    input.on("end", () => {
      s.session?.onClose();
      s.session = undefined;
      // The debugger is gone and nothing else can come: end the program.
      if (!s.done) target.kill();
    });
    return s;
  }

  /** Resolves when the debugging session is over (detach, kill, or the program's end). */
  closed(): Promise<void> {
    return this.finished;
  }

  close(): void {
    this.end();
  }

  private startTcp(): Promise<void> {
    const { host = "127.0.0.1", port = 1234 } = this.options;
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        server.on("error", (e) => this.options.log?.(`listener: ${e.message}`));
        const addr = server.address();
        this.port = typeof addr === "object" && addr ? addr.port : port;
        this.server = server;
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    const log = this.options.log;
    if (this.done) {
      socket.destroy();
      return;
    }
    if (socket.destroyed) return;
    if (this.socket) {
      // The client connected may be leaving: its close can arrive just
      // after this connection does. A moment for it, then one at a time.
      const current = this.socket;
      const retry = () => {
        clearTimeout(refuse);
        socket.off("close", forget);
        setImmediate(() => this.accept(socket));
      };
      const forget = () => {
        clearTimeout(refuse);
        current.off("close", retry);
      };
      const refuse = setTimeout(() => {
        forget();
        log?.(`a second debugger connected from ${socket.remoteAddress}: refused (one at a time)`);
        socket.destroy();
      }, SECOND_CLIENT_GRACE_MS);
      refuse.unref();
      current.once("close", retry);
      socket.once("close", forget);
      return;
    }
    socket.setNoDelay(true);
    this.socket = socket;
    const session = new Session(this.target, {
      write: (data) => {
        if (!socket.destroyed) socket.write(data);
      },
      end: () => {
        socket.end();
        this.end();
      },
      log,
    });
    this.session = session;
    const silence = setTimeout(() => {
      if (!session.spoken) {
        log?.(`a client connected from ${socket.remoteAddress} and said nothing: dropped`);
        socket.destroy();
      }
    }, this.options.silenceTimeout ?? 10_000);
    silence.unref();
    socket.on("data", (chunk) => session.onData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      clearTimeout(silence);
      session.onClose();
      if (this.socket === socket) {
        this.socket = undefined;
        this.session = undefined;
      }
      // The program stays stopped for the next debugger.
      if (!this.done && this.target.isRunning()) {
        this.leaving = session;
        this.target.interrupt();
      }
    });
  }

  private onStop(event: StopEvent): void {
    const leaving = this.leaving;
    this.leaving = undefined;
    leaving?.onStop(event);
    this.session?.onStop(event);
    if (event.kind !== "stopped") {
      // The program is over; let the client read the W/X reply, then close.
      setTimeout(() => this.end(), 200).unref();
    }
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.server?.close();
    this.socket?.end();
    this.finish();
  }
}
