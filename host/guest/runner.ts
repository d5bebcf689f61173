// Run a guest program on an engine: check its layout, claim the frames its
// image was linked at, rewrite it for a shadow call stack, bind its __asan_*
// imports straight to the core's exports (the KASAN mode chosen here, once),
// run it under WASI and account for how it ended.
//
// Memory: the guest imports the engine's memory. `shadowfence cc` links its
// data and C stack at GUEST_LINK_BASE (PHYS_BASE + 4 MiB, physical 4 MiB): the
// buddy hands out the lowest frames for small orders first and takes large
// blocks from the top of RAM, so the first 4 MiB blocks above the low frames
// stay free longest. At run time those frames are claimed (failing clearly if
// something else holds them), and given back when the guest ends.
import * as abi from "../../abi/abi.js";
import type { Report } from "../report/report.js";
import type { CoreExports } from "../exports.js";
import type { ResolvedOptions } from "../config.js";
import type { OopsContext } from "../report/oops.js";
import type { TaskInfo } from "../report/common.js";
import { Fifo } from "../bounded.js";
import { sanitizeName, sanitizeComm } from "../args.js";
import type { Frame, FrameTable } from "../stackdepot.js";
import { parseWasm, globalValue, type WasmModule } from "./wasm.js";
import { rewriteGuest } from "./rewrite.js";
import { heapEntryArity, SEAL_MODULE, STACK_POINTER_EXPORT, type HeapEntry } from "./seal.js";
import { liveObjects, type LeakReport, type LeakRoot, type ScanEngine } from "../kmemleak.js";
import { wasiSubset, guardWasi, WasiExit, wasiSignature, listSizes, type WasiImports } from "./wasi.js";
import { relocateWasi } from "./wasi_relocate.js";
import { demangle } from "./demangle.js";

/** What the guest runner uses of the engine (the Engine provides it). */
export interface GuestEngine extends ScanEngine {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly options: ResolvedOptions;
  readonly frames: FrameTable;
  readonly guestHooks: { onReport?: (r: Report) => void; symbolize?: (a: bigint) => Frame | undefined };
  readonly current: TaskInfo & { cpu: number };
  readonly panicked: boolean;
  setTask(t: { pid: number; comm?: string; cpu?: number }): void;
  registerCode(pc: bigint, frame: Frame): void;
  printk(text: string, ns?: bigint): void;
  kernelCall<T>(capture: boolean, fn: () => T): T;
  callWithStack<T>(handle: number, fn: () => T): T;
  formatContext(): OopsContext;
  kmemleakScan(o: { roots?: LeakRoot[]; guestPid?: number; onlyPid?: number; before?: Set<number>; pointers?: number[]; guestBase?: number }): LeakReport[];
  selfCheck(): string[];
}

/** Where `shadowfence cc` links a guest's data (linear address, = PHYS_BASE + 4 MiB). */
export const GUEST_LINK_BASE = abi.PHYS_BASE + 0x400000;
/** The shadow call stack ring (entries are u32 frame ids). */
export const GUEST_RING_BYTES = 0x40000;
/** What a guest without compiler instrumentation cannot be checked for (dmesg, `run --dmesg`). */
export function uninstrumentedNote(comm: string): string {
  return `shadowfence: ${comm} has no ASan instrumentation: every heap, NULL and wild access is checked at load time, ` +
    "but stack and global out-of-bounds need the compiler's redzones and are not seen";
}
/** Exit status of a guest the engine stopped (an oops kills the task: 128 + SIGSEGV). */
export const EXIT_STOPPED = 139;
/** Exit status of a guest that trapped on its own (abort(), unreachable: 128 + SIGABRT). */
export const EXIT_TRAPPED = 134;
/** Exit status of a guest stopped at its time limit (as coreutils timeout(1)). */
export const EXIT_TIMEOUT = 124;
/** Loop iterations and calls between two looks at the clock (the fuel a guest gets each time). */
export const GUEST_FUEL = 1 << 16;

export interface GuestOptions {
  /** argv[1..] */
  args?: string[];
  /** argv[0] and the task's comm (default "guest"). */
  name?: string;
  env?: Record<string, string>;
  stdin?: string | Uint8Array;
  /** The guest's stdout/stderr; by default collected into the result. */
  stdout?: (chunk: Uint8Array) => void;
  stderr?: (chunk: Uint8Array) => void;
  /**
   * Node only: run WASI through node:wasi on real file descriptors (the CLI).
   * Pass the module (`await import("node:wasi")`) so browser bundles never see it.
   */
  nodeWasi?: { module: { WASI: new (o: object) => { wasiImport: WasiImports; start(i: WebAssembly.Instance): number } };
    stdin?: number; stdout?: number; stderr?: number; preopens?: Record<string, string> };
  /** Called with each report as it is printed (while the guest runs). */
  onReport?: (r: Report) => void;
  /** The guest task's pid (default 100). */
  pid?: number;
  /** Stop the guest after this many milliseconds of running (status "timeout", exit code 124). */
  timeoutMs?: number;
  /** At exit, scan for leaked heap objects as kmemleak does (result.leaks); off by default in the library, on in `shadowfence run`. */
  leaks?: boolean;
}

