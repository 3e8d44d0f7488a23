// GDB remote serial protocol framing.
//
//   $<payload>#<two hex digits: sum of payload bytes mod 256>
//
// Acknowledgements are '+' and '-' (until QStartNoAckMode), and a lone 0x03
// byte outside a packet is an interrupt (Ctrl-C). In a payload, '}' escapes
// the next byte (XOR 0x20) and '*' after a byte repeats it (run-length
// encoding: the count is the next byte minus 29).

export const INTERRUPT = 0x03;
/** The largest payload torov accepts, and the PacketSize it advertises. */
export const MAX_PACKET = 0x4000;

export type ReaderEvent =
  | { type: "packet"; data: Buffer }
  | { type: "ack" }
  | { type: "nack" }
  | { type: "interrupt" }
  | { type: "bad-checksum"; expected: number; actual: number }
  | { type: "too-long" };

export function checksum(data: Uint8Array): number {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return sum;
}

/** $payload#cs */
export function frame(payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "latin1") : payload;
  const out = Buffer.allocUnsafe(body.length + 4);
  out[0] = 0x24; // $
  body.copy(out, 1);
  out[body.length + 1] = 0x23; // #
  out.write(checksum(body).toString(16).padStart(2, "0"), body.length + 2, "latin1");
  return out;
}

const needsEscape = (b: number) => b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a; // # $ } *

/** Binary data for a packet: '#', '$', '}' and '*' escaped. */
export function escapeBinary(data: Uint8Array): Buffer {
  let extra = 0;
  for (const b of data) if (needsEscape(b)) extra++;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const b of data) {
    if (needsEscape(b)) {
      out[o++] = 0x7d;
      out[o++] = b ^ 0x20;
    } else {
      out[o++] = b;
    }
  }
  return out;
}

/** The inverse of escapeBinary (for X and vFile:pwrite payloads). */
export function unescapeBinary(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let o = 0;
  for (let i = 0; i < data.length; i++) out[o++] = data[i] === 0x7d && i + 1 < data.length ? data[++i] ^ 0x20 : data[i];
  return out.subarray(0, o);
}

/**
 * Expands run-length encoding in a received payload. Only a stub may send
 * it, but a robust reader accepts it. Returns undefined when malformed.
 */
export function decodeRle(data: Buffer): Buffer | undefined {
  if (!data.includes(0x2a)) return data;
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x2a) {
      if (out.length === 0 || i + 1 >= data.length) return undefined;
      const count = data[++i] - 29;
      if (count < 3 || count > 97) return undefined;
      const prev = out[out.length - 1];
      for (let k = 0; k < count; k++) out.push(prev);
    } else {
      out.push(data[i]);
    }
  }
  return Buffer.from(out);
}

/**
 * Run-length encodes a reply payload of printable text (hex register
 * dumps compress well). Repeat counts that would produce '#' or '$' are
 * avoided, as the protocol requires.
 */
export function encodeRle(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    let run = 1;
    while (i + run < text.length && text[i + run] === c && run < 98) run++;
    let extra = run - 1;
    if (extra >= 3) {
      // 29 + n must not be '#' (35) or '$' (36): use 5 instead of 6 or 7.
      if (extra === 6 || extra === 7) extra = 5;
      out += `${c}*${String.fromCharCode(29 + extra)}`;
      i += extra + 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
}

/** Hex digits to bytes; undefined when not an even run of hex digits. */
export function fromHex(text: string): Buffer | undefined {
  if (text.length % 2 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Buffer.from(text, "hex");
}

/**
 * Turns a byte stream into protocol events. Bytes between packets other
 * than acknowledgements and interrupts are noise and are dropped; a packet
 * that never ends is cut off at MAX_PACKET and reported, and the rest of it
 * is skipped (never read as acknowledgements or interrupts) up to its end.
 * A '$' always starts a new packet, even where a checksum digit should be.
 */
export class PacketReader {
  private state: "idle" | "body" | "sum1" | "sum2" = "idle";
  /** The body so far, as pieces of the chunks it came in. */
  private parts: Uint8Array[] = [];
  private length = 0;
  private sum = 0;
  /** The packet under way was too long: its bytes are skipped, not kept. */
  private dropping = false;

  feed(chunk: Uint8Array): ReaderEvent[] {
    const events: ReaderEvent[] = [];
    for (let i = 0; i < chunk.length; ) {
      const b = chunk[i];
      switch (this.state) {
        case "idle":
          if (b === 0x24) this.start();
          else if (b === 0x2b) events.push({ type: "ack" });
          else if (b === 0x2d) events.push({ type: "nack" });
          else if (b === INTERRUPT) events.push({ type: "interrupt" });
          i++;
          break;
        case "body": {
          // The run of body bytes up to '#' or '$' in one piece.
          let end = i;
          while (end < chunk.length && chunk[end] !== 0x23 && chunk[end] !== 0x24) end++;
          const take = this.dropping ? 0 : Math.min(end - i, MAX_PACKET - this.length);
          if (take > 0) {
            this.parts.push(chunk.subarray(i, i + take));
            this.length += take;
          }
          if (take < end - i && !this.dropping) {
            // A packet that never ends: report it once, skip the rest of it.
            events.push({ type: "too-long" });
            this.dropping = true;
            this.parts = [];
            this.length = 0;
          }
          i = end;
          if (i < chunk.length) {
            if (chunk[i] === 0x23) this.state = "sum1";
            else this.start(); // a new packet inside one: the old one was cut off
            i++;
          }
          break;
        }
        case "sum1":
        case "sum2": {
          const d = hexDigit(b);
          if (b === 0x24) {
            // No checksum, a new packet: the old one was cut off.
            this.end(events, -1);
            this.start();
          } else if (d < 0) {
            this.state = "idle";
            this.end(events, -1);
          } else if (this.state === "sum1") {
            this.sum = d * 16;
            this.state = "sum2";
          } else {
            this.state = "idle";
            this.end(events, this.sum + d);
          }
          i++;
          break;
        }
      }
    }
    // The pieces point into the caller's chunk: keep copies across calls.
    if (this.state !== "idle" && this.parts.length) {
      const kept = this.take();
      this.parts = [kept];
      this.length = kept.length;
    }
    return events;
  }

  private start(): void {
    this.state = "body";
    this.parts = [];
    this.length = 0;
    this.dropping = false;
  }

  /** The packet's end, with the checksum it gave (-1: none or not hex). */
  private end(events: ReaderEvent[], expected: number): void {
    const data = this.take();
    if (this.dropping) {
      this.dropping = false; // reported as too-long already
      return;
    }
    const actual = checksum(data);
    if (expected === actual) events.push({ type: "packet", data });
    else events.push({ type: "bad-checksum", expected, actual });
  }

  /** The body gathered so far, as one buffer of its own. */
  private take(): Buffer {
    const data = Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return data;
  }
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}
