// kmemleak (mm/kmemleak.c): find allocated objects nothing points to.
//
// The core walks every allocated slab object, large kmalloc and KFENCE object
// (assembly/kmemleak.ts); this builds a sorted table of them, marks what the
// roots reference, then walks the grey list: each reached object's aligned
// words are read as pointers (interior pointers count), and what stays white
// is reported in kmemleak's text. Words are 4 bytes for a wasm32 guest's
// objects and roots (its pointers are linear addresses) and 8 bytes for
// kernel-side objects (direct-map addresses).
import * as abi from "../abi/abi.js";
import { formatFrame, type Frame } from "./stackdepot.js";
import { numArg } from "./args.js";
import { MAX_PID } from "./tasks.js";

/** A region scanned as a root: linear address, bytes, pointer width. */
export interface LeakRoot { lin: number; len: number; width: 4 | 8 }

export interface LeakReport {
  /** The object's kernel (direct-map) address. */
  address: bigint;
  /** The guest's own pointer (a guest's object). */
  guestAddress?: string;
  size: number;
  pid: number;
  comm: string;
  /** Allocation stack, innermost first, as printed. */
  backtrace: string[];
  text: string;
}

export interface ScanOptions {
  roots: LeakRoot[];
  /** Objects of this pid are a wasm32 guest's: 4-byte words, guest pointers. */
  guestPid?: number;
  /** Report only objects allocated by this pid (a guest's run); default: every object not allocated at boot. */
  onlyPid?: number;
  /**
   * Objects live before the guest started (kasan=off: objects carry no
   * allocation track, so a guest's objects are the ones not in this set);
   * replaces guestPid/onlyPid for telling the guest's objects apart.
   */
  before?: Set<number>;
  /** Linear addresses held outside memory (wasm locals libc keeps until exit): roots too. */
  pointers?: number[];
  /** A relocated guest's 4-byte words are its pointers: linear = word + guestBase (0 by default). */
  guestBase?: number;
}

/** The linear addresses of every allocated object now (for ScanOptions.before). */
export function liveObjects(eng: ScanEngine): Set<number> {
  const set = new Set<number>();
  eng.exports.kmemleak_walk_start();
  for (let a = eng.exports.kmemleak_walk_next() >>> 0; a !== 0; a = eng.exports.kmemleak_walk_next() >>> 0) set.add(a);
  return set;
}

export interface ScanEngine {
  exports: {
    kmemleak_walk_start(): void; kmemleak_walk_next(): number; kmemleak_walk_size(): number;
    kmemleak_walk_pid(): number; kmemleak_walk_stack(): number;
  };
  u8view(): Uint8Array;
  stackFrames(handle: number): Frame[];
  task(pid: number): { comm: string };
  hashPointer(va: bigint): string;
  readonly clockNs: bigint;
  options: { arch: string; ram: number };
}

// kmemleak's hex dump: 16 bytes a row, at most 2 rows
const HEX_ROW = 16;
const HEX_MAX_BYTES = 32;
// x86_64_defconfig's HZ and the kernel's INITIAL_JIFFIES (-300 s, as unsigned 32-bit)
const HZ = 1000;
const INITIAL_JIFFIES = 4294667296n;
// the kmalloc entry kmemleak's stack starts at (kmemleak_alloc_recursive is inlined into it)
const KMALLOC_FRAME: Frame = { name: "__kmalloc_noprof", offset: 0x2f9, size: 0x4c0 };
const KMALLOC_LARGE_FRAME: Frame = { name: "__kmalloc_large_noprof", offset: 0x24, size: 0xb0 };

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** The kernel's crc32(0, p, n) (crc32_le: no pre- or post-inversion), as kmemleak's checksum. */
export function crc32le(bytes: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** hex_dump_to_buffer(rowsize 16, groupsize 1, ascii) lines with kmemleak's 4-space prefix. */
const HEX2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const ASCII = Array.from({ length: 256 }, (_, b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."));

export function hexDumpLines(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let off = 0; off < bytes.length; off += HEX_ROW) {
    const row = bytes.subarray(off, off + HEX_ROW);
    let hex = "", ascii = "";
    for (let j = 0; j < row.length; j++) { hex += (j ? " " : "") + HEX2[row[j]]; ascii += ASCII[row[j]]; }
    // the ascii column starts at rowsize * 3 + 1 (hex_dump_to_buffer's ascii_column)
    out.push("    " + hex.padEnd(HEX_ROW * 3 + 1, " ") + ascii);
  }
  return out;
}

/** A stable text address for a frame (frames have no code address here; %pK hashes it anyway). */
function frameAddress(f: Frame): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < f.name.length; i++) h = Math.imul(h ^ f.name.charCodeAt(i), 0x01000193) >>> 0;
  return 0xffffffff81000000n + BigInt((h & 0x3fffff) << 4) + BigInt(f.offset);
}

