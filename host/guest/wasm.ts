// A small WebAssembly binary reader and the rewrite a guest runs under.
// Written here rather than taken from binaryen or wabt because the rewrite is
// local (a few instructions around calls and memory instructions), must keep
// every other byte as it is, and must know the *original* byte offset of each
// site to name it `func+0xoff/0xsize`; binaryen re-encodes the whole module
// from its IR (offsets change) and is a 13 MB script; wabt's npm build reads
// and writes whole modules but has no instruction-level rewrite.
//
// The rewrite (rewriteGuest), for every defined function:
//   call to an `__asan_*` import:   [site] = frameId                       (3 instructions)
//   any other call / call_indirect: old = [ssp]; new = ring(old - 4);
//                                   [ssp] = new; [new] = frameId; call; [ssp] = old
//                                   (not in the shim's functions, `__wrap_*` / `__shadowfence_*`,
//                                   so stacks start at the caller of malloc)
//   every memory instruction:       checked (SEAL_IMPORTS): an inline seal in functions clang
//                                   instrumented, a call to the engine's check in all others,
//                                   the shim's included (names do not exempt anything here)
//   memory.fill / memory.copy:      the engine's checked __asan_memset / __asan_memmove
//   memory.grow:                    -1 (the engine's memory is not the guest's to grow)
//   loop head:                      count in a local; every 65536 call the clock (time limits)
//   entry of a function that calls guest code:
//                                   spend one unit of a global counter; at zero call the clock
// where frameId names the site (function, offset just past the instruction in
// the original body, body size) in the engine's frame table. The ring wraps
// (ring(x) = (x & mask) | base), so no depth can write outside it. The new
// imports shift every defined function's index: calls, ref.func, element
// segments, exports, start and function names are renumbered.

export class WasmFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WasmFormatError";
  }
}

