// Stack frames as clang's AddressSanitizer lays them out (KASAN_STACK): a
// 32-byte left redzone holding the frame header [magic, descriptor, pc], each
// variable in a slot followed by its redzone, shadow F1 / 00..0N / F2 / F3.
// KASAN's report walks back to the header to name the frame and its objects.
import * as abi from "../abi/abi.js";
import type { Frame } from "./stackdepot.js";
import type { CoreExports } from "./exports.js";
import type { ResolvedOptions } from "./config.js";
import type { Layout } from "./layout.js";
import { numArg } from "./args.js";
import { MAX_PID } from "./tasks.js";

/** What ASan stack frames use of the engine (the Engine provides it). */
export interface StackFrameEngine {
  readonly exports: CoreExports;
  readonly options: ResolvedOptions;
  readonly layout: Layout;
  readonly current: { pid: number };
  u8view(): Uint8Array;
  registerCode(pc: bigint, frame: Frame): void;
}

export interface StackVar {
  name: string;
  size: number;
  /** Source line, as the descriptor carries it ("name:line"); the report strips it. */
  line?: number;
}

export interface StackFrameHandle {
  /** Address of the frame (its left redzone and header). */
  readonly base: bigint;
  readonly size: number;
  /** Variable name -> address. */
  readonly vars: Map<string, bigint>;
  pop(): void;
}

const FRAME_MAGIC = 0x41b58ab3n;
const HEADER = 32;

// LLVM's VarAndRedzoneSize(): a variable and the redzone after it
function slotSize(size: number): number {
  const res = size <= 4 ? 16 : size <= 16 ? 32 : size <= 128 ? size + 32 : size <= 512 ? size + 64 : size <= 4096 ? size + 128 : size + 256;
  return Math.ceil(Math.max(res, 16) / 32) * 32;
}

const codeAddresses = new WeakMap<StackFrameEngine, Map<string, bigint>>();
// a frame descriptor is a string in rodata: written once per engine
const descriptors = new WeakMap<StackFrameEngine, Map<string, bigint>>();

/** The pc stored in a frame header: a stable address in kernel text per function. */
function functionPc(e: StackFrameEngine, fn: Frame): bigint {
  let m = codeAddresses.get(e);
  if (!m) codeAddresses.set(e, (m = new Map()));
  let pc = m.get(fn.name);
  if (pc === undefined) {
    const text = e.layout.kernelText + 0x10000n;
    pc = text + BigInt(m.size + 1) * 0x1000n;      // per engine: the same run gives the same pcs
    m.set(fn.name, pc);
    e.registerCode(pc, { name: fn.name, offset: 0, size: fn.size });
  }
  return pc;
}

/** A local of engine.stackFrame(): its name and size in bytes. */
export interface StackLocal { name: string; size: number }
/** engine.stackFrame()'s frame: its base, the locals' addresses (in order), its size and pop(). */
export interface StackFrameOf { base: bigint; locals: bigint[]; size: number; pop(): void }

/**
 * engine.stackFrame(): push `fn`'s frame on pid's stack (a task the engine
 * can still give a stack to); the locals' addresses and pop().
 */
export function stackFrameFor(e: StackFrameEngine, pid: number, fn: string, locals: StackLocal[]): StackFrameOf {
  numArg("stackFrame", "pid", pid, 0, MAX_PID);
  if (e.exports.task_stack_base(pid) === 0n && e.exports.task_count() >= abi.MAX_TASKS) {
    throw new RangeError(`stackFrame(pid ${pid}): the engine has ${abi.MAX_TASKS} tasks, its limit (exitTask() one first)`);
  }
  const f = pushStackFrame(e, fn, locals, pid);
  return { base: f.base, locals: locals.map((l) => f.vars.get(l.name)!), size: f.size, pop: () => f.pop() };
}

/**
 * Push an instrumented frame for `fn` on a task's stack (the current task's
 * unless pid is given). Generic KASAN poisons the redzones; sw_tags kernels
 * tag stack variables instead, which the engine does not simulate.
 */