/** The allocation stack kmemleak shows: the kmalloc entry, then the callers (KASAN's own frames left out). */
function allocBacktrace(eng: ScanEngine, handle: number, large: boolean): Frame[] {
  const frames = eng.stackFrames(handle).filter((f) => !/^(?:__)?kasan_|^save_stack_info$/.test(f.name));
  if (frames.length === 0 || !/alloc|kmalloc|krealloc/.test(frames[0].name)) frames.unshift(large ? KMALLOC_LARGE_FRAME : KMALLOC_FRAME);
  return frames;
}

export interface ScanResult { objects: number; leaks: LeakReport[]; scannedBytes: number }

/** One scan: every object white, the roots and the grey list, the white ones reported. */
export function kmemleakScan(eng: ScanEngine, o: ScanOptions): ScanResult {
  const e = eng.exports;
  const mem = eng.u8view();
  const words = new Uint32Array(mem.buffer, 0, mem.length >>> 2);
  // the walk: linear address, requested size, pid, stack handle
  let cap = 1024, n = 0;
  let lin = new Uint32Array(cap), size = new Uint32Array(cap), pid = new Uint32Array(cap), stack = new Uint32Array(cap);
  e.kmemleak_walk_start();
  for (;;) {
    const a = e.kmemleak_walk_next() >>> 0;
    if (a === 0) break;
    if (n === cap) {
      cap *= 2;
      const grow = (x: Uint32Array) => { const y = new Uint32Array(cap); y.set(x); return y; };
      lin = grow(lin); size = grow(size); pid = grow(pid); stack = grow(stack);
    }
    lin[n] = a; size[n] = e.kmemleak_walk_size(); pid[n] = e.kmemleak_walk_pid(); stack[n] = e.kmemleak_walk_stack();
    if (o.before) pid[n] = o.before.has(a) ? 0 : o.guestPid ?? 0;
    n++;
  }
  // sorted by address: key = lin * 2^20 + index (n < 2^20 checked below)
  if (n >= 1 << 20) throw new RangeError(`kmemleak: ${n} objects, more than the scan's limit of ${(1 << 20) - 1}`);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = lin[i] * 1048576 + i;
  keys.sort();
  const order = new Uint32Array(n), start = new Uint32Array(n), end = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const i = keys[k] % 1048576;
    order[k] = i; start[k] = lin[i]; end[k] = lin[i] + Math.max(size[i], 1);
  }
  const lo = n ? start[0] : 0, hi = n ? end[n - 1] : 0;
  const black = new Uint8Array(n);
  const grey = new Int32Array(n);     // each object is pushed at most once
  let greyTop = 0;
  const physBase = abi.PHYS_BASE;
  const ramEnd = physBase + eng.options.ram * 1048576;
  const pageOffset = eng.options.arch === "arm64" ? 0xffff000000000000n : 0xffff888000000000n;
  const pageOffsetHi = Number(pageOffset >> 32n) >>> 0;
  const tbi = eng.options.arch === "arm64";
  // mark the object containing linear address v (interior pointers count)
  const ref = (v: number) => {
    if (v < lo || v >= hi) return;
    let a = 0, b = n - 1;
    while (a < b) { const m = (a + b + 1) >>> 1; if (start[m] <= v) a = m; else b = m - 1; }
    if (start[a] <= v && v < end[a] && !black[a]) { black[a] = 1; grey[greyTop++] = a; }
  };
  let scanned = 0;
  const guestBase = o.guestBase ?? 0;
  const scan = (from: number, len: number, width: 4 | 8) => {
    const first = (from + width - 1) & ~(width - 1), last = from + len - width;
    if (first < 0 || from + len > mem.length) return;
    scanned += len;
    if (width === 4) {
      if (guestBase) {
        // a relocated guest's pointer is the low half of a direct-map address: an aligned
        // kernel pointer the object still holds (SLUB's free pointer in a fresh object) is
        // skipped whole, or it would hide the object it points to
        for (let p = first; p <= last; p += 4) {
          if ((p & 7) === 0 && p + 8 <= from + len) {
            let hiWord = words[(p >>> 2) + 1];
            if (tbi) hiWord = (hiWord & 0x00ffffff) | (pageOffsetHi & 0xff000000);
            if (hiWord === pageOffsetHi) { p += 4; continue; }
          }
          ref(words[p >>> 2] + guestBase);
        }
      } else {
        for (let p = first; p <= last; p += 4) ref(words[p >>> 2]);
      }
      return;
    }
    for (let p = first; p <= last; p += 8) {
      let hiWord = words[(p >>> 2) + 1];
      if (tbi) hiWord = (hiWord & 0x00ffffff) | (pageOffsetHi & 0xff000000);
      const d = (hiWord - pageOffsetHi) >>> 0;
      if (d > 0xf) continue;                       // not a direct-map address
      const off = d * 4294967296 + words[p >>> 2];
      const v = physBase + off;
      if (v < ramEnd) ref(v);
    }
  };
  for (const r of o.roots) scan(r.lin, r.len, r.width);
  for (const v of o.pointers ?? []) ref(v);
  while (greyTop > 0) {
    const k = grey[--greyTop];
    const i = order[k];
    scan(start[k], size[i], o.guestPid !== undefined && pid[i] === o.guestPid ? 4 : 8);
  }
  const leaks: LeakReport[] = [];
  const jiffies = `${INITIAL_JIFFIES + eng.clockNs / BigInt(1e9 / HZ)}`;
  // many leaks share an allocation stack: format each stack once
  const stacks = new Map<number, { backtrace: string[]; lines: string }>();
  const comms = new Map<number, string>();
  for (let k = 0; k < n; k++) {
    if (black[k]) continue;
    const i = order[k];
    if (o.onlyPid !== undefined ? pid[i] !== o.onlyPid : pid[i] === 0) continue;
    const va = pageOffset + BigInt(start[k] - physBase);
    const bytes = mem.subarray(start[k], start[k] + size[i]);
    let comm = comms.get(pid[i]);
    if (comm === undefined) { comm = eng.task(pid[i]).comm; comms.set(pid[i], comm); }
    const large = size[i] > 8192 && (start[k] & (abi.PAGE_SIZE - 1)) === 0;
    const key = stack[i] * 2 + (large ? 1 : 0);
    let st = stacks.get(key);
    if (!st) {
      const frames = allocBacktrace(eng, stack[i], large);
      const backtrace = frames.map(formatFrame);
      st = { backtrace, lines: frames.map((f, j) => `    [<${eng.hashPointer(frameAddress(f))}>] ${backtrace[j]}`).join("\n") };
      stacks.set(key, st);
    }
    const text = `unreferenced object 0x${va.toString(16)} (size ${size[i]}):\n` +
      `  comm "${comm}", pid ${pid[i]}, jiffies ${jiffies}\n` +
      `  hex dump (first ${Math.min(size[i], HEX_MAX_BYTES)} bytes):\n` +
      hexDumpLines(bytes.subarray(0, HEX_MAX_BYTES)).join("\n") + "\n" +
      `  backtrace (crc ${crc32le(bytes).toString(16)}):` + (st.lines ? "\n" + st.lines : "");
    leaks.push({ address: va, guestAddress: o.guestPid !== undefined && pid[i] === o.guestPid ? "0x" + (start[k] - guestBase).toString(16) : undefined,
      size: size[i], pid: pid[i], comm, backtrace: st.backtrace, text });
  }
  return { objects: n, leaks, scannedBytes: scanned };
}

