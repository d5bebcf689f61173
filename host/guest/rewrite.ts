// The rewrite a guest runs under (rewriteGuest), module level: new imports,
// types and the fuel global, renumbered functions, the function bodies
// rewritten by rewrite_body.ts.
// Every byte it does not rewrite is kept, so each site keeps the original
// offset that names it (wasm.ts says why no binaryen or wabt).
//
// For every defined function:
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
import { Reader, Writer, WasmFormatError, valtype, limits, skipInstruction, type WasmModule,
  I32_CONST, LOCAL_GET, GLOBAL_GET, END, CALL, T_I32 } from "./wasm.js";
import { SEAL_IMPORTS, SEAL_TYPES, SEAL_MODULE, STACK_POINTER_EXPORT, heapEntryArity, shiftFunc,
  type HeapEntry, type RewriteContext, type SealLayout, type RewriteHooks } from "./seal.js";
import { rewriteBody } from "./rewrite_body.js";

// Section order of the binary format (custom sections aside)
const SECTION_RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

/** Copy a constant expression, renumbering ref.func. */
function copyConstExpr(c: RewriteContext, r: Reader, w: Writer): void {
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
  const c: RewriteContext = { m, layout, hooks, sealBase: m.funcImports, fuelGlobal: m.globalImports + m.globals.length,
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

function typeSection(c: RewriteContext): Uint8Array {
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
function redirectBody(c: RewriteContext, entry: HeapEntry): Uint8Array {
  const w = new Writer();
  const [params] = heapEntryArity(entry);
  w.u32(0);                                  // no locals
  for (let i = 0; i < params; i++) { w.byte(LOCAL_GET); w.u32(i); }
  w.byte(CALL); w.u32(c.sealBase + SEAL_IMPORTS.indexOf(entry));
  w.byte(END);
  return w.result();
}

// env.memory's limits: at least min pages, no maximum (the runner checked the
// original's against the engine); a shared memory must state one: wasm32's.
const WASM32_MAX_PAGES = 65536;
function memoryLimits(w: Writer, min: number, shared: boolean | undefined): void {
  if (shared) { w.byte(3); w.u32(min); w.u32(WASM32_MAX_PAGES); } else { w.byte(0); w.u32(min); }
}

function importSection(c: RewriteContext): Uint8Array {
  const w = new Writer();
  const sec = c.m.sections.find((s) => s.id === 2);
  const memPages = c.layout.importDefinedMemory;
  w.u32(c.m.imports.length + SEAL_IMPORTS.length + (memPages !== undefined ? 1 : 0));
  if (sec) {
    // each import as it is; on a shared engine memory, env.memory imported shared
    const r = new Reader(c.m.bytes, sec.start, sec.end);
    for (let n = r.u32(); n > 0; n--) {
      const at = r.pos;
      r.name(); r.name();
      const kind = r.byte();
      if (kind === 2 && c.layout.sharedMemory) {
        w.bytes(c.m.bytes.subarray(at, r.pos));
        memoryLimits(w, limits(r).min, true);
        continue;
      }
      if (kind === 0) r.u32();
      else if (kind === 2) limits(r);
      else if (kind === 1) { valtype(r); limits(r); }
      else if (kind === 3) { valtype(r); r.byte(); }
      else if (kind === 4) { r.byte(); r.u32(); }
      else throw new WasmFormatError(`unknown import kind ${kind}`);
      w.bytes(c.m.bytes.subarray(at, r.pos));
    }
  }
  const enc = new TextEncoder();
  if (memPages !== undefined) {
    const mod = enc.encode("env"), nm = enc.encode("memory");
    w.u32(mod.length); w.bytes(mod);
    w.u32(nm.length); w.bytes(nm);
    w.byte(2); memoryLimits(w, memPages, c.layout.sharedMemory);
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

function globalSection(c: RewriteContext): Uint8Array {
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

function elementSection(c: RewriteContext, r: Reader): Uint8Array {
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

function nameSection(c: RewriteContext): Uint8Array {
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