export type GuestStatus = "exit" | "stopped" | "panic" | "trap" | "timeout";

export interface GuestResult {
  exitCode: number;
  /** exit: returned or called exit(); stopped: the engine stopped it after an oops; panic: the engine panicked; trap: a wasm trap of its own; timeout: it ran past timeoutMs. */
  status: GuestStatus;
  /** Why it did not exit normally. */
  message?: string;
  /** Collected output (empty when stdout/stderr callbacks or nodeWasi were given). */
  stdout: string;
  stderr: string;
  /** Reports the run produced, in order. */
  reports: Report[];
  /** Reports of the run older than the newest shadowfence.max_reports, not in `reports` (o.onReport saw them all). */
  reportsDropped: number;
  /** Engine self-check after the run: [] when every invariant holds. */
  selfCheck: string[];
  /** Set when the guest has no __asan_* hooks (a plain or --no-asan build): the dmesg line saying what it cannot be checked for. */
  uninstrumented?: string;
  /** With o.leaks and a guest that exited: its unreferenced heap objects, in kmemleak's text. */
  leaks?: LeakReport[];
}

/** A guest that cannot run here, with what to do about it. */
export class GuestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuestError";
  }
}

/** Thrown by the fuel import past the deadline: unwinds the guest's own frames only. */
class GuestTimeout extends Error {}