class Reader {
  pos: number;
  constructor(readonly b: Uint8Array, pos = 0, readonly end = b.length) {
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError(`unexpected end of module at byte ${this.pos}`);
    return this.b[this.pos++];
  }
  u32(): number {
    let r = 0, shift = 0, b: number;
    do {
      b = this.byte();
      if (shift < 32) r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  }
  /** Signed LEB up to 64 bits, as a number (exact for |v| < 2^53). */
  s(): number {
    let r = 0, shift = 0, b: number;
    do {
      b = this.byte();
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) r -= 2 ** shift;
    return r;
  }
  skipLeb(): void {
    while (this.byte() & 0x80);
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new WasmFormatError(`unexpected end of module at byte ${this.pos}`);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  name(): string {
    return new TextDecoder().decode(this.bytes(this.u32()));
  }
}

export interface WasmImport {
  module: string;
  name: string;
  /** 0 function, 1 table, 2 memory, 3 global, 4 tag */
  kind: number;
  typeIndex?: number;
  memory?: { min: number; max?: number; shared: boolean; is64: boolean };
}
export interface WasmGlobal { mutable: boolean; valtype: number; init?: number }
export interface WasmData { offset?: number; size: number; passive: boolean }
export interface WasmBody { func: number; start: number; end: number }
export interface WasmSection { id: number; name?: string; start: number; end: number; headerStart: number }

export interface WasmModule {
  bytes: Uint8Array;
  sections: WasmSection[];
  /** signature: e.g. "i32 i64 i32 -> i32" */
  types: Array<{ params: number; results: number; signature: string }>;
  imports: WasmImport[];
  funcImports: number;
  globalImports: number;
  funcTypes: number[];
  /** Memories the module defines itself (a plain wasm32-wasi link defines one). */
  definedMemories: Array<{ min: number; max?: number; shared: boolean; is64: boolean }>;
  globals: WasmGlobal[];
  exports: Array<{ name: string; kind: number; index: number }>;
  /** Active funcref segments of table 0: table index -> function index. */
  table: Map<number, number>;
  data: WasmData[];
  bodies: WasmBody[];
  funcNames: Map<number, string>;
  globalNames: Map<number, string>;
}

function limits(r: Reader): { min: number; max?: number; shared: boolean; is64: boolean } {
  const flags = r.byte();
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return { min, max, shared: (flags & 2) !== 0, is64: (flags & 4) !== 0 };
}

/** A constant expression's value when it is `i32.const N end` (else undefined). */
function constExpr(r: Reader): number | undefined {
  let v: number | undefined;
  for (let first = true; ; first = false) {
    const op = r.byte();
    if (op === 0x0b) return v;
    if (first && op === 0x41) { v = r.s() >>> 0; continue; }
    skipInstruction(r, op);   // global.get, ref.func, extended constant expressions
    v = undefined;
  }
}

function valtypeName(t: number): string {
  return ({ 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128" } as Record<number, string>)[t] ?? "ref";
}

function valtype(r: Reader): number {
  const t = r.byte();
  if (t === 0x63 || t === 0x64) r.s(); // (ref null? ht)
  return t;
}

export function parseWasm(bytes: Uint8Array): WasmModule {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmFormatError("not a WebAssembly module (bad magic)");
  }
  if (bytes[4] !== 1 || bytes[5] || bytes[6] || bytes[7]) throw new WasmFormatError("unsupported WebAssembly version (expected 1)");
  const m: WasmModule = {
    bytes, sections: [], types: [], imports: [], funcImports: 0, globalImports: 0, funcTypes: [], definedMemories: [], globals: [],
    exports: [], table: new Map(), data: [], bodies: [], funcNames: new Map(), globalNames: new Map(),
  };
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const headerStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    if (end > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    const s = new Reader(bytes, start, end);
    const sec: WasmSection = { id, start, end, headerStart };
    switch (id) {
      case 0: {
        sec.name = s.name();
        if (sec.name === "name") parseNames(s, m);
        break;
      }
      case 1:
        for (let n = s.u32(); n > 0; n--) {
          const form = s.byte();
          if (form !== 0x60) throw new WasmFormatError(`unsupported type form 0x${form.toString(16)} (only function types)`);
          const params = s.u32();
          const sig: string[] = [];
          for (let i = 0; i < params; i++) sig.push(valtypeName(valtype(s)));
          sig.push("->");
          const results = s.u32();
          for (let i = 0; i < results; i++) sig.push(valtypeName(valtype(s)));
          m.types.push({ params, results, signature: sig.join(" ") });
        }
        break;
      case 2:
        for (let n = s.u32(); n > 0; n--) {
          const imp: WasmImport = { module: s.name(), name: s.name(), kind: s.byte() };
          if (imp.kind === 0) { imp.typeIndex = s.u32(); m.funcImports++; }
          else if (imp.kind === 1) { valtype(s); limits(s); }
          else if (imp.kind === 2) imp.memory = limits(s);
          else if (imp.kind === 3) { valtype(s); s.byte(); m.globalImports++; }
          else if (imp.kind === 4) { s.byte(); s.u32(); }
          else throw new WasmFormatError(`unknown import kind ${imp.kind}`);
          m.imports.push(imp);
        }
        break;
      case 5:
        for (let n = s.u32(); n > 0; n--) m.definedMemories.push(limits(s));
        break;
      case 3:
        for (let n = s.u32(); n > 0; n--) m.funcTypes.push(s.u32());
        break;
      case 6:
        for (let n = s.u32(); n > 0; n--) {
          const vt = valtype(s);
          const mutable = s.byte() === 1;
          m.globals.push({ valtype: vt, mutable, init: constExpr(s) });
        }
        break;
      case 7:
        for (let n = s.u32(); n > 0; n--) m.exports.push({ name: s.name(), kind: s.byte(), index: s.u32() });
        break;
      case 9:
        parseElements(s, m);
        break;
      case 10: {
        const n = s.u32();
        if (n !== m.funcTypes.length) throw new WasmFormatError("function and code section counts differ");
        for (let i = 0; i < n; i++) {
          const len = s.u32();
          m.bodies.push({ func: m.funcImports + i, start: s.pos, end: s.pos + len });
          s.pos += len;
        }
        break;
      }
      case 11:
        for (let n = s.u32(); n > 0; n--) {
          const flags = s.u32();
          if (flags === 1) { m.data.push({ passive: true, size: s.u32() }); s.pos += m.data[m.data.length - 1].size; continue; }
          if (flags === 2) s.u32();
          const offset = constExpr(s);
          const len = s.u32();
          s.pos += len;
          m.data.push({ passive: false, offset, size: len });
        }
        break;
    }
    m.sections.push(sec);
    r.pos = end;
  }
  return m;
}

function parseNames(s: Reader, m: WasmModule): void {
  try {
    while (s.pos < s.end) {
      const sub = s.byte();
      const len = s.u32();
      const end = s.pos + len;
      if (sub === 1 || sub === 7) {
        const map = sub === 1 ? m.funcNames : m.globalNames;
        for (let n = s.u32(); n > 0; n--) {
          const idx = s.u32();
          map.set(idx, s.name());
        }
      }
      s.pos = end;
    }
  } catch {
    // a malformed name section only costs names
  }
}

function parseElements(s: Reader, m: WasmModule): void {
  for (let n = s.u32(); n > 0; n--) {
    const flags = s.u32();
    let offset: number | undefined;
    let table = 0;
    if (flags === 2 || flags === 6) table = s.u32();
    if ((flags & 1) === 0) offset = constExpr(s);
    const exprs = (flags & 4) !== 0;
    if (flags & 3) s.byte(); // elemkind / reftype
    const count = s.u32();
    for (let i = 0; i < count; i++) {
      let func: number | undefined;
      if (exprs) {
        const op = s.byte();
        if (op === 0xd2) func = s.u32();
        else if (op === 0xd0) s.byte();
        else throw new WasmFormatError("unsupported element expression");
        if (s.byte() !== 0x0b) throw new WasmFormatError("bad element expression");
      } else {
        func = s.u32();
      }
      if (offset !== undefined && table === 0 && (flags & 1) === 0 && func !== undefined) m.table.set(offset + i, func);
    }
  }
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

function skipBlockType(r: Reader): void {
  const t = r.b[r.pos];
  if (t === 0x40 || (t >= 0x6f && t <= 0x7f)) { r.pos++; return; }
  if (t === 0x63 || t === 0x64) { r.pos++; r.s(); return; }
  r.s();
}

/** Skip the immediates of the instruction whose opcode was just read. */
function skipInstruction(r: Reader, op: number): void {
  switch (op) {
    case 0x02: case 0x03: case 0x04: case 0x06:
      skipBlockType(r); return;
    case 0x07: case 0x08: case 0x09: case 0x18: case 0x0c: case 0x0d: case 0x10: case 0x12: case 0x14: case 0x15:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: case 0xd2: case 0xd5: case 0xd6:
      r.u32(); return;
    case 0x0e: {
      for (let n = r.u32(); n >= 0; n--) r.u32();
      return;
    }
    case 0x11: case 0x13:
      r.u32(); r.u32(); return;
    case 0x1c:
      for (let n = r.u32(); n > 0; n--) valtype(r);
      return;
    case 0x3f: case 0x40:
      r.u32(); return;
    case 0x41: case 0x42:
      r.s(); return;
    case 0x43: r.pos += 4; return;
    case 0x44: r.pos += 8; return;
    case 0xd0: {
      const t = r.b[r.pos];
      if (t >= 0x69 && t <= 0x74) r.pos++; else r.s();
      return;
    }
    case 0xfc: {
      const sub = r.u32();
      if (sub <= 7) return;
      if (sub === 8 || sub === 12 || sub === 14 || sub === 10) { r.u32(); r.u32(); return; }
      if (sub === 9 || sub === 11 || sub === 13 || sub === 15 || sub === 16 || sub === 17) { r.u32(); return; }
      throw new WasmFormatError(`unknown 0xfc instruction ${sub}`);
    }
    case 0xfd: {
      const sub = r.u32();
      if (sub <= 11 || sub === 92 || sub === 93) { skipMemarg(r); return; }
      if (sub === 12 || sub === 13) { r.pos += 16; return; }
      if (sub >= 21 && sub <= 34) { r.pos++; return; }
      if (sub >= 84 && sub <= 91) { skipMemarg(r); r.pos++; return; }
      return;
    }
    case 0xfe: {
      const sub = r.u32();
      if (sub === 3) { r.pos++; return; }
      skipMemarg(r);
      return;
    }
    case 0xfb:
      throw new WasmFormatError("GC instructions are not supported in guests");
  }
  if (op >= 0x28 && op <= 0x3e) { skipMemarg(r); return; }
  // no immediates: control, parametric, numeric (0x45-0xc4), ref.is_null, ref.eq, ref.as_non_null.
  // Anything else is refused: an instruction whose immediates this reader does not know would
  // make it read the body differently from the engine that compiles it (and miss an access)
  if (op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b ||
      (op >= 0x45 && op <= 0xc4) || op === 0xd1 || op === 0xd3 || op === 0xd4) return;
  throw new WasmFormatError(`unsupported instruction 0x${op.toString(16)} at byte ${r.pos - 1}`);
}

// ── encoding ────────────────────────────────────────────────────────────────
class Writer {
  buf = new Uint8Array(1 << 16);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(v: number): void { this.room(1); this.buf[this.len++] = v; }
  bytes(v: Uint8Array): void { this.room(v.length); this.buf.set(v, this.len); this.len += v.length; }
  u32(v: number): void {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v) b |= 0x80;
      this.byte(b);
    } while (v);
  }
  s32(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && (b & 0x40))) { this.byte(b); return; }
      this.byte(b | 0x80);
    }
  }
  result(): Uint8Array { return this.buf.slice(0, this.len); }
}

