// Op tapes: the binary format (docs/fuzz.md, "The tape format", has the table), a writer and
// a validating reader. A tape is a header (configuration, caches, tasks, the
// code sites ops run as), then the ops, each a fixed number of bytes per
// opcode, little-endian. The core's interpreter (assembly/fuzz/tape.ts) runs
// the op bytes as they are here.
import * as abi from "../../abi/abi.js";

export const TAPE_MAGIC = "SFTAPE\0";
export const TAPE_VERSION = 1;
/** Fixed part of the header; the tables follow it, the ops follow the tables. */
export const TAPE_FIXED_HEADER = 48;

/** Bytes of each op by opcode (0: no such op), from abi/abi.ts as the core's table. */
const SIZED = abi.FZ_LEN_SIZED, SLOT = abi.FZ_LEN_SLOT;
export const OP_LEN: readonly number[] = [0, SIZED, SIZED, abi.FZ_LEN_CACHE_ALLOC, SLOT, SIZED, SIZED, SIZED, SLOT,
  SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED,
  abi.FZ_LEN_MEMSET, abi.FZ_LEN_MEMCPY, abi.FZ_LEN_TICK, abi.FZ_LEN_TASK];

export const OP_NAMES: Record<number, string> = {
  [abi.FZ_KMALLOC]: "kmalloc", [abi.FZ_KZALLOC]: "kzalloc", [abi.FZ_CACHE_ALLOC]: "kmem_cache_alloc",
  [abi.FZ_KFREE]: "kfree", [abi.FZ_KFREE_AT]: "kfree_at", [abi.FZ_KREALLOC]: "krealloc", [abi.FZ_VMALLOC]: "vmalloc",
  [abi.FZ_VFREE]: "vfree", [abi.FZ_LOAD1]: "load1", [abi.FZ_LOAD2]: "load2", [abi.FZ_LOAD4]: "load4",
  [abi.FZ_LOAD8]: "load8", [abi.FZ_LOAD16]: "load16", [abi.FZ_STORE1]: "store1", [abi.FZ_STORE2]: "store2",
  [abi.FZ_STORE4]: "store4", [abi.FZ_STORE8]: "store8", [abi.FZ_STORE16]: "store16", [abi.FZ_MEMSET]: "memset",
  [abi.FZ_MEMCPY]: "memcpy", [abi.FZ_TICK]: "tick", [abi.FZ_TASK]: "task",
};

/** Bytes an access op touches (0 for other ops). */
export function accessSize(code: number): number {
  if (code >= abi.FZ_LOAD1 && code <= abi.FZ_LOAD16) return 1 << (code - abi.FZ_LOAD1);
  if (code >= abi.FZ_STORE1 && code <= abi.FZ_STORE16) return 1 << (code - abi.FZ_STORE1);
  return 0;
}
export function isStore(code: number): boolean {
  return code >= abi.FZ_STORE1 && code <= abi.FZ_STORE16;
}

export interface TapeSite { name: string; offset: number; size: number }
export interface TapeCache { name: string; objectSize: number; align: number; flags: number }
export interface TapeHeader {
  /** Slots the ops name (0..slots-1). */
  slots: number;
  /** Kernel command line the tape was made for (replay boots with it). */
  cmdline: string;
  profile: string;
  seed: number;
  unit: number;
  caches: TapeCache[];
  /** comm of each task a TASK op can switch to (pid 1000 + index). */
  tasks: string[];
  sites: TapeSite[];
}

export interface Tape {
  header: TapeHeader;
  /** The op bytes. */
  body: Uint8Array;
  ops: number;
}

/** A decoded op (fields an opcode does not have are 0). */
export interface Op {
  code: number;
  planted: boolean;
  site: number;
  slot: number;
  /** memcpy: the source slot. */
  src: number;
  off: number;
  /** memcpy: the source offset. */
  srcOff: number;
  /** allocation size, memset/memcpy length. */
  size: number;
  cache: number;
  byte: number;
  task: number;
  cpu: number;
  us: number;
}

export class TapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TapeError";
  }
}

