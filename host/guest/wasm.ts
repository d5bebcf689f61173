// A small WebAssembly binary reader and writer: parse a module into its
// sections, imports, globals, bodies and names (keeping every byte offset, so
// a site can be named `func+0xoff/0xsize` after the original body), skip or
// walk instructions, and encode LEB128. Written here rather than taken from
// binaryen or wabt because the guest rewrite (rewrite.ts, rewrite_body.ts) is
// local (a few instructions around calls and memory instructions), must keep
// every other byte as it is, and must know the *original* byte offset of each
// site; binaryen re-encodes the whole module from its IR (offsets change) and
// is a 13 MB script; wabt's npm build reads and writes whole modules but has
// no instruction-level rewrite.

export class WasmFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WasmFormatError";
  }
}

export class Reader {
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

export function limits(r: Reader): { min: number; max?: number; shared: boolean; is64: boolean } {
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

export function valtype(r: Reader): number {
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

export function skipBlockType(r: Reader): void {
  const t = r.b[r.pos];
  if (t === 0x40 || (t >= 0x6f && t <= 0x7f)) { r.pos++; return; }
  if (t === 0x63 || t === 0x64) { r.pos++; r.s(); return; }
  r.s();
}

/** Skip the immediates of the instruction whose opcode was just read. */
export function skipInstruction(r: Reader, op: number): void {
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
/** A growing byte buffer with LEB128 encoders. */
export class Writer {
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

// Opcodes and value types the rewriter emits
export const I32_CONST = 0x41, I32_LOAD = 0x28, I32_LOAD8_U = 0x2d, I32_STORE = 0x36, I32_ADD = 0x6a, I32_SUB = 0x6b,
  I32_AND = 0x71, I32_OR = 0x72, I32_SHR_U = 0x76, I32_EQZ = 0x45, I32_GT_U = 0x4b;
export const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, GLOBAL_GET = 0x23, GLOBAL_SET = 0x24;
export const IF = 0x04, END = 0x0b, CALL = 0x10, DROP = 0x1a;
export const T_I32 = 0x7f, T_I64 = 0x7e, T_F32 = 0x7d, T_F64 = 0x7c, T_V128 = 0x7b;

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