export interface ShadowStackLayout {
  /** Linear address of the ssp word and of the site word. */
  ssp: number;
  site: number;
  /** The ring: base (aligned to its size) and size - 1. */
  ringBase: number;
  ringMask: number;
}

/** Where the inline seal reads frame bytes (the engine's GUEST_FRAMES) and where RAM starts. */
export interface SealLayout extends ShadowStackLayout {
  guestFrames: number;
  physBase: number;
  /** Fuel a guest starts with (the runner's budget between clock checks). */
  fuel: number;
  /** A module that defines its own memory (a plain wasm32-wasi link) imports env.memory instead, at least this many pages. */
  importDefinedMemory?: number;
  /** Defined functions whose bodies become one call of an engine heap entry (a plain build's malloc & co.). */
  redirect?: Map<number, HeapEntry>;
  /** New i32 initial values of defined globals (the stack pointer of a stack-first link, moved above its data). */
  globalInit?: Map<number, number>;
  /** Export this global (the C stack pointer) as STACK_POINTER_EXPORT, so the leak scan reads the live stack. */
  exportStackPointer?: number;
  /**
   * Relocate an uninstrumented guest (a default wasm-ld layout) by this many bytes:
   * every access, data segment and memory.size moves (docs/guests.md, "Programs shadowfence cc did not build").
   */
  relocate?: number;
}

/** The export the rewriter adds for the guest's stack pointer. */
export const STACK_POINTER_EXPORT = "__shadowfence_sp";

export interface RewriteHooks {
  /** Calls to this function index store a site only (the __asan_* imports). */
  isHook(func: number): boolean;
  /** Bytes a hook checks at its address argument (__asan_load4: 4), 0 for any other function. */
  checkedBytes(func: number): number;
  /** Functions whose calls keep no shadow-stack frame (the shim); their memory accesses are checked all the same. */
  skip(func: number): boolean;
  /** The frame id naming a call site: `offset` is just past the call, relative to the body start. */
  frameId(func: number, offset: number, size: number): number;
}

/**
 * The functions the rewriter imports from module "shadowfence", in this order
 * (their indices follow the guest's own function imports, so every defined
 * function's index moves up by their number):
 *   seal(addr, offset, size, write)   a failed inline seal: stop an access the guest may not make
 *   load(addr, offset, size)          the full check before a load of uninstrumented code
 *   store(addr, offset, size)         ... before a store
 *   fill(dst, byte, n) -> dst         memory.fill, checked and done (__asan_memset)
 *   copy(dst, src, n) -> dst          memory.copy, checked and done (__asan_memmove)
 *   range(addr, n)                    the destination of memory.init (__asan_storeN)
 *   fuel() -> n                       the time limit: throws past the deadline, else the next budget
 */
export const SEAL_MODULE = "shadowfence";
export const SEAL_IMPORTS = ["seal", "load", "store", "fill", "copy", "range", "fuel",
  "kmalloc", "kcalloc", "kfree", "krealloc", "kmalloc_aligned", "ksize", "posix_memalign"] as const;
const SEAL_TYPES = [[4, 0], [3, 0], [3, 0], [3, 1], [3, 1], [2, 0], [0, 1],
  [1, 1], [2, 1], [1, 0], [2, 1], [2, 1], [1, 1], [3, 1]];   // i32 params, i32 results

/** The engine's heap entry points a guest's own allocator functions can be redirected to (bodies replaced). */
export type HeapEntry = "kmalloc" | "kcalloc" | "kfree" | "krealloc" | "kmalloc_aligned" | "ksize" | "posix_memalign" | "fill" | "copy";
/** (params, results) of each heap entry, all i32. */
export function heapEntryArity(e: HeapEntry): [number, number] {
  return SEAL_TYPES[SEAL_IMPORTS.indexOf(e)] as [number, number];
}

const I32_CONST = 0x41, I32_LOAD = 0x28, I32_LOAD8_U = 0x2d, I32_STORE = 0x36, I32_ADD = 0x6a, I32_SUB = 0x6b,
  I32_AND = 0x71, I32_OR = 0x72, I32_SHR_U = 0x76, I32_EQZ = 0x45, I32_GT_U = 0x4b;
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, GLOBAL_GET = 0x23, GLOBAL_SET = 0x24;
const IF = 0x04, END = 0x0b, CALL = 0x10, DROP = 0x1a;
const T_I32 = 0x7f, T_I64 = 0x7e, T_F32 = 0x7d, T_F64 = 0x7c, T_V128 = 0x7b;

/** A memory instruction: bytes it touches, whether it writes, the operands above its address. */
interface Access { size: number; write: boolean; extras: number[] }

const PLAIN: Record<number, Access> = {};
[[0x28, 4], [0x29, 8], [0x2a, 4], [0x2b, 8], [0x2c, 1], [0x2d, 1], [0x2e, 2], [0x2f, 2], [0x30, 1], [0x31, 1],
  [0x32, 2], [0x33, 2], [0x34, 4], [0x35, 4]].forEach(([op, size]) => { PLAIN[op] = { size, write: false, extras: [] }; });
