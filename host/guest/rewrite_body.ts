// The rewrite of one function body (rewriteBody): the shadow call stack around
// calls, a site store before each __asan_* hook, every memory instruction
// checked (an inline seal in functions clang instrumented, a call to the
// engine's check in all others), memory.fill/copy/init and memory.grow
// replaced, and fuel spent at loop heads and entries (time limits). See
// rewrite.ts for the whole module.
import { Reader, Writer, WasmFormatError, valtype, skipInstruction, skipBlockType, type WasmBody,
  I32_CONST, I32_LOAD, I32_LOAD8_U, I32_STORE, I32_ADD, I32_SUB, I32_AND, I32_OR, I32_SHR_U, I32_EQZ, I32_GT_U,
  LOCAL_GET, LOCAL_SET, LOCAL_TEE, GLOBAL_GET, GLOBAL_SET, IF, END, CALL, DROP, T_I32, T_I64, T_F32, T_F64, T_V128 } from "./wasm.js";
import { SEAL_IMPORTS, shiftFunc, type RewriteContext } from "./seal.js";

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

/**
 * Does the body call one of clang's __asan_* hooks (it was instrumented)? Can
 * it call guest code (a defined function, or indirectly)? A function that
 * cannot is a leaf: it runs no longer than its loops let it, so its entry
 * spends no fuel.
 */
function scanBody(c: RewriteContext, b: WasmBody): { instrumented: boolean; leaf: boolean } {
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

export function rewriteBody(c: RewriteContext, b: WasmBody): Uint8Array {
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
  const delta = c.layout.relocate ?? 0;
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