export function pushStackFrame(e: StackFrameEngine, fn: string | Frame, vars: StackVar[], pid = e.current.pid): StackFrameHandle {
  const frame: Frame = typeof fn === "string" ? { name: fn, offset: 0, size: 0x1a0 } : fn;
  if (!/^[A-Za-z_.$][\w.$]*$/.test(frame.name)) throw new TypeError(`pushStackFrame: fn must be a function name, got ${JSON.stringify(frame.name)}`);
  if (!Array.isArray(vars) || vars.length === 0) throw new RangeError("pushStackFrame: a frame needs at least one variable");
  for (const v of vars) {
    if (typeof v.name !== "string" || !/^[A-Za-z_]\w*$/.test(v.name)) throw new TypeError(`pushStackFrame: bad variable name ${JSON.stringify(v.name)}`);
    if (!Number.isInteger(v.size) || v.size < 1 || v.size > 65536) throw new RangeError(`pushStackFrame: variable ${v.name} size must be 1..65536, got ${v.size}`);
  }
  if (new Set(vars.map((v) => v.name)).size !== vars.length) throw new RangeError("pushStackFrame: variable names must be distinct");
  const x = e.exports;
  if (x.task_stack_alloc(pid) === 0n) throw new RangeError("pushStackFrame: no memory for the task's stack");
  // layout
  const offsets: number[] = [];
  let off = HEADER;
  for (const v of vars) {
    offsets.push(off);
    off += slotSize(v.size);
  }
  const size = off;
  const base = BigInt.asUintN(64, x.stack_frame_push(pid, size));
  if (base === 0n) throw new RangeError(`pushStackFrame: stack overflow (task ${pid})`);
  // descriptor "n off size len name:line ...", kept in the kernel image's rodata
  const descr = `${vars.length} ` + vars.map((v, i) => {
    const name = v.line !== undefined ? `${v.name}:${v.line}` : v.name;
    return `${offsets[i]} ${v.size} ${name.length} ${name}`;
  }).join(" ");
  let strings = descriptors.get(e);
  if (!strings) descriptors.set(e, (strings = new Map()));
  let descrVa = strings.get(descr);
  if (descrVa === undefined) strings.set(descr, (descrVa = writeString(e, descr)));
  const header = new BigUint64Array([FRAME_MAGIC, descrVa, functionPc(e, frame)]);
  writeBytes(e, base, new Uint8Array(header.buffer));
  // shadow: F1 header, variables 00/partial, F2 between, F3 after the last
  let addrs = offsets.map((o) => base + BigInt(o));
  if (e.options.kasan && e.options.kasanMode === "generic") poisonFrame(e, base, size, offsets, vars);
  if (e.options.kasan && e.options.kasanMode === "sw_tags") addrs = tagVariables(e, addrs, vars);
  const map = new Map(vars.map((v, i) => [v.name, addrs[i]]));
  let popped = false;
  return {
    base, size, vars: map,
    pop() {
      if (popped) return;
      popped = true;
      x.stack_frame_pop(pid, base, size);
    },
  };
}

// Stack tagging (sw_tags): each variable's granules get a random tag and its
// pointer carries it; the rest of the frame keeps the stack's 0xff, so an
// access through a variable's pointer past its granules mismatches.
function tagVariables(e: StackFrameEngine, addrs: bigint[], vars: StackVar[]): bigint[] {
  const x = e.exports;
  return addrs.map((a, i) => {
    const tag = BigInt(x.kasan_random_tag());
    x.kasan_poison_range(a, BigInt(vars[i].size), Number(tag));
    return (a & 0x00ffffffffffffffn) | (tag << 56n);
  });
}

function poisonFrame(e: StackFrameEngine, base: bigint, size: number, offsets: number[], vars: StackVar[]): void {
  const x = e.exports;
  x.kasan_poison_range(base, BigInt(HEADER), abi.KASAN_STACK_LEFT);
  vars.forEach((v, i) => {
    const start = base + BigInt(offsets[i]);
    const end = i + 1 < vars.length ? base + BigInt(offsets[i + 1]) : base + BigInt(size);
    x.kasan_unpoison_range(start, BigInt(v.size));
    const after = start + ((BigInt(v.size) + 7n) & ~7n);
    if (end > after) x.kasan_poison_range(after, end - after, i + 1 < vars.length ? abi.KASAN_STACK_MID : abi.KASAN_STACK_RIGHT);
  });
}

/**
 * A dynamic alloca in the current frame (__asan_alloca_poison): 32-byte
 * redzones on both sides. Popped with its frame's pop(), or by the returned pop().
 */
export function allocaInFrame(e: StackFrameEngine, size: number): { addr: bigint; pop(): void } {
  if (!Number.isInteger(size) || size < 1 || size > 65536) throw new RangeError(`alloca: size must be 1..65536, got ${size}`);
  const x = e.exports;
  const pid = e.current.pid;
  if (x.task_stack_alloc(pid) === 0n) throw new RangeError("alloca: no memory for the task's stack");
  const total = 32 + Math.ceil(size / 32) * 32 + 32;
  const base = BigInt.asUintN(64, x.stack_frame_push(pid, total));
  if (base === 0n) throw new RangeError("alloca: stack overflow");
  const addr = base + 32n;
  x.kasan_alloca_poison(addr, BigInt(size));
  return { addr, pop: () => x.stack_frame_pop(pid, base, total) };
}

function writeBytes(e: StackFrameEngine, va: bigint, bytes: Uint8Array): void {
  const buf = e.exports.host_buf() + abi.HOST_BUF_BYTES;
  e.u8view().set(bytes, buf);
  e.exports.mem_copy_in(va, buf, BigInt(bytes.length));
}

function writeString(e: StackFrameEngine, s: string): bigint {
  const bytes = new TextEncoder().encode(s + "\0");
  const va = BigInt.asUintN(64, e.exports.kimage_global_alloc(bytes.length, 0));
  if (va === 0n) throw new RangeError("the kernel image's data area is full");
  writeBytes(e, va, bytes);
  return va;
}