[[0x36, 4, T_I32], [0x37, 8, T_I64], [0x38, 4, T_F32], [0x39, 8, T_F64], [0x3a, 1, T_I32], [0x3b, 2, T_I32],
  [0x3c, 1, T_I64], [0x3d, 2, T_I64], [0x3e, 4, T_I64]].forEach(([op, size, t]) => { PLAIN[op] = { size, write: true, extras: [t] }; });

function simdAccess(sub: number): Access | undefined {
  if (sub === 0) return { size: 16, write: false, extras: [] };
  if (sub >= 1 && sub <= 6) return { size: 8, write: false, extras: [] };
  if (sub >= 7 && sub <= 10) return { size: 1 << (sub - 7), write: false, extras: [] };
  if (sub === 11) return { size: 16, write: true, extras: [T_V128] };
  if (sub >= 84 && sub <= 87) return { size: 1 << (sub - 84), write: false, extras: [T_V128] };
  if (sub >= 88 && sub <= 91) return { size: 1 << (sub - 88), write: true, extras: [T_V128] };
  if (sub === 92) return { size: 4, write: false, extras: [] };
  if (sub === 93) return { size: 8, write: false, extras: [] };
  return undefined;
}

const ATOMIC_SIZES = [4, 8, 1, 2, 1, 2, 4];
const ATOMIC_TYPES = [T_I32, T_I64, T_I32, T_I32, T_I64, T_I64, T_I64];
function atomicAccess(sub: number): Access {
  if (sub === 0) return { size: 4, write: false, extras: [T_I32] };
  if (sub === 1) return { size: 4, write: false, extras: [T_I32, T_I64] };
  if (sub === 2) return { size: 8, write: false, extras: [T_I64, T_I64] };
  if (sub >= 0x10 && sub <= 0x16) return { size: ATOMIC_SIZES[sub - 0x10], write: false, extras: [] };
  if (sub >= 0x17 && sub <= 0x1d) return { size: ATOMIC_SIZES[sub - 0x17], write: true, extras: [ATOMIC_TYPES[sub - 0x17]] };
  if (sub >= 0x1e && sub <= 0x47) { const i = (sub - 0x1e) % 7; return { size: ATOMIC_SIZES[i], write: true, extras: [ATOMIC_TYPES[i]] }; }
  if (sub >= 0x48 && sub <= 0x4e) { const i = sub - 0x48; return { size: ATOMIC_SIZES[i], write: true, extras: [ATOMIC_TYPES[i], ATOMIC_TYPES[i]] }; }
  throw new WasmFormatError(`unknown atomic instruction 0xfe ${sub}`);
}

/** Where the last memarg's offset was encoded (relocation re-encodes it). */
const lastOffset = { start: 0, end: 0 };
/** Read a memarg; only memory 0 exists for a guest. Returns the offset. */
function memarg(r: Reader): number {
  const align = r.u32();
  if (align & 0x40 && r.u32() !== 0) throw new WasmFormatError("the guest names a memory other than memory 0 (multi-memory is not supported)");
  lastOffset.start = r.pos;
  const offset = r.u32();
  lastOffset.end = r.pos;
  return offset;
}
function memIndexZero(r: Reader): void {
  if (r.u32() !== 0) throw new WasmFormatError("the guest names a memory other than memory 0 (multi-memory is not supported)");
}

// Section order of the binary format (custom sections aside)
const SECTION_RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

interface Ctx {
  m: WasmModule;
  layout: SealLayout;
  hooks: RewriteHooks;
  /** Index of the first seal import; defined functions move up by SEAL_IMPORTS.length. */
  sealBase: number;
  fuelGlobal: number;
  nGlobals: number;
}

function shiftFunc(c: Ctx, f: number): number {
  return f >= c.m.funcImports ? f + SEAL_IMPORTS.length : f;
}

/** Copy a constant expression, renumbering ref.func. */
function copyConstExpr(c: Ctx, r: Reader, w: Writer): void {
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    if (op === END) { w.byte(END); return; }
    if (op === 0xd2) { w.byte(0xd2); w.u32(shiftFunc(c, r.u32())); continue; }
    if (op === GLOBAL_GET) { const g = r.u32(); if (g >= c.nGlobals) throw new WasmFormatError(`global ${g} does not exist`); }
    else skipInstruction(r, op);
    w.bytes(r.b.subarray(at, r.pos));
  }
}

function section(out: Writer, id: number, payload: Uint8Array): void {
  out.byte(id);
  out.u32(payload.length);
  out.bytes(payload);
}

/**
 * The guest as it runs: every call keeps a shadow call stack, every memory
 * instruction is checked (see SEAL_IMPORTS), memory.grow answers -1, and
 * loop heads and function entries spend fuel for the time limit.
 */
