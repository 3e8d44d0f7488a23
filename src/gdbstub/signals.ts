// GDB numbers signals its own way (gdb/signals.def), not as Linux does:
// stop replies, C/S packets and X exit packets use GDB's numbers.

// [Linux number, GDB number]
const PAIRS: ReadonlyArray<readonly [number, number]> = [
  [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 10], [8, 8], [9, 9], [10, 30], [11, 11], [12, 31],
  [13, 13], [14, 14], [15, 15], [17, 20], [18, 19], [19, 17], [20, 18], [21, 21], [22, 22], [23, 16],
  [24, 24], [25, 25], [26, 26], [27, 27], [28, 28], [29, 23], [30, 32], [31, 12],
];
const toGdb = new Map(PAIRS);
const fromGdb = new Map(PAIRS.map(([l, g]) => [g, l]));

/** GDB's number for a Linux signal; 143 (GDB_SIGNAL_UNKNOWN) for others. */
export function gdbSignal(linux: number): number {
  return toGdb.get(linux) ?? 143;
}

/** The Linux signal for GDB's number; 0 when there is none. */
export function linuxSignal(gdb: number): number {
  return fromGdb.get(gdb) ?? 0;
}