export const TASK_PID_BASE = 1000;
/** Cache flags a tape may ask for. */
export const TAPE_CACHE_FLAGS = abi.SLAB_HWCACHE_ALIGN;

// ── writing ─────────────────────────────────────────────────────────────────
/** Appends ops to a growable buffer. */
export class OpWriter {
  buf: Uint8Array;
  dv: DataView;
  len = 0;
  ops = 0;

  constructor(capacity = 1 << 16) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.len = 0;
    this.ops = 0;
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
      this.dv = new DataView(b.buffer);
    }
    const at = this.len;
    this.len += n;
    this.ops++;
    return at;
  }
  private head(code: number, planted: boolean, site: number, slot: number): number {
    const at = this.room(OP_LEN[code]);
    this.buf[at] = code | (planted ? abi.FZ_PLANTED : 0);
    this.dv.setUint16(at + 1, site, true);
    this.dv.setUint16(at + 3, slot, true);
    return at;
  }
  /** kmalloc, kzalloc, vmalloc, krealloc: op with a size. */
  sized(code: number, site: number, slot: number, size: number, planted = false): void {
    const at = this.head(code, planted, site, slot);
    this.dv.setUint32(at + 5, size, true);
  }
  cacheAlloc(site: number, slot: number, cache: number, planted = false): void {
    const at = this.head(abi.FZ_CACHE_ALLOC, planted, site, slot);
    this.buf[at + 5] = cache;
  }
  /** kfree or vfree. */
  free(code: number, site: number, slot: number, planted = false): void {
    this.head(code, planted, site, slot);
  }
  kfreeAt(site: number, slot: number, off: number, planted = false): void {
    const at = this.head(abi.FZ_KFREE_AT, planted, site, slot);
    this.dv.setInt32(at + 5, off, true);
  }
  /** A load or store (FZ_LOAD1..FZ_STORE16). */
  access(code: number, site: number, slot: number, off: number, planted = false): void {
    const at = this.head(code, planted, site, slot);
    this.dv.setInt32(at + 5, off, true);
  }
  memset(site: number, slot: number, off: number, len: number, byte: number, planted = false): void {
    const at = this.head(abi.FZ_MEMSET, planted, site, slot);
    this.dv.setInt32(at + 5, off, true);
    this.dv.setUint32(at + 9, len, true);
    this.buf[at + 13] = byte;
  }
  memcpy(site: number, dst: number, dstOff: number, src: number, srcOff: number, len: number, planted = false): void {
    const at = this.head(abi.FZ_MEMCPY, planted, site, dst);
    this.dv.setInt32(at + 5, dstOff, true);
    this.dv.setUint16(at + 9, src, true);
    this.dv.setInt32(at + 11, srcOff, true);
    this.dv.setUint32(at + 15, len, true);
  }
  tick(us: number): void {
    const at = this.room(OP_LEN[abi.FZ_TICK]);
    this.buf[at] = abi.FZ_TICK;
    this.dv.setUint32(at + 1, us, true);
  }
  task(task: number, cpu: number): void {
    const at = this.room(OP_LEN[abi.FZ_TASK]);
    this.buf[at] = abi.FZ_TASK;
    this.buf[at + 1] = task;
    this.buf[at + 2] = cpu;
  }
  /** Append raw op bytes (already encoded, whole ops). */
  raw(bytes: Uint8Array, ops: number): void {
    if (this.len + bytes.length > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + bytes.length));
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
      this.dv = new DataView(b.buffer);
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    this.ops += ops;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function fnv1a(b: Uint8Array, from: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** The tape file: header, tables, ops. */
export function encodeTape(t: Tape): Uint8Array {
  const h = t.header;
  const parts: number[] = [];
  const str = (s: string, lenBytes: 1 | 2) => {
    const b = enc.encode(s);
    const max = lenBytes === 1 ? 255 : 65535;
    if (b.length > max) throw new TapeError(`string too long for a tape (${b.length} bytes, at most ${max}): ${JSON.stringify(s.slice(0, 40))}`);
    if (lenBytes === 1) parts.push(b.length); else parts.push(b.length & 255, b.length >> 8);
    for (const x of b) parts.push(x);
  };
  const u16 = (v: number) => parts.push(v & 255, (v >> 8) & 255);
  const u32 = (v: number) => parts.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  str(h.cmdline, 2);
  str(h.profile, 1);
  for (const c of h.caches) { u32(c.objectSize); u32(c.align); u32(c.flags); str(c.name, 1); }
  for (const comm of h.tasks) str(comm, 1);
  for (const s of h.sites) { u16(s.offset); u16(s.size); str(s.name, 1); }
  const headerBytes = TAPE_FIXED_HEADER + parts.length;
  const out = new Uint8Array(headerBytes + t.body.length);
  const dv = new DataView(out.buffer);
  out.set(enc.encode(TAPE_MAGIC), 0);
  out[7] = TAPE_VERSION;
  dv.setUint32(8, headerBytes, true);
  dv.setUint32(12, t.ops, true);
  dv.setUint32(16, t.body.length, true);
  dv.setUint32(24, h.slots, true);
  dv.setUint32(28, h.sites.length, true);
  dv.setUint16(32, h.caches.length, true);
  dv.setUint16(34, h.tasks.length, true);
  dv.setUint32(36, h.unit, true);
  dv.setFloat64(40, h.seed, true);
  out.set(parts, TAPE_FIXED_HEADER);
  out.set(t.body, headerBytes);
  dv.setUint32(20, fnv1a(out, 24), true);
  return out;
}

/** Check a header's tables before they are used or written. */
export function validateHeader(h: TapeHeader, what = "tape"): void {
  if (!Number.isInteger(h.slots) || h.slots < 1 || h.slots > abi.FZ_MAX_SLOTS) throw new TapeError(`${what}: slots must be 1..${abi.FZ_MAX_SLOTS}, got ${h.slots}`);
  if (h.sites.length < 1 || h.sites.length > abi.FZ_MAX_SITES) throw new TapeError(`${what}: 1..${abi.FZ_MAX_SITES} sites expected, got ${h.sites.length}`);
  if (h.caches.length > abi.FZ_MAX_CACHES) throw new TapeError(`${what}: at most ${abi.FZ_MAX_CACHES} caches, got ${h.caches.length}`);
  if (h.tasks.length > abi.FZ_MAX_TASKS) throw new TapeError(`${what}: at most ${abi.FZ_MAX_TASKS} tasks, got ${h.tasks.length}`);
  h.caches.forEach((c, i) => {
    if (!Number.isInteger(c.objectSize) || c.objectSize < 1 || c.objectSize > abi.KMALLOC_MAX_CACHE_SIZE) throw new TapeError(`${what}: cache ${i} (${c.name}): object size must be 1..${abi.KMALLOC_MAX_CACHE_SIZE}, got ${c.objectSize}`);
    if (c.align !== 0 && (c.align & (c.align - 1)) !== 0) throw new TapeError(`${what}: cache ${i} (${c.name}): align must be 0 or a power of two, got ${c.align}`);
    if ((c.flags & ~TAPE_CACHE_FLAGS) !== 0) throw new TapeError(`${what}: cache ${i} (${c.name}): flags 0x${c.flags.toString(16)} (only SLAB_HWCACHE_ALIGN is allowed)`);
    if (!/^[\w.:-]{1,32}$/.test(c.name)) throw new TapeError(`${what}: cache ${i}: bad name ${JSON.stringify(c.name)}`);
  });
  h.tasks.forEach((t, i) => {
    if (t.length < 1 || t.length > 15) throw new TapeError(`${what}: task ${i}: comm must be 1..15 characters, got ${JSON.stringify(t)}`);
  });
  h.sites.forEach((s, i) => {
    if (!/^[A-Za-z_][\w.]{0,62}$/.test(s.name)) throw new TapeError(`${what}: site ${i}: bad function name ${JSON.stringify(s.name)}`);
    if (s.size < 1 || s.offset >= s.size) throw new TapeError(`${what}: site ${i} (${s.name}): offset 0x${s.offset.toString(16)} must be below size 0x${s.size.toString(16)}`);
  });
}

/** Read and validate a tape file. Every problem is a TapeError naming it. */
export function decodeTape(file: Uint8Array, what = "tape"): Tape {
  if (file.length < TAPE_FIXED_HEADER) throw new TapeError(`${what}: truncated: ${file.length} bytes, a tape header alone is ${TAPE_FIXED_HEADER}`);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = String.fromCharCode(...file.subarray(0, 7));
  if (magic !== TAPE_MAGIC) throw new TapeError(`${what}: not a shadowfence tape (bad magic ${JSON.stringify(magic)})`);
  if (file[7] !== TAPE_VERSION) throw new TapeError(`${what}: tape format version ${file[7]}, this shadowfence reads version ${TAPE_VERSION}`);
  const headerBytes = dv.getUint32(8, true);
  const ops = dv.getUint32(12, true);
  const bodyBytes = dv.getUint32(16, true);
  if (headerBytes < TAPE_FIXED_HEADER || headerBytes > file.length) throw new TapeError(`${what}: truncated: the header says its tables end at byte ${headerBytes}, the file has ${file.length} bytes`);
  if (headerBytes + bodyBytes !== file.length) {
    throw new TapeError(headerBytes + bodyBytes > file.length
      ? `${what}: truncated: the header says ${bodyBytes} op bytes, the file holds ${file.length - headerBytes}`
      : `${what}: ${file.length - headerBytes - bodyBytes} bytes of trailing garbage after the ops`);
  }
  const sum = dv.getUint32(20, true);
  const actual = fnv1a(file, 24);
  if (sum !== actual) throw new TapeError(`${what}: corrupt: checksum 0x${actual.toString(16).padStart(8, "0")} does not match the header's 0x${sum.toString(16).padStart(8, "0")}`);
  let p = TAPE_FIXED_HEADER;
  const need = (n: number, field: string) => {
    if (p + n > headerBytes) throw new TapeError(`${what}: corrupt header: ${field} runs past the tables (byte ${p})`);
  };
  const str = (lenBytes: 1 | 2, field: string): string => {
    need(lenBytes, field);
    const n = lenBytes === 1 ? file[p] : dv.getUint16(p, true);
    p += lenBytes;
    need(n, field);
    let s: string;
    try {
      s = dec.decode(file.subarray(p, p + n));
    } catch {
      throw new TapeError(`${what}: corrupt header: ${field} is not UTF-8`);
    }
    p += n;
    return s;
  };
  const u16 = (field: string) => { need(2, field); const v = dv.getUint16(p, true); p += 2; return v; };
  const u32 = (field: string) => { need(4, field); const v = dv.getUint32(p, true); p += 4; return v; };
  const nSites = dv.getUint32(28, true), nCaches = dv.getUint16(32, true), nTasks = dv.getUint16(34, true);
  if (nSites > abi.FZ_MAX_SITES || nCaches > abi.FZ_MAX_CACHES || nTasks > abi.FZ_MAX_TASKS) {
    throw new TapeError(`${what}: corrupt header: ${nSites} sites, ${nCaches} caches, ${nTasks} tasks (at most ${abi.FZ_MAX_SITES}, ${abi.FZ_MAX_CACHES}, ${abi.FZ_MAX_TASKS})`);
  }
  const header: TapeHeader = {
    slots: dv.getUint32(24, true),
    unit: dv.getUint32(36, true),
    seed: dv.getFloat64(40, true),
    cmdline: str(2, "the command line"),
    profile: str(1, "the profile name"),
    caches: [], tasks: [], sites: [],
  };
  for (let i = 0; i < nCaches; i++) {
    const objectSize = u32(`cache ${i}`), align = u32(`cache ${i}`), flags = u32(`cache ${i}`);
    header.caches.push({ objectSize, align, flags, name: str(1, `cache ${i}`) });
  }
  for (let i = 0; i < nTasks; i++) header.tasks.push(str(1, `task ${i}`));
  for (let i = 0; i < nSites; i++) {
    const offset = u16(`site ${i}`), size = u16(`site ${i}`);
    header.sites.push({ offset, size, name: str(1, `site ${i}`) });
  }
  if (p !== headerBytes) throw new TapeError(`${what}: corrupt header: the tables end at byte ${p}, the header says ${headerBytes}`);
  validateHeader(header, what);
  const body = file.slice(headerBytes);
  const n = validateOps(body, header, what);
  if (n !== ops) throw new TapeError(`${what}: the header says ${ops} ops, the tape holds ${n}`);
  return { header, body, ops };
}

/** Check every op of `body` against the header; returns the op count. */
export function validateOps(body: Uint8Array, h: TapeHeader, what = "tape"): number {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let p = 0, i = 0;
  while (p < body.length) {
    const code = body[p] & 0x7f;
    const n = OP_LEN[code] ?? 0;
    const at = `op ${i} (byte ${p})`;
    if (!n) throw new TapeError(`${what}: ${at}: unknown opcode ${code}`);
    if (p + n > body.length) throw new TapeError(`${what}: ${at}: ${OP_NAMES[code]} needs ${n} bytes, the tape ends after ${body.length - p}`);
    if (code === abi.FZ_TASK) {
      if (body[p + 1] >= Math.max(1, h.tasks.length)) throw new TapeError(`${what}: ${at}: task ${body[p + 1]}, the tape has ${h.tasks.length} tasks`);
    } else if (code !== abi.FZ_TICK) {
      const site = dv.getUint16(p + 1, true), slot = dv.getUint16(p + 3, true);
      if (site >= h.sites.length) throw new TapeError(`${what}: ${at}: site ${site}, the tape has ${h.sites.length}`);
      if (slot >= h.slots) throw new TapeError(`${what}: ${at}: slot ${slot}, the tape has ${h.slots}`);
      switch (code) {
        case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC: case abi.FZ_KREALLOC: {
          const size = dv.getUint32(p + 5, true);
          if (size < 1 || size > abi.FZ_MAX_SIZE) throw new TapeError(`${what}: ${at}: ${OP_NAMES[code]} of ${size} bytes (1..${abi.FZ_MAX_SIZE})`);
          break;
        }
        case abi.FZ_CACHE_ALLOC:
          if (body[p + 5] >= h.caches.length) throw new TapeError(`${what}: ${at}: cache ${body[p + 5]}, the tape has ${h.caches.length}`);
          break;
        case abi.FZ_MEMSET:
          if (dv.getUint32(p + 9, true) > abi.FZ_MAX_SIZE) throw new TapeError(`${what}: ${at}: memset of ${dv.getUint32(p + 9, true)} bytes (at most ${abi.FZ_MAX_SIZE})`);
          break;
        case abi.FZ_MEMCPY: {
          const src = dv.getUint16(p + 9, true);
          if (src >= h.slots) throw new TapeError(`${what}: ${at}: memcpy source slot ${src}, the tape has ${h.slots}`);
          if (dv.getUint32(p + 15, true) > abi.FZ_MAX_SIZE) throw new TapeError(`${what}: ${at}: memcpy of ${dv.getUint32(p + 15, true)} bytes (at most ${abi.FZ_MAX_SIZE})`);
          break;
        }
      }
    }
    p += n;
    i++;
  }
  return i;
}

/** Decode the op at byte p into `o` (reused by the caller); returns its length. */
export function readOp(body: Uint8Array, dv: DataView, p: number, o: Op): number {
  const b0 = body[p];
  const code = b0 & 0x7f;
  o.code = code;
  o.planted = (b0 & abi.FZ_PLANTED) !== 0;
  o.site = o.slot = o.src = o.off = o.srcOff = o.size = o.cache = o.byte = o.task = o.cpu = o.us = 0;
  switch (code) {
    case abi.FZ_TICK: o.us = dv.getUint32(p + 1, true); break;
    case abi.FZ_TASK: o.task = body[p + 1]; o.cpu = body[p + 2]; break;
    default:
      o.site = dv.getUint16(p + 1, true);
      o.slot = dv.getUint16(p + 3, true);
      switch (code) {
        case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC: case abi.FZ_KREALLOC:
          o.size = dv.getUint32(p + 5, true); break;
        case abi.FZ_CACHE_ALLOC: o.cache = body[p + 5]; break;
        case abi.FZ_KFREE_AT: o.off = dv.getInt32(p + 5, true); break;
        case abi.FZ_MEMSET:
          o.off = dv.getInt32(p + 5, true); o.size = dv.getUint32(p + 9, true); o.byte = body[p + 13]; break;
        case abi.FZ_MEMCPY:
          o.off = dv.getInt32(p + 5, true); o.src = dv.getUint16(p + 9, true);
          o.srcOff = dv.getInt32(p + 11, true); o.size = dv.getUint32(p + 15, true); break;
        default:
          if (accessSize(code)) o.off = dv.getInt32(p + 5, true);
      }
  }
  return OP_LEN[code];
}

export function emptyOp(): Op {
  return { code: 0, planted: false, site: 0, slot: 0, src: 0, off: 0, srcOff: 0, size: 0, cache: 0, byte: 0, task: 0, cpu: 0, us: 0 };
}

/** Byte offsets of every op of a (valid) body, plus the end. */
export function opOffsets(body: Uint8Array): number[] {
  const out: number[] = [];
  let p = 0;
  while (p < body.length) {
    out.push(p);
    p += OP_LEN[body[p] & 0x7f];
  }
  out.push(p);
  return out;
}

/** One op as text, for disagreement messages and `replay --ops`. */
export function describeOp(o: Op, h?: TapeHeader): string {
  const name = OP_NAMES[o.code] ?? `op${o.code}`;
  const site = h ? ` @${h.sites[o.site]?.name ?? o.site}` : "";
  const p = o.planted ? " [planted]" : "";
  switch (o.code) {
    case abi.FZ_TICK: return `tick ${o.us}us`;
    case abi.FZ_TASK: return `task ${o.task} cpu ${o.cpu}`;
    case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC: case abi.FZ_KREALLOC:
      return `${name}(slot ${o.slot}, ${o.size})${site}${p}`;
    case abi.FZ_CACHE_ALLOC: return `${name}(slot ${o.slot}, ${h?.caches[o.cache]?.name ?? `cache ${o.cache}`})${site}${p}`;
    case abi.FZ_KFREE: case abi.FZ_VFREE: return `${name}(slot ${o.slot})${site}${p}`;
    case abi.FZ_KFREE_AT: return `kfree(slot ${o.slot} + ${o.off})${site}${p}`;
    case abi.FZ_MEMSET: return `memset(slot ${o.slot} + ${o.off}, 0x${o.byte.toString(16)}, ${o.size})${site}${p}`;
    case abi.FZ_MEMCPY: return `memcpy(slot ${o.slot} + ${o.off}, slot ${o.src} + ${o.srcOff}, ${o.size})${site}${p}`;
    default: return `${name}(slot ${o.slot} + ${o.off})${site}${p}`;
  }
}

/**
 * The same tape with only the sites and caches its ops use (reproducers read
 * better; the op bytes are renumbered to match).
 */
export function pruneTape(t: Tape): Tape {
  const body = t.body.slice();
  const dv = new DataView(body.buffer);
  const sites = new Map<number, number>(), caches = new Map<number, number>();
  for (let p = 0; p < body.length; p += OP_LEN[body[p] & 0x7f]) {
    const code = body[p] & 0x7f;
    if (code === abi.FZ_TICK || code === abi.FZ_TASK) continue;
    const s = dv.getUint16(p + 1, true);
    if (!sites.has(s)) sites.set(s, sites.size);
    dv.setUint16(p + 1, sites.get(s)!, true);
    if (code === abi.FZ_CACHE_ALLOC) {
      const c = body[p + 5];
      if (!caches.has(c)) caches.set(c, caches.size);
      body[p + 5] = caches.get(c)!;
    }
  }
  const siteList: TapeSite[] = [], cacheList: TapeCache[] = [];
  for (const [old, nw] of sites) siteList[nw] = t.header.sites[old];
  for (const [old, nw] of caches) cacheList[nw] = t.header.caches[old];
  if (siteList.length === 0) siteList.push(t.header.sites[0]);
  return { header: { ...t.header, sites: siteList, caches: cacheList }, body, ops: t.ops };
}