export function rewriteGuest(m: WasmModule, layout: SealLayout, hooks: RewriteHooks): Uint8Array {
  if (m.sections.some((s) => s.id === 5) && (layout.importDefinedMemory === undefined || m.definedMemories.length !== 1 || m.imports.some((i) => i.kind === 2))) {
    throw new WasmFormatError("the guest defines its own memory; guests import env.memory only");
  }
  const c: Ctx = { m, layout, hooks, sealBase: m.funcImports, fuelGlobal: m.globalImports + m.globals.length,
    nGlobals: m.globalImports + m.globals.length };
  const out = new Writer();
  out.bytes(m.bytes.subarray(0, 8));
  const done = new Set<number>();
  const emitMissing = (rank: number) => {
    if (rank > 1 && !done.has(1)) { done.add(1); section(out, 1, typeSection(c)); }
    if (rank > 2 && !done.has(2)) { done.add(2); section(out, 2, importSection(c)); }
    if (rank > 7 && !done.has(6)) { done.add(6); section(out, 6, globalSection(c)); }
  };
  for (const sec of m.sections) {
    if (sec.id === 0) {
      // DWARF and source maps describe the old code offsets: drop them
      if (sec.name && (sec.name.startsWith(".debug_") || sec.name === "sourceMappingURL" || sec.name === "external_debug_info")) continue;
      if (sec.name === "name") { section(out, 0, nameSection(c)); continue; }
      out.bytes(m.bytes.subarray(sec.headerStart, sec.end));
      continue;
    }
    const rank = SECTION_RANK[sec.id];
    if (rank === undefined) throw new WasmFormatError(`unknown section ${sec.id}`);
    emitMissing(rank);
    const r = new Reader(m.bytes, sec.start, sec.end);
    if (sec.id === 5) continue;          // the defined memory became an import (importSection)
    switch (sec.id) {
      case 1: done.add(1); section(out, 1, typeSection(c)); break;
      case 2: done.add(2); section(out, 2, importSection(c)); break;
      case 6: done.add(6); section(out, 6, globalSection(c)); break;
      case 7: {
        const w = new Writer();
        const n = r.u32();
        const sp = layout.exportStackPointer;
        w.u32(sp === undefined ? n : n + 1);
        if (sp !== undefined) { const nm = new TextEncoder().encode(STACK_POINTER_EXPORT); w.u32(nm.length); w.bytes(nm); w.byte(3); w.u32(sp); }
        for (let i = 0; i < n; i++) {
          const nameStart = r.pos;
          r.bytes(r.u32());
          w.bytes(m.bytes.subarray(nameStart, r.pos));
          const kind = r.byte();
          const idx = r.u32();
          w.byte(kind);
          w.u32(kind === 0 ? shiftFunc(c, idx) : idx);
        }
        section(out, 7, w.result());
        break;
      }
      case 8: { const w = new Writer(); w.u32(shiftFunc(c, r.u32())); section(out, 8, w.result()); break; }
      case 9: section(out, 9, elementSection(c, r)); break;
      case 11: section(out, 11, layout.relocate ? relocateDataSection(m, r, layout.relocate) : m.bytes.subarray(sec.start, sec.end)); break;
      case 10: {
        const w = new Writer();
        w.u32(m.bodies.length);
        for (const b of m.bodies) {
          const entry = layout.redirect?.get(b.func);
          const fn = entry ? redirectBody(c, entry) : rewriteBody(c, b);
          w.u32(fn.length);
          w.bytes(fn);
        }
        section(out, 10, w.result());
        break;
      }
      default:
        out.bytes(m.bytes.subarray(sec.headerStart, sec.end));
    }
  }
  emitMissing(99);
  return out.result();
}

function typeSection(c: Ctx): Uint8Array {
  const w = new Writer();
  const sec = c.m.sections.find((s) => s.id === 1);
  w.u32(c.m.types.length + SEAL_TYPES.length);
  if (sec) {
    const r = new Reader(c.m.bytes, sec.start, sec.end);
    r.u32();
    w.bytes(c.m.bytes.subarray(r.pos, sec.end));
  }
  for (const [params, results] of SEAL_TYPES) {
    w.byte(0x60);
    w.u32(params); for (let i = 0; i < params; i++) w.byte(T_I32);
    w.u32(results); for (let i = 0; i < results; i++) w.byte(T_I32);
  }
  return w.result();
}

/** A replaced allocator body: pass the parameters to the engine's heap entry, return what it returns. */
function redirectBody(c: Ctx, entry: HeapEntry): Uint8Array {
  const w = new Writer();
  const [params] = heapEntryArity(entry);
  w.u32(0);                                  // no locals
  for (let i = 0; i < params; i++) { w.byte(LOCAL_GET); w.u32(i); }
  w.byte(CALL); w.u32(c.sealBase + SEAL_IMPORTS.indexOf(entry));
  w.byte(END);
  return w.result();
}

function importSection(c: Ctx): Uint8Array {
  const w = new Writer();
  const sec = c.m.sections.find((s) => s.id === 2);
  const memPages = c.layout.importDefinedMemory;
  w.u32(c.m.imports.length + SEAL_IMPORTS.length + (memPages !== undefined ? 1 : 0));
  if (sec) {
    const r = new Reader(c.m.bytes, sec.start, sec.end);
    r.u32();
    w.bytes(c.m.bytes.subarray(r.pos, sec.end));
  }
  const enc = new TextEncoder();
  if (memPages !== undefined) {
    const mod = enc.encode("env"), nm = enc.encode("memory");
    w.u32(mod.length); w.bytes(mod);
    w.u32(nm.length); w.bytes(nm);
    w.byte(2); w.byte(0); w.u32(memPages);
  }
  SEAL_IMPORTS.forEach((name, i) => {
    const mod = enc.encode(SEAL_MODULE), nm = enc.encode(name);
    w.u32(mod.length); w.bytes(mod);
    w.u32(nm.length); w.bytes(nm);
    w.byte(0);
    w.u32(c.m.types.length + i);
  });
  return w.result();
}

function globalSection(c: Ctx): Uint8Array {
  const w = new Writer();
  const sec = c.m.sections.find((s) => s.id === 6);
  w.u32(c.m.globals.length + 1);
  if (sec) {
    const r = new Reader(c.m.bytes, sec.start, sec.end);
    for (let n = r.u32(), g = c.m.globalImports; n > 0; n--, g++) {
      const at = r.pos;
      valtype(r);
      r.byte();
      w.bytes(c.m.bytes.subarray(at, r.pos));
      const init = c.layout.globalInit?.get(g);
      if (init === undefined) { copyConstExpr(c, r, w); continue; }
      const skip = new Writer();
      copyConstExpr(c, r, skip);              // read past the original initialiser
      w.byte(I32_CONST); w.s32(init | 0); w.byte(END);
    }
  }
  // the fuel counter: a mutable i32 no original instruction can name
  w.byte(T_I32); w.byte(1);
  w.byte(I32_CONST); w.s32(c.layout.fuel); w.byte(END);
  return w.result();
}

function elementSection(c: Ctx, r: Reader): Uint8Array {
  const w = new Writer();
  const n = r.u32();
  w.u32(n);
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags > 7) throw new WasmFormatError(`unknown element segment kind ${flags}`);
    w.u32(flags);
    if (flags === 2 || flags === 6) w.u32(r.u32());
    if ((flags & 1) === 0) copyConstExpr(c, r, w);
    const exprs = (flags & 4) !== 0;
    if (flags & 3) {
      const at = r.pos;
      if (exprs) valtype(r); else r.byte();
      w.bytes(r.b.subarray(at, r.pos));
    }
    const count = r.u32();
    w.u32(count);
    for (let j = 0; j < count; j++) {
      if (exprs) copyConstExpr(c, r, w);
      else w.u32(shiftFunc(c, r.u32()));
    }
  }
  return w.result();
}