/** One line for whatever a malformed module made something below us throw. */
function asGuestError(what: string, err: unknown): GuestError {
  if (err instanceof GuestError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GuestError(`${what}: ${sanitizeName(msg.split("\n")[0], 300)}`);
}

export { selfCheckProblems } from "../selfcheck.js";

const HOOK_PREFIX = "__asan_";
const SHIM_IMPORTS = new Set(["guest_kmalloc", "guest_kcalloc", "guest_kfree", "guest_krealloc", "guest_ksize",
  "guest_kmalloc_aligned", "guest_check_range"]);

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** The export a hook import binds to under the engine's KASAN mode. */
function hookExport(engine: GuestEngine, name: string): WebAssembly.ExportValue | undefined {
  const x = engine.exports as unknown as Record<string, WebAssembly.ExportValue>;
  const base = name.endsWith("_noabort") ? name.slice(0, -"_noabort".length) : name;
  if (!engine.options.kasan) {
    const off = x[`${base}_kasan_off`];
    if (off) return off;
  }
  return x[name] ?? x[base];
}

/**
 * Linear addresses of the image and its C stack. A relocated guest (an
 * uninstrumented default wasm-ld layout, whose data would lie in the engine's
 * tables) runs at linear = its pointer + base (PHYS_BASE), its first nullLen
 * bytes (below its image, at most a page) being its NULL page.
 */
interface Layout { imageLo: number; imageHi: number; stackLo: number; stackHi: number; moveStack?: { global: number; top: number };
  base: number; nullLen: number }

/** The largest stack a stack-first link may have for the runner to move it above the data (rustc's default is 1 MiB). */
const GUEST_MAX_STACK = 16 << 20;
/** wasm-ld's default stack size (-z stack-size), for a link that exports no __stack_low. */
const WASM_LD_STACK_SIZE = 65536;

/** Does the module link its own allocator with no __asan_* hooks and no shim (plain clang, rustc)? */
function uninstrumented(m: WasmModule): boolean {
  return !m.imports.some((i) => i.kind === 0 && i.module === "env" && (i.name.startsWith(HOOK_PREFIX) || SHIM_IMPORTS.has(i.name)));
}

function layoutOf(m: WasmModule, engine: GuestEngine): Layout {
  const ramEnd = abi.PHYS_BASE + engine.options.ram * 1048576;
  let lowest = Infinity;
  for (const d of m.data) if (d.offset !== undefined && d.size !== 0) lowest = Math.min(lowest, d.offset);
  const sp0 = stackPointerGlobal(m);
  const spInit = sp0 === undefined ? undefined : m.globals[sp0 - m.globalImports]?.init;
  if (spInit !== undefined && spInit > 0 && spInit <= lowest) lowest = 0;      // stack-first: the stack is [0, sp)
  // relocate what would sit in the engine's tables (an instrumented build calls hooks with its raw pointers: it must be linked at the guest base)
  const relocate = lowest < abi.PHYS_BASE + abi.PAGE_SIZE && uninstrumented(m);
  let dataLo = Infinity, dataHi = 0;
  for (const d of m.data) {
    if (d.passive) throw new GuestError("the guest has passive data segments (a threads/bulk-memory build); link it without --shared-memory");
    if (d.offset === undefined) throw new GuestError("the guest has a data segment at a computed address (a PIC build); link it as a plain executable");
    if (d.size === 0) continue;
    dataLo = Math.min(dataLo, d.offset);
    dataHi = Math.max(dataHi, d.offset + d.size);
  }
  let stackLo = globalValue(m, "__stack_low");
  let stackHi = globalValue(m, "__stack_high");
  let moveStack: { global: number; top: number } | undefined;
  // .bss follows the data segments: wasm-ld's __data_end (exported by rustc) says where it ends
  const dataEnd = globalValue(m, "__data_end");
  if (dataEnd !== undefined && dataHi !== 0 && dataEnd > dataHi && dataEnd - dataHi <= GUEST_MAX_STACK) dataHi = dataEnd;
  if (stackLo === undefined || stackHi === undefined) {
    const spGlobal = stackPointerGlobal(m);
    const sp = spGlobal === undefined ? undefined : m.globals[spGlobal - m.globalImports]?.init;
    if (relocate && sp !== undefined && dataHi !== 0 && sp <= dataLo && sp > 0) {
      // a stack-first link, relocated: the stack stays where it is, [0, sp) below the data; its
      // lowest page is the NULL page (a guard: an overflow that deep is reported, not performed)
      stackLo = abi.PAGE_SIZE;
      stackHi = sp;
      if (sp <= stackLo) throw new GuestError(`the guest's stack ([0, ${hex(sp)})) is smaller than a page`);
    } else if (sp !== undefined && dataHi !== 0 && sp <= dataLo && sp > 0 && sp <= GUEST_MAX_STACK) {
      // a stack-first link (rustc's wasm32 default): the stack is [0, sp) below the data. Every
      // stack address comes from __stack_pointer, so moving its initial value moves the stack:
      // put it just above the data
      stackLo = Math.ceil(dataHi / abi.PAGE_SIZE) * abi.PAGE_SIZE;
      stackHi = stackLo + sp;
      moveStack = { global: spGlobal!, top: stackHi };
    } else {
      // wasm-ld's default layout: data, then the stack up to __stack_pointer's start
      if (sp === undefined || dataHi === 0 || sp < dataHi) {
        throw new GuestError("cannot find the guest's stack: link with --export=__stack_low,__stack_high (shadowfence cc does)");
      }
      // the stack is wasm-ld's default 64 KiB below sp; what lies between the data and it is .bss
      stackLo = Math.max((dataHi + 15) & ~15, sp - WASM_LD_STACK_SIZE);
      stackHi = sp;
    }
  }
  const lo = Math.min(dataLo, stackLo);
  const hi = Math.max(dataHi === 0 ? stackHi : dataHi, stackHi);
  if (relocate) {
    const base = abi.PHYS_BASE;
    if (lo === 0) throw new GuestError("the guest's data starts at address 0, where its NULL pointers point; link it with a --global-base above 0");
    if (hi + base > ramEnd) throw new GuestError(`the guest's image ends at ${hex(hi)}, past the end of RAM once moved by ${hex(base)}; boot with a larger ram=`);
    return { imageLo: lo + base, imageHi: hi + base, stackLo: stackLo + base, stackHi: stackHi + base, base, nullLen: Math.min(abi.PAGE_SIZE, lo) };
  }
  if (lo < abi.PHYS_BASE + abi.PAGE_SIZE) {
    throw new GuestError(`the guest is linked at ${hex(lo)}, inside the engine's own tables (below ${hex(abi.PHYS_BASE + abi.PAGE_SIZE)}); ` +
      `link it with --global-base=${GUEST_LINK_BASE} (shadowfence cc does; a plain clang build: -Wl,--global-base=${GUEST_LINK_BASE}; Rust: -C link-arg=--global-base=${GUEST_LINK_BASE})`);
  }
  if (hi > ramEnd) {
    throw new GuestError(`the guest's image ends at ${hex(hi)}, past the end of RAM (${hex(ramEnd)}); boot with a larger ram=`);
  }
  return { imageLo: lo, imageHi: hi, stackLo, stackHi, moveStack, base: 0, nullLen: 0 };
}

function checkImports(m: WasmModule, engine: GuestEngine): void {
  const memSize = engine.memory.buffer.byteLength;
  // a plain wasm32-wasi link defines its memory: it runs on the engine's memory instead (the rewriter imports it)
  if (m.definedMemories.length > 1 || (m.definedMemories.length && m.imports.some((i) => i.kind === 2))) {
    throw new GuestError("the guest has more than one memory; guests use one plain 32-bit memory");
  }
  for (const mem of m.definedMemories) {
    if (mem.shared || mem.is64) throw new GuestError("the guest's memory is shared or 64-bit; guests use a plain 32-bit memory");
    if (mem.min * abi.WASM_PAGE > memSize) throw new GuestError(`the guest needs ${mem.min * abi.WASM_PAGE} bytes of memory, the engine has ${memSize}; boot with a larger ram=`);
  }
  for (const imp of m.imports) {
    const what = sanitizeName(`${imp.module}.${imp.name}`, 200);
    if (imp.kind === 2) {
      if (imp.module !== "env" || imp.name !== "memory") throw new GuestError(`the guest imports memory ${what}; it must import env.memory`);
      const mem = imp.memory!;
      if (mem.shared || mem.is64) throw new GuestError("the guest's memory is shared or 64-bit; guests use a plain 32-bit memory");
      if (mem.min * abi.WASM_PAGE > memSize) {
        throw new GuestError(`the guest needs ${mem.min * abi.WASM_PAGE} bytes of memory, the engine has ${memSize}; boot with a larger ram=`);
      }
      if (mem.max !== undefined && mem.max * abi.WASM_PAGE < memSize) {
        throw new GuestError(`the guest limits its memory to ${mem.max * abi.WASM_PAGE} bytes, less than the engine's ${memSize}; link without --max-memory`);
      }
      continue;
    }
    if (imp.kind !== 0) {
      if (imp.name === "__asan_option_detect_stack_use_after_return") {
        throw new GuestError(`the guest imports ${what} (fake stacks); build with -mllvm -asan-use-after-return=never (shadowfence cc does)`);
      }
      throw new GuestError(`the guest imports ${what}, which the engine does not provide`);
    }
    if (imp.module === "wasi_snapshot_preview1") {
      const want = wasiSignature(imp.name);
      if (want === undefined) throw new GuestError(`the guest imports ${what}, which WASI preview1 does not have`);
      const got = m.types[imp.typeIndex!]?.signature;
      if (got !== want) throw new GuestError(`the guest imports ${what} as (${got ?? "no such type"}); WASI preview1 has (${want})`);
      continue;
    }
    if (imp.module === "env" && imp.name.startsWith("__asan_report_")) {
      throw new GuestError(`the guest was built with inline ASan checks (it imports ${imp.name}); ` +
        "build with -mllvm -asan-instrumentation-with-call-threshold=0 (shadowfence cc does)");
    }
    if (imp.module === "env" && imp.name.startsWith(HOOK_PREFIX)) {
      if (!hookExport(engine, imp.name)) {
        const hint = imp.name.startsWith("__asan_stack_") ? "; build with -mllvm -asan-use-after-return=never (shadowfence cc does)" : "";
        throw new GuestError(`the engine has no ${imp.name}${hint}`);
      }
      continue;
    }
    if (imp.module === "env" && SHIM_IMPORTS.has(imp.name)) continue;
    throw new GuestError(`the guest imports ${what}, which the engine does not provide (undefined symbol?)`);
  }
  if (!m.exports.some((e) => e.kind === 0 && e.name === "_start")) {
    throw new GuestError("the guest has no _start export: build a WASI command (a program with main)");
  }
}

/** A plain build's allocator entry points (wasi-libc's, and its dlmalloc under them) and the engine entry each becomes. */
const ALLOCATOR_NAMES: Record<string, HeapEntry> = {
  malloc: "kmalloc", free: "kfree", calloc: "kcalloc", realloc: "krealloc", aligned_alloc: "kmalloc_aligned",
  malloc_usable_size: "ksize", __libc_malloc: "kmalloc", __libc_free: "kfree", __libc_calloc: "kcalloc",
  __libc_realloc: "krealloc", dlmalloc: "kmalloc", dlfree: "kfree", dlcalloc: "kcalloc", dlrealloc: "krealloc",
  dlmalloc_usable_size: "ksize", dlmemalign: "kmalloc_aligned", memalign: "kmalloc_aligned",
  posix_memalign: "posix_memalign", dlposix_memalign: "posix_memalign",
  // libc's copies become one checked call of the engine's __asan_memset/__asan_memmove (as the shim's are)
  memset: "fill", memcpy: "copy", memmove: "copy",
};

/**
 * A guest that links its own allocator (not built by shadowfence cc: no shim
 * imports) gets its malloc & co. redirected to the engine's heap, found by
 * name. undefined for a shim-built guest.
 */
function allocatorRedirects(m: WasmModule): Map<number, HeapEntry> | undefined {
  if (m.imports.some((i) => i.kind === 0 && i.module === "env" && SHIM_IMPORTS.has(i.name))) return undefined;
  const redirect = new Map<number, HeapEntry>();
  const found = new Set<string>();
  for (const [f, name] of m.funcNames) {
    const entry = ALLOCATOR_NAMES[name];
    if (entry === undefined || f < m.funcImports) continue;
    const type = m.types[m.funcTypes[f - m.funcImports]];
    const [params, results] = heapEntryArity(entry);
    const want = [...Array(params).fill("i32"), "->", ...Array(results).fill("i32")].join(" ");
    if (type?.signature !== want) throw new GuestError(`the guest's ${sanitizeName(name)} has type (${type?.signature ?? "none"}), not (${want}) as a wasm32 ${name} has`);
    redirect.set(f, entry);
    found.add(name);
  }
  const names = [...m.funcNames.values()];
  // a link with its own memory has its own heap in it; a module importing env.memory without
  // the shim (hand-written) has none unless its names say so
  const hasHeap = names.some((n) => /^(?:sbrk|dlmalloc|dlfree|__libc_malloc|malloc|free)$/.test(n)) ||
    (m.funcNames.size === 0 && m.definedMemories.length > 0);
  if (!hasHeap) return redirect;               // no heap at all (a hand-written module)
  if (m.funcNames.size === 0) {
    throw new GuestError("the guest has no name section, so the runner cannot find its allocator (malloc, free) to put it on the engine's heap; " +
      "link without -s/--strip-all/--strip-debug and do not run wasm-opt on it (or build it with shadowfence cc)");
  }
  const missing = ["malloc", "free"].filter((n) => !found.has(n) && !found.has(`dl${n}`));
  if (missing.length) {
    throw new GuestError(`cannot find the guest's allocator: no function named ${missing.join(" or ")} in its name section ` +
      "(the runner redirects malloc, free, calloc, realloc, aligned_alloc and wasi-libc's dlmalloc entry points to the engine's heap)");
  }
  return redirect;
}

/** The guest's C stack pointer global (wasm-ld's __stack_pointer), to export for the leak scan. */
function stackPointerGlobal(m: WasmModule): number | undefined {
  for (const [i, n] of m.globalNames) if (n === "__stack_pointer") return i;
  const i = m.globals.findIndex((g) => g.mutable && g.valtype === 0x7f);
  return i < 0 ? undefined : m.globalImports + i;
}

/** Frames of the guest's functions, for the stack frames ASan records (pc = table index). */
function functionFrame(m: WasmModule, names: (f: number) => string, func: number): Frame {
  const body = m.bodies[func - m.funcImports];
  return { name: names(func), offset: 0, size: body ? body.end - body.start : 1 };
}

/** Function names as reports print them: clang names a C `main(void)` __original_main; say main, as the source does. */
function nameTable(m: WasmModule): (func: number) => string {
  const renameMain = ![...m.funcNames.values()].includes("main");
  return (func) => {
    const n = m.funcNames.get(func);
    if (n === undefined) return `func${func}`;
    return n === "__original_main" && renameMain ? "main" : sanitizeName(demangle(n)) || `func${func}`;
  };
}

function isShim(name: string | undefined): boolean {
  return name !== undefined && (name.startsWith("__wrap_") || name.startsWith("__shadowfence_"));
}

/** The guest's registered globals covering linear address lin (for %pS). */
function guestGlobal(engine: GuestEngine, lin: number): Frame | undefined {
  const e = engine.exports;
  const mem = engine.u8view();
  const dv = new DataView(mem.buffer);
  const table = e.guest_globals_table();
  const count = dv.getUint32(table, true);
  const cstr = (p: number) => {
    if (p <= 0 || p >= mem.length) return undefined;
    let end = p;
    while (end < mem.length && end - p < 256 && mem[end] !== 0) end++;
    return sanitizeName(new TextDecoder().decode(mem.subarray(p, end)));
  };
  for (let i = 0; i < count; i++) {
    const ptr = dv.getUint32(table + 8 + i * 8, true);
    const n = dv.getUint32(table + 12 + i * 8, true);
    for (let j = 0; j < n; j++) {
      const g = ptr + j * 32;
      if (g + 32 > mem.length) break;
      const beg = dv.getUint32(g, true), size = dv.getUint32(g + 4, true), total = dv.getUint32(g + 8, true);
      if (lin >= beg && lin < beg + Math.max(total, size)) {
        const name = cstr(dv.getUint32(g + 12, true));
        if (name) return { name, offset: lin - beg, size: Math.max(total, size) };   // kallsyms: up to the next symbol, redzone included
      }
    }
  }
  return undefined;
}

export function runGuest(engine: GuestEngine, input: Uint8Array | ArrayBuffer, o: GuestOptions = {}): GuestResult {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (engine.options.kasan && engine.options.kasanMode === "sw_tags") {
    throw new GuestError("guests need generic KASAN or kasan=off: a 32-bit guest pointer has no top byte for a KASAN tag (kasan.mode=sw_tags)");
  }
  if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === "number" && o.timeoutMs > 0 && o.timeoutMs <= 2 ** 31)) {
    throw new RangeError(`runGuest: timeoutMs must be a number of milliseconds in (0, 2^31], got ${o.timeoutMs}`);
  }
  let m: WasmModule;
  try {
    m = parseWasm(bytes);
  } catch (err) {
    throw asGuestError("not a valid guest module", err);
  }
  checkImports(m, engine);
  if (o.nodeWasi && !m.exports.some((x) => x.kind === 2 && x.name === "memory")) {
    throw new GuestError("the guest does not export its memory as \"memory\", which node:wasi needs; link with --export-memory (shadowfence cc does)");
  }
  const layout = layoutOf(m, engine);
  const redirect = allocatorRedirects(m);
  if (engine.guestHooks.onReport) throw new GuestError("a guest is already running on this engine");
  const name = (o.name ?? "guest").replace(/\.wasm$/, "");
  const comm = sanitizeComm("runGuest", name.split("/").pop() || "guest");
  const pid = o.pid ?? 100;
  if (!Number.isInteger(pid) || pid < 2 || pid > 4194304) throw new RangeError(`runGuest: pid must be an integer from 2 to 4194304 (PID_MAX_LIMIT), got ${pid}`);
  if (engine.exports.task_stack_base(pid) !== 0n) throw new GuestError(`pid ${pid} already has a kernel stack on this engine; pass another pid`);
  if (engine.exports.task_count() >= abi.MAX_TASKS) throw new GuestError(`the engine has ${abi.MAX_TASKS} tasks, its limit: exitTask() one first`);
  const args = [name, ...(o.args ?? [])];
  const env = o.env ?? {};
  const e = engine.exports;

  // claim the image and a control region above it
  const ramEnd = abi.PHYS_BASE + engine.options.ram * 1048576;
  const imgHi = Math.ceil(layout.imageHi / abi.PAGE_SIZE) * abi.PAGE_SIZE;
  let ctl = Math.ceil(imgHi / GUEST_RING_BYTES) * GUEST_RING_BYTES;
  let rc = -abi.EBUSY;
  if (e.guest_relocate(layout.base, layout.nullLen) !== 0) throw new GuestError("the guest's layout does not fit this engine (relocation refused)");
  for (; ctl + GUEST_RING_BYTES + abi.PAGE_SIZE <= ramEnd; ctl += GUEST_RING_BYTES) {
    rc = e.guest_begin(layout.imageLo, layout.imageHi, layout.stackLo, layout.stackHi, ctl, GUEST_RING_BYTES, pid);
    if (rc !== -abi.EBUSY) break;
    const busy = abi.PHYS_BASE + (e.guest_busy_pfn() >>> 0) * abi.PAGE_SIZE;
    if (busy < imgHi) break;          // the image itself is taken: no point moving the ring
  }
  if (rc !== 0) e.guest_relocate(0, 0);
  if (rc === -abi.EINVAL) throw new GuestError(`the guest's layout does not fit this engine (image ${hex(layout.imageLo)}-${hex(layout.imageHi)})`);
  if (rc === -abi.EOPNOTSUPP) throw new GuestError("guests need generic KASAN or kasan=off (kasan.mode=sw_tags)");
  if (rc !== 0) {
    const pfn = e.guest_busy_pfn() >>> 0;
    if (layout.base) {
      throw new GuestError(`the frames the guest's own addresses need (${hex(layout.imageLo - layout.base)}-${hex(layout.imageHi - layout.base)}, ` +
        `physical ${hex(layout.imageLo - layout.base)}) are in use (pfn ${hex(pfn)})` +
        (engine.options.arch === "arm64" ? ": on arm64 the buddy hands out the lowest frames first" : "") +
        `; link it with --global-base=${GUEST_LINK_BASE} (a plain clang build: -Wl,--global-base=${GUEST_LINK_BASE}; Rust: -C link-arg=--global-base=${GUEST_LINK_BASE})`);
    }
    throw new GuestError(`the frames the guest is linked at (${hex(layout.imageLo)}-${hex(layout.imageHi)}) are in use ` +
      `(pfn ${hex(pfn)}): run it on a fresh engine, or relink it elsewhere with --global-base`);
  }

  const gcb = ctl + GUEST_RING_BYTES;
  // the newest shadowfence.max_reports, as engine.reports() keeps them
  const reports = new Fifo<Report>();
  const dec = { out: new TextDecoder(), err: new TextDecoder() };
  let stdout = "", stderr = "";
  const prevTask = engine.current;
  let status: GuestStatus = "exit";
  let exitCode = 0;
  let message: string | undefined;
  let leaks: LeakReport[] | undefined;
  let uninstrumented: string | undefined;
  try {
    // rewrite: every call site becomes a frame of the engine's frame table
    const names = nameTable(m);
    const hooks = new Set<number>();
    m.imports.filter((i) => i.kind === 0).forEach((imp, f) => { if (imp.module === "env" && imp.name.startsWith(HOOK_PREFIX)) hooks.add(f); });
    let module: WebAssembly.Module;
    try {
      const rewritten = rewriteGuest(m, {
        ssp: gcb, site: gcb + 4, ringBase: ctl, ringMask: GUEST_RING_BYTES - 1,
        guestFrames: e.guest_frames_base(), physBase: abi.PHYS_BASE, fuel: GUEST_FUEL,
        exportStackPointer: o.leaks ? stackPointerGlobal(m) : undefined,
        importDefinedMemory: m.definedMemories.length ? m.definedMemories[0].min : undefined,
        sharedMemory: typeof SharedArrayBuffer === "function" && engine.memory.buffer instanceof SharedArrayBuffer,
        redirect,
        globalInit: layout.moveStack ? new Map([[layout.moveStack.global, layout.moveStack.top]]) : undefined,
        relocate: layout.base || undefined,
      }, {
        isHook: (f) => hooks.has(f),
        checkedBytes: (f) => {
          const imp = hooks.has(f) ? m.imports.filter((i) => i.kind === 0)[f] : undefined;
          const size = imp && /^__asan_(?:load|store)(1|2|4|8|16)(?:_noabort)?$/.exec(imp.name)?.[1];
          return size ? Number(size) : 0;
        },
        skip: (f) => isShim(m.funcNames.get(f)),
        frameId: (f, offset, size) => engine.frames.intern({ name: names(f), offset, size }),
      });
      module = new WebAssembly.Module(rewritten as BufferSource);
    } catch (err) {
      throw asGuestError("not a valid guest module", err);
    }
    for (const [slot, func] of m.table) engine.registerCode(BigInt(slot), functionFrame(m, names, func));
    let instance: WebAssembly.Instance | undefined;
    const memory = () => engine.memory;
    const writable = (p: number, n: number) => e.guest_range_ok(p, n) === 1;
    const wasiNames = m.imports.filter((i) => i.kind === 0 && i.module === "wasi_snapshot_preview1").map((i) => i.name);
    let wasiImports: WasiImports;
    let start: () => number;
    if (o.nodeWasi) {
      const wasi = new o.nodeWasi.module.WASI({
        version: "preview1", args, env, preopens: o.nodeWasi.preopens ?? {}, returnOnExit: true,
        stdin: o.nodeWasi.stdin ?? 0, stdout: o.nodeWasi.stdout ?? 1, stderr: o.nodeWasi.stderr ?? 2,
      });
      wasiImports = wasi.wasiImport;
      start = () => wasi.start(instance!);
    } else {
      const stdin = typeof o.stdin === "string" ? new TextEncoder().encode(o.stdin) : (o.stdin ?? new Uint8Array(0));
      wasiImports = wasiSubset({
        args, env, stdin, memory,
        stdout: o.stdout ?? ((c) => { stdout += dec.out.decode(c, { stream: true }); }),
        stderr: o.stderr ?? ((c) => { stderr += dec.err.decode(c, { stream: true }); }),
      });
      start = () => {
        try {
          (instance!.exports._start as () => void)();
          return 0;
        } catch (err) {
          if (err instanceof WasiExit) return err.code;
          throw err;
        }
      };
    }
    const envImports: Record<string, WebAssembly.ExportValue> = { memory: engine.memory };
    for (const imp of m.imports) {
      if (imp.kind !== 0 || imp.module !== "env") continue;
      envImports[imp.name] = imp.name.startsWith(HOOK_PREFIX) ? hookExport(engine, imp.name)!
        : (e as unknown as Record<string, WebAssembly.ExportValue>)[imp.name];
    }
    // the rewriter's imports: checks bound to the core under the engine's KASAN mode, and the clock
    const x = e as unknown as Record<string, WebAssembly.ExportValue>;
    const off = engine.options.kasan ? "" : "_kasan_off";
    const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
    const rel = layout.base !== 0;
    const sealImports: Record<string, WebAssembly.ExportValue> = {
      seal: x.guest_seal, load: x[`guest_sealed_load${off}`], store: x[`guest_sealed_store${off}`],
      fill: rel ? x.guest_fill : x.__asan_memset, copy: rel ? x.guest_copy : x.__asan_memmove, range: rel ? x.guest_range : x.__asan_storeN,
      posix_memalign: x[`guest_posix_memalign${off}`],
      kmalloc: x.guest_kmalloc, kcalloc: x.guest_kcalloc, kfree: x.guest_kfree, krealloc: x.guest_krealloc,
      kmalloc_aligned: x.guest_kmalloc_aligned, ksize: x.guest_ksize,
      fuel: (() => {
        if (Date.now() >= deadline) throw new GuestTimeout();
        return GUEST_FUEL;
      }) as unknown as WebAssembly.ExportValue,
    };
    let wasiGuarded = guardWasi(wasiImports, wasiNames, memory, writable, { args, env });
    // libc keeps argv and environ in its own locals until exit: their buffers are leak-scan roots
    const libcHeld: number[] = [];
    for (const call of ["args_get", "environ_get"] as const) {
      const f = wasiGuarded[call] as ((a: number, b: number) => number) | undefined;
      if (f && o.leaks) wasiGuarded[call] = ((a: number, b: number) => { if (libcHeld.length < 8) libcHeld.push(a >>> 0, b >>> 0); return f(a, b); }) as never;
    }
    if (rel) {
      // the guest's pointers become linear ones before the guard checks them; iovec arrays are copied to
      // the control page past the shadow stack's two words
      const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      wasiGuarded = relocateWasi(wasiGuarded, wasiNames, { memory, base: layout.base, scratch: gcb + 16, scratchBytes: abi.PAGE_SIZE - 16,
        counts: { args: listSizes(args).count, env: listSizes(envList).count } });
    }
    const imports = { env: envImports, wasi_snapshot_preview1: wasiGuarded,
      [SEAL_MODULE]: sealImports };

    engine.setTask({ pid, comm });
    if (hooks.size === 0) {
      uninstrumented = uninstrumentedNote(comm);
      engine.printk(uninstrumented);
    }
    engine.kernelCall(false, () => undefined);      // publish what earlier calls left: none of it is this guest's
    const pageOffset = engine.formatContext().pageOffset;
    let listenerError: { err: unknown } | undefined;
    engine.guestHooks.onReport = (r) => {
      // the guest's own pointer for an address in its memory (direct map)
      const lin = r.address - pageOffset + BigInt(abi.PHYS_BASE);
      const guestAddress = r.address < 4096n ? r.address : lin >= BigInt(abi.PHYS_BASE) && lin < BigInt(ramEnd) ? lin - BigInt(layout.base) : undefined;
      if (guestAddress !== undefined) r.extra = { ...r.extra, guestAddress: "0x" + guestAddress.toString(16) };
      reports.push(r);
      if (reports.length > engine.options.maxReports) reports.shift();
      try {
        o.onReport?.(r);
      } catch (err) {
        listenerError ??= { err };
        throw err;
      }
    };
    engine.guestHooks.symbolize = (va) => {
      const lin = va - pageOffset + BigInt(abi.PHYS_BASE);
      return lin >= BigInt(abi.PHYS_BASE) && lin < BigInt(ramEnd) && !layout.base ? guestGlobal(engine, Number(lin)) : undefined;
    };
    // how the guest ended when something unwound it: in its start function or its _start
    const ended = (err: unknown, what: string) => {
      // the caller's own onReport threw (EngineBusyError included): its error, unchanged
      if (err instanceof GuestError || (listenerError && err === listenerError.err)) throw err;
      if (err instanceof WasiExit) { exitCode = err.code; return; }
      const reason = e.guest_stop_reason();
      if (err instanceof GuestTimeout) {
        status = "timeout";
        exitCode = EXIT_TIMEOUT;
        message = `${comm}[${pid}] was stopped: it ran past its time limit (${o.timeoutMs} ms)`;
      } else if (reason === abi.GUEST_STOP_PANIC || (reason !== abi.GUEST_RUNNING && engine.panicked)) {
        status = "panic";
        exitCode = EXIT_STOPPED;
        message = `${comm}[${pid}] was stopped: the engine panicked`;
      } else if (reason === abi.GUEST_STOP_OOPS) {
        status = "stopped";
        exitCode = EXIT_STOPPED;
        message = `${comm}[${pid}] was stopped: it made an access the engine cannot allow (the oops above killed it)`;
      } else if (err instanceof WebAssembly.RuntimeError || err instanceof RangeError) {
        status = "trap";
        exitCode = EXIT_TRAPPED;
        message = `${comm}[${pid}] trapped: ${(err as Error).message}`;
      } else {
        // node:wasi or our WASI refusing a malformed call, a LinkError, ...
        throw asGuestError(what, err);
      }
    };
    // kasan=off keeps no allocation track: the guest's objects are the ones not live before it
    const before = o.leaks && !engine.options.kasan ? liveObjects(engine) : undefined;
    engine.callWithStack(0, () => {
      try {
        instance = new WebAssembly.Instance(module, imports as unknown as WebAssembly.Imports);
      } catch (err) {
        // the start section runs here: it can loop, trap or be stopped like _start
        if (err instanceof WebAssembly.LinkError) throw asGuestError("the guest could not be instantiated", err);
        ended(err, "the guest could not be instantiated");
        return;
      }
      try {
        exitCode = start();
      } catch (err) {
        ended(err, "the guest cannot run");
      }
    });
    if (o.leaks && status === "exit" && instance) {
      // LeakSanitizer's moment: at exit, roots are the data and bss and the live stack
      const sp = instance.exports[STACK_POINTER_EXPORT];
      const live = sp instanceof WebAssembly.Global ? Math.min(Math.max((Number(sp.value) >>> 0) + layout.base, layout.stackLo), layout.stackHi) : layout.stackLo;
      leaks = engine.kmemleakScan({ guestPid: pid, onlyPid: pid, before, pointers: libcHeld, guestBase: layout.base, roots: [
        { lin: layout.imageLo, len: Math.max(0, layout.stackLo - layout.imageLo), width: 4 },
        { lin: layout.stackHi, len: Math.max(0, layout.imageHi - layout.stackHi), width: 4 },
        { lin: live, len: layout.stackHi - live, width: 4 },
      ] });
    }
  } finally {
    e.guest_end();
    engine.guestHooks.onReport = undefined;
    engine.guestHooks.symbolize = undefined;
    if (prevTask.pid !== pid) engine.setTask(prevTask);
  }
  stdout += dec.out.decode();
  stderr += dec.err.decode();
  return { exitCode, status, message, stdout, stderr, reports: reports.since(0), reportsDropped: reports.dropped, selfCheck: engine.selfCheck(), ...(uninstrumented ? { uninstrumented } : {}), ...(leaks ? { leaks } : {}) };
}