/** engine.kmemleakScan()'s options (ScanOptions: what they mean). */
export interface KmemleakScanOptions { roots?: LeakRoot[]; guestPid?: number; onlyPid?: number; before?: Set<number>; pointers?: number[]; guestBase?: number }

/** What engine.kmemleakScan() uses of the engine (the Engine provides it). */
export interface KmemleakEngine extends ScanEngine {
  printk(text: string): void;
}

/** engine.kmemleakScan() and /sys/kernel/debug/kmemleak: checked options, the last scan's reports. */
export class Kmemleak {
  private leaks: LeakReport[] = [];

  /** `globalRoots`: the registered globals, always scanned as roots. */
  constructor(private readonly e: KmemleakEngine, private readonly globalRoots: () => LeakRoot[]) {}

  scan(o: KmemleakScanOptions): LeakReport[] {
    if (typeof o !== "object" || o === null) throw new TypeError("kmemleakScan: expected { roots?, guestPid?, onlyPid?, before? }");
    const memBytes = this.e.u8view().length;
    if (o.roots !== undefined && !Array.isArray(o.roots)) throw new TypeError("kmemleakScan: roots must be an array of { lin, len, width }");
    const roots: LeakRoot[] = (o.roots ?? []).map((r, i) => {
      if (typeof r !== "object" || r === null || (r.width !== 4 && r.width !== 8)) throw new TypeError(`kmemleakScan: roots[${i}] must be { lin, len, width: 4 | 8 }`);
      const lin = numArg("kmemleakScan", `roots[${i}].lin`, r.lin, 0, memBytes);
      const len = numArg("kmemleakScan", `roots[${i}].len`, r.len, 0, memBytes - lin);
      return { lin, len, width: r.width };
    });
    for (const k of ["guestPid", "onlyPid"] as const) if (o[k] !== undefined) numArg("kmemleakScan", k, o[k], 0, MAX_PID);
    const pointers = (o.pointers ?? []).map((p, i) => numArg("kmemleakScan", `pointers[${i}]`, p, 0, 2 ** 32 - 1));
    if (o.before !== undefined && !(o.before instanceof Set)) throw new TypeError("kmemleakScan: before must be a Set of linear addresses");
    roots.push(...this.globalRoots());
    const guestBase = o.guestBase === undefined ? 0 : numArg("kmemleakScan", "guestBase", o.guestBase, 0, abi.PHYS_BASE);
    const r = kmemleakScan(this.e, { roots, guestPid: o.guestPid, onlyPid: o.onlyPid, before: o.before, pointers, guestBase });
    this.leaks = r.leaks;
    if (r.leaks.length) this.e.printk(`kmemleak: ${r.leaks.length} new suspected memory leaks (see /sys/kernel/debug/kmemleak)`);
    return r.leaks;
  }

  /** The reports of the last scan, as /sys/kernel/debug/kmemleak shows them. */
  text(): string {
    return this.leaks.map((l) => l.text + "\n").join("");
  }
}