function nameSection(c: Ctx): Uint8Array {
  // function names, renumbered; the other subsections (locals, labels, ...) are dropped
  const w = new Writer();
  const enc = new TextEncoder();
  const nm = enc.encode("name");
  w.u32(nm.length); w.bytes(nm);
  const sub = new Writer();
  const entries = [...c.m.funcNames].sort((a, b) => a[0] - b[0]);
  sub.u32(entries.length);
  for (const [f, name] of entries) {
    const b = enc.encode(name);
    sub.u32(shiftFunc(c, f)); sub.u32(b.length); sub.bytes(b);
  }
  const payload = sub.result();
  w.byte(1); w.u32(payload.length); w.bytes(payload);
  return w.result();
}

/**
 * Does the body call one of clang's __asan_* hooks (it was instrumented)? Can
 * it call guest code (a defined function, or indirectly)? A function that
 * cannot is a leaf: it runs no longer than its loops let it, so its entry
 * spends no fuel.
 */
function scanBody(c: Ctx, b: WasmBody): { instrumented: boolean; leaf: boolean } {
  const r = new Reader(c.m.bytes, b.start, b.end);
  for (let groups = r.u32(); groups > 0; groups--) { r.u32(); valtype(r); }
  let instrumented = false, leaf = true;
  while (r.pos < b.end) {
    const op = r.byte();
    if (op === CALL || op === 0x12) {
      const f = r.u32();
      if (op === CALL && c.hooks.isHook(f)) instrumented = true;
      if (f >= c.m.funcImports) leaf = false;
    } else {
      if (op === 0x11 || op === 0x13 || op === 0x14 || op === 0x15) leaf = false;
      skipInstruction(r, op);
    }
  }
  return { instrumented, leaf };
}

// Scratch locals each rewritten function gets, after its own
const SCRATCH_GROUPS: Array<[number, number]> = [[7, T_I32], [2, T_I64], [1, T_F32], [1, T_F64], [1, T_V128]];
const L_OLD_SSP = 0, L_NEW_SSP = 1, L_ADDR = 2, L_EA = 3, L_I32 = 4, L_LOOPS = 6, L_I64 = 7, L_F32 = 9, L_F64 = 10, L_V128 = 11;
const SCRATCH_LOCALS = 12;
/** Loop iterations a function invocation runs between two calls of the fuel import (a power of two). */
export const LOOP_FUEL_PERIOD = 1 << 16;

function rewriteBody(c: Ctx, b: WasmBody): Uint8Array {
  const { m, layout, hooks } = c;
  const bytes = m.bytes;
  const r = new Reader(bytes, b.start, b.end);
  const w = new Writer();
  const groups = r.u32();
  let locals = m.types[m.funcTypes[b.func - m.funcImports]]?.params ?? 0;
  const groupStart = r.pos;
  for (let i = 0; i < groups; i++) {
    locals += r.u32();
    valtype(r);
  }
  if (locals + SCRATCH_LOCALS > 50000) throw new WasmFormatError(`function ${b.func} declares too many locals`);
  const L = (k: number) => locals + k;
  w.u32(groups + SCRATCH_GROUPS.length);
  w.bytes(bytes.subarray(groupStart, r.pos));
  for (const [n, t] of SCRATCH_GROUPS) { w.u32(n); w.byte(t); }
  const { instrumented: sealed, leaf } = scanBody(c, b);
  const delta = layout.relocate ?? 0;
  if (delta && sealed) throw new WasmFormatError("an instrumented guest cannot be relocated");
  const keepStack = !hooks.skip(b.func);
  const size = b.end - b.start;
  const fuelImport = c.sealBase + SEAL_IMPORTS.indexOf("fuel");
  const imp = (name: (typeof SEAL_IMPORTS)[number]) => c.sealBase + SEAL_IMPORTS.indexOf(name);
  // a loop head counts in a local (a register): every LOOP_FUEL_PERIOD iterations of this
  // invocation's loops the import is called; the count it returns is dropped
  const loopFuel = () => {
    w.byte(LOCAL_GET); w.u32(L(L_LOOPS));
    w.byte(I32_CONST); w.s32(1);
    w.byte(I32_ADD);
    w.byte(LOCAL_TEE); w.u32(L(L_LOOPS));
    w.byte(I32_CONST); w.s32(LOOP_FUEL_PERIOD - 1);
    w.byte(I32_AND);
    w.byte(I32_EQZ);
    w.byte(IF); w.byte(0x40);
    w.byte(CALL); w.u32(fuelImport);
    w.byte(DROP);
    w.byte(END);
  };
  // a function entry spends from the module's counter (calls span invocations)
  const fuel = () => {
    w.byte(GLOBAL_GET); w.u32(c.fuelGlobal);
    w.byte(I32_CONST); w.s32(1);
    w.byte(I32_SUB);
    w.byte(GLOBAL_SET); w.u32(c.fuelGlobal);
    w.byte(GLOBAL_GET); w.u32(c.fuelGlobal);
    w.byte(I32_EQZ);
    w.byte(IF); w.byte(0x40);
    w.byte(CALL); w.u32(fuelImport);
    w.byte(GLOBAL_SET); w.u32(c.fuelGlobal);
    w.byte(END);
  };
  // the shim's own sites are left out as its frames are: a report in its memcpy names the caller
  const site = (id: number) => {
    w.byte(I32_CONST); w.s32(layout.site);
    w.byte(I32_CONST); w.s32(keepStack ? id : 0);
    w.byte(I32_STORE); w.byte(2); w.byte(0);
  };
  if (!leaf) fuel();
  let copied = r.pos;
  const flush = (at: number) => { w.bytes(bytes.subarray(copied, at)); };
  // In an instrumented function, a raw access whose address is a local that a hook just
  // checked for at least its bytes needs no seal. A small model of the operand stack since
  // the last reset says where each value came from (a local index, or null); `checked` says
  // which locals a hook checked and for how many bytes. Calls (which may free memory),
  // control flow (paths merge) and any instruction the model does not know reset both.
  const stack: Array<number | null> = [];
  const checked = new Map<number, number>();
  const pop = () => (stack.length ? stack.pop()! : null);
  const reset = () => { stack.length = 0; checked.clear(); };
  const modelSimple = (op: number) => {
    if (op >= 0x41 && op <= 0x44) stack.push(null);
    else if ((op >= 0x46 && op <= 0x4f) || (op >= 0x51 && op <= 0x66) || (op >= 0x6a && op <= 0x78) ||
      (op >= 0x7c && op <= 0x8a) || (op >= 0x92 && op <= 0x98) || (op >= 0xa0 && op <= 0xa6)) { pop(); pop(); stack.push(null); }
    else if (op === 0x45 || op === 0x50 || (op >= 0x67 && op <= 0x69) || (op >= 0x79 && op <= 0x7b) ||
      (op >= 0x8b && op <= 0x91) || (op >= 0x99 && op <= 0x9f) || (op >= 0xa7 && op <= 0xc4)) { pop(); stack.push(null); }
    else if (op === DROP) pop();
    else if (op === 0x1b) { pop(); pop(); pop(); stack.push(null); }
    else if (op !== 0x01) reset();
  };
  /** The checks before a memory instruction [at, r.pos) with the address (then `a.extras`) on the stack. */
  const access = (at: number, a: Access, offset: number, result: boolean) => {
    const offsetAt = { ...lastOffset };
    if (sealed) {
      const k = a.extras.length;
      const from = stack.length > k ? stack[stack.length - 1 - k] : null;
      for (let i = 0; i <= k; i++) pop();
      if (result) stack.push(null);
      if (from !== null && offset + a.size <= (checked.get(from) ?? 0)) return;    // the hook checked it
    }
    flush(at);
    const id = hooks.frameId(b.func, r.pos - b.start, size);
    const slots: number[] = [];
    let i32s = 0, i64s = 0;
    for (const t of a.extras) {
      slots.push(t === T_I32 ? L(L_I32 + i32s++) : t === T_I64 ? L(L_I64 + i64s++) : t === T_F32 ? L(L_F32) : t === T_F64 ? L(L_F64) : L(L_V128));
    }
    for (let i = slots.length - 1; i >= 0; i--) { w.byte(LOCAL_SET); w.u32(slots[i]); }
    w.byte(LOCAL_TEE); w.u32(L(L_ADDR));
    if (sealed) {
      // inline seal: the frame of addr + offset is the guest's, and the access stays on that page
      if (offset) { w.byte(I32_CONST); w.s32(offset); w.byte(I32_ADD); }
      w.byte(LOCAL_TEE); w.u32(L(L_EA));
      w.byte(I32_CONST); w.s32(layout.physBase);
      w.byte(I32_SUB);
      w.byte(I32_CONST); w.s32(12);
      w.byte(I32_SHR_U);
      w.byte(I32_LOAD8_U); w.byte(0); w.u32(layout.guestFrames);
      w.byte(I32_EQZ);
      if (a.size > 1) {
        w.byte(LOCAL_GET); w.u32(L(L_EA));
        w.byte(I32_CONST); w.s32(0xfff);
        w.byte(I32_AND);
        w.byte(I32_CONST); w.s32(0x1000 - a.size);
        w.byte(I32_GT_U);
        w.byte(I32_OR);
      }
      w.byte(IF); w.byte(0x40);
      site(id);
      w.byte(LOCAL_GET); w.u32(L(L_ADDR));
      w.byte(I32_CONST); w.s32(offset);
      w.byte(I32_CONST); w.s32(a.size);
      w.byte(I32_CONST); w.s32(a.write ? 1 : 0);
      w.byte(CALL); w.u32(imp("seal"));
      w.byte(END);
    } else {
      const moved = offset + delta;
      if (moved > 0xffffffff) {
        // relocated past 4 GiB: the access could only trap
        w.byte(0x00);
        copied = r.pos;
        return;
      }
      site(id);
      w.byte(I32_CONST); w.s32(moved | 0);
      w.byte(I32_CONST); w.s32(a.size);
      w.byte(CALL); w.u32(imp(a.write ? "store" : "load"));
    }
    w.byte(LOCAL_GET); w.u32(L(L_ADDR));
    for (const s of slots) { w.byte(LOCAL_GET); w.u32(s); }
    if (delta) {
      // the same instruction at offset + delta
      w.bytes(bytes.subarray(at, offsetAt.start));
      w.u32(offset + delta);
      w.bytes(bytes.subarray(offsetAt.end, r.pos));
    } else {
      w.bytes(bytes.subarray(at, r.pos));
    }
    copied = r.pos;
  };
  while (r.pos < b.end) {
    const at = r.pos;
    const op = r.byte();
    if (op === CALL || op === 0x11) {
      const callee = op === CALL ? r.u32() : -1;
      if (op === 0x11) { r.u32(); r.u32(); }
      const callBytes = () => {
        if (op === CALL) { w.byte(CALL); w.u32(shiftFunc(c, callee)); }
        else w.bytes(bytes.subarray(at, r.pos));
      };
      flush(at);
      copied = r.pos;
      const id = hooks.frameId(b.func, r.pos - b.start, size);
      if (op === CALL && callee < m.funcImports && hooks.isHook(callee)) {
        const n = hooks.checkedBytes(callee);
        const arg = n ? pop() : null;
        if (!n) reset();
        else if (arg !== null) checked.set(arg, Math.max(n, checked.get(arg) ?? 0));
        site(id);
        callBytes();
        continue;
      }
      reset();
      if (!keepStack) { callBytes(); continue; }
      // push
      w.byte(I32_CONST); w.s32(layout.ssp);
      w.byte(I32_CONST); w.s32(layout.ssp);
      w.byte(I32_LOAD); w.byte(2); w.byte(0);
      w.byte(LOCAL_TEE); w.u32(L(L_OLD_SSP));
      w.byte(I32_CONST); w.s32(4);
      w.byte(I32_SUB);
      w.byte(I32_CONST); w.s32(layout.ringMask);
      w.byte(I32_AND);
      w.byte(I32_CONST); w.s32(layout.ringBase);
      w.byte(I32_OR);
      w.byte(LOCAL_TEE); w.u32(L(L_NEW_SSP));
      w.byte(I32_STORE); w.byte(2); w.byte(0);
      w.byte(LOCAL_GET); w.u32(L(L_NEW_SSP));
      w.byte(I32_CONST); w.s32(id);
      w.byte(I32_STORE); w.byte(2); w.byte(0);
      // the call, then pop
      callBytes();
      w.byte(I32_CONST); w.s32(layout.ssp);
      w.byte(LOCAL_GET); w.u32(L(L_OLD_SSP));
      w.byte(I32_STORE); w.byte(2); w.byte(0);
      continue;
    }
    if (op === 0x12 || op === 0xd2) {        // return_call, ref.func: renumber
      reset();
      const f = r.u32();
      flush(at);
      w.byte(op); w.u32(shiftFunc(c, f));
      copied = r.pos;
      continue;
    }
    if (op === 0x03) {                       // loop: spend fuel at its head
      reset();
      skipBlockType(r);
      flush(r.pos);
      copied = r.pos;
      loopFuel();
      continue;
    }
    if (op === GLOBAL_GET || op === GLOBAL_SET) {
      const g = r.u32();
      if (g >= c.nGlobals) throw new WasmFormatError(`function ${b.func} names global ${g}, which does not exist`);
      if (op === GLOBAL_GET) stack.push(null); else pop();
      continue;
    }
    if (op >= 0x28 && op <= 0x3e) { const off = memarg(r); access(at, PLAIN[op], off, !PLAIN[op].write); continue; }
    if (op === 0x3f) {
      memIndexZero(r);
      stack.push(null);
      if (delta) {                           // the pages the relocated guest's addresses reach
        flush(r.pos);
        w.byte(I32_CONST); w.s32(delta >>> 16);
        w.byte(I32_SUB);
        copied = r.pos;
      }
      continue;
    }
    if (op === 0x40) {                       // memory.grow: the answer of a memory at its maximum
      memIndexZero(r);
      pop(); stack.push(null);
      flush(at);
      w.byte(DROP); w.byte(I32_CONST); w.s32(-1);
      copied = r.pos;
      continue;
    }
    if (op === 0xfc || op === 0xfd || op === 0xfe) {
      reset();
      const subAt = r.pos;
      const sub = r.u32();
      if (op === 0xfc && (sub === 8 || sub === 10 || sub === 11)) {
        if (sub === 8) r.u32();
        memIndexZero(r);
        if (sub === 10) memIndexZero(r);
        flush(at);
        const id = hooks.frameId(b.func, r.pos - b.start, size);
        if (sub === 8) {
          // memory.init: check the destination range, then let it run
          w.byte(LOCAL_SET); w.u32(L(L_I32 + 1));
          w.byte(LOCAL_SET); w.u32(L(L_I32));
          w.byte(LOCAL_TEE); w.u32(L(L_ADDR));
          w.byte(LOCAL_GET); w.u32(L(L_I32 + 1));
          site(id);
          w.byte(CALL); w.u32(imp("range"));
          w.byte(LOCAL_GET); w.u32(L(L_ADDR));
          if (delta) { w.byte(I32_CONST); w.s32(delta | 0); w.byte(I32_ADD); }
          w.byte(LOCAL_GET); w.u32(L(L_I32));
          w.byte(LOCAL_GET); w.u32(L(L_I32 + 1));
          w.bytes(bytes.subarray(at, r.pos));
        } else {
          site(id);
          w.byte(CALL); w.u32(imp(sub === 11 ? "fill" : "copy"));
          w.byte(DROP);
        }
        copied = r.pos;
        continue;
      }
      if (op === 0xfd) {
        const a = simdAccess(sub);
        if (a) {
          const off = memarg(r);
          if (sub >= 84 && sub <= 91) r.byte();
          access(at, a, off, !a.write);
          continue;
        }
      }
      if (op === 0xfe) {
        if (sub === 3) { r.byte(); continue; }
        const a = atomicAccess(sub);
        const off = memarg(r);
        access(at, a, off, false);
        reset();
        continue;
      }
      r.pos = subAt;
    }
    if (op === LOCAL_GET || op === LOCAL_SET || op === LOCAL_TEE) {
      const x = r.u32();
      if (op !== LOCAL_GET) { pop(); checked.delete(x); }
      if (op !== LOCAL_SET) stack.push(x);
      continue;
    }
    skipInstruction(r, op);
    modelSimple(op);
  }
  if (r.pos !== b.end) throw new WasmFormatError(`function ${b.func}: an instruction runs past the end of its body`);
  flush(b.end);
  return w.result();
}

/** Value of a global by name (name section) or export, when it is an i32 constant. */
export function globalValue(m: WasmModule, name: string): number | undefined {
  let idx: number | undefined;
  const exp = m.exports.find((e) => e.kind === 3 && e.name === name);
  if (exp) idx = exp.index;
  else for (const [i, n] of m.globalNames) if (n === name) idx = i;
  if (idx === undefined || idx < m.globalImports) return undefined;
  return m.globals[idx - m.globalImports]?.init;
}

/** The call instructions of a defined function: callee (-1 for call_indirect) and the offset just past each, from the body start. */
export function callSites(m: WasmModule, func: number): Array<{ callee: number; end: number }> {
  const b = m.bodies[func - m.funcImports];
  const r = new Reader(m.bytes, b.start, b.end);
  for (let groups = r.u32(); groups > 0; groups--) { r.u32(); valtype(r); }
  const out: Array<{ callee: number; end: number }> = [];
  while (r.pos < b.end) {
    const op = r.byte();
    if (op === 0x10) out.push({ callee: r.u32(), end: r.pos - b.start });
    else if (op === 0x11) { r.u32(); r.u32(); out.push({ callee: -1, end: r.pos - b.start }); }
    else skipInstruction(r, op);
  }
  return out;
}

/** The data section with every active segment's i32.const offset moved by delta. */
function relocateDataSection(m: WasmModule, r: Reader, delta: number): Uint8Array {
  const w = new Writer();
  const n = r.u32();
  w.u32(n);
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    w.u32(flags);
    if (flags === 2) w.u32(r.u32());
    if (flags === 0 || flags === 2) {
      if (r.byte() !== I32_CONST) throw new WasmFormatError("a data segment at a computed address cannot be relocated");
      const at = r.s() >>> 0;
      if (r.byte() !== END) throw new WasmFormatError("a data segment at a computed address cannot be relocated");
      if (at + delta > 0xffffffff) throw new WasmFormatError("a data segment lies past 4 GiB once relocated");
      w.byte(I32_CONST); w.s32((at + delta) | 0); w.byte(END);
    } else if (flags !== 1) {
      throw new WasmFormatError(`unknown data segment kind ${flags}`);
    }
    const start = r.pos;
    r.bytes(r.u32());
    w.bytes(m.bytes.subarray(start, r.pos));
  }
  return w.result();
}
