// Host side of the stack depot: frames are interned as small ids the core
// stores; this file captures JS stacks for host-driven calls, names the
// kernel's own frames, and turns ids back into `func+0xoff/0xsize` lines.
import * as abi from "../abi/abi.js";

/** One printed frame: symbol, offset and size as %pS prints them, plus an optional module. */
export interface Frame {
  name: string;
  offset: number;
  size: number;
  module?: string;
}

/** A frame on arm64's 4-byte instruction grid (see FrameTable). */
export function alignArm64(f: Frame): Frame {
  const offset = f.offset === 0 ? 0 : Math.max(4, f.offset & ~3);
  let size = (f.size + 3) & ~3;
  if (offset >= size) size = offset + 4;
  return { ...f, offset, size };
}

export function formatFrame(f: Frame): string {
  return `${f.name}+0x${f.offset.toString(16)}/0x${f.size.toString(16)}${f.module ? ` [${f.module}]` : ""}`;
}

// The kernel functions real 6.12 x86_64 stacks show above the caller.
// Offsets/sizes are those of one build; tools skip these frames anyway.
const KERNEL_FRAMES: Record<number, Frame> = {
  [abi.FR_KASAN_SAVE_STACK]: { name: "kasan_save_stack", offset: 0x33, size: 0x60 },
  [abi.FR_KASAN_SAVE_TRACK]: { name: "kasan_save_track", offset: 0x14, size: 0x30 },
  [abi.FR___KASAN_KMALLOC]: { name: "__kasan_kmalloc", offset: 0x8f, size: 0xa0 },
  [abi.FR___KASAN_SLAB_ALLOC]: { name: "__kasan_slab_alloc", offset: 0x59, size: 0x70 },
  [abi.FR_KMEM_CACHE_ALLOC]: { name: "kmem_cache_alloc_noprof", offset: 0x10c, size: 0x2f0 },
  [abi.FR___KASAN_KREALLOC]: { name: "__kasan_krealloc", offset: 0x7d, size: 0xb0 },
  [abi.FR_KREALLOC]: { name: "krealloc_noprof", offset: 0xf1, size: 0x150 },
  [abi.FR_KASAN_SAVE_FREE_INFO]: { name: "kasan_save_free_info", offset: 0x3b, size: 0x60 },
  [abi.FR___KASAN_SLAB_FREE]: { name: "__kasan_slab_free", offset: 0x37, size: 0x50 },
  [abi.FR_KFREE]: { name: "kfree", offset: 0x94, size: 0x190 },
  [abi.FR_KMEM_CACHE_FREE]: { name: "kmem_cache_free", offset: 0x105, size: 0x2f0 },
  [abi.FR_SLAB_FREE_AFTER_RCU_DEBUG]: { name: "slab_free_after_rcu_debug", offset: 0x10d, size: 0x2e0 },
  [abi.FR_RCU_DO_BATCH]: { name: "rcu_do_batch", offset: 0x3bb, size: 0xba0 },
  [abi.FR_RCU_CORE]: { name: "rcu_core", offset: 0x2c4, size: 0x9f0 },
  [abi.FR_RCU_CORE_SI]: { name: "rcu_core_si", offset: 0xe, size: 0x20 },
  [abi.FR_HANDLE_SOFTIRQS]: { name: "handle_softirqs", offset: 0x191, size: 0x550 },
  [abi.FR_KASAN_RECORD_AUX_STACK]: { name: "kasan_record_aux_stack", offset: 0xa7, size: 0xc0 },
  [abi.FR___CALL_RCU_COMMON]: { name: "__call_rcu_common.constprop.0", offset: 0x80, size: 0x990 },
  [abi.FR_CALL_RCU]: { name: "call_rcu", offset: 0x12, size: 0x20 },
  [abi.FR_INSERT_WORK]: { name: "insert_work", offset: 0x3a, size: 0x1a0 },
  [abi.FR___QUEUE_WORK]: { name: "__queue_work", offset: 0x5b7, size: 0xd70 },
  [abi.FR_QUEUE_WORK_ON]: { name: "queue_work_on", offset: 0x7e, size: 0x90 },
  [abi.FR_KMEM_CACHE_ALLOC_BULK]: { name: "kmem_cache_alloc_bulk_noprof", offset: 0x1a7, size: 0x3d0 },
  [abi.FR_KMEM_CACHE_FREE_BULK]: { name: "kmem_cache_free_bulk.part.0", offset: 0x21b, size: 0x6e0 },
  [abi.FR_KFREE_SENSITIVE]: { name: "kfree_sensitive", offset: 0x27, size: 0x70 },
  [abi.FR___KMALLOC_LARGE]: { name: "__kmalloc_large_noprof", offset: 0x1b, size: 0xb0 },
  [abi.FR_QLIST_FREE_ALL]: { name: "qlist_free_all", offset: 0x4e, size: 0x120 },
  [abi.FR_KASAN_QUARANTINE_REDUCE]: { name: "kasan_quarantine_reduce", offset: 0x195, size: 0x1e0 },
  [abi.FR___VMALLOC_NODE_RANGE]: { name: "__vmalloc_node_range_noprof", offset: 0x3e0, size: 0x1100 },
  [abi.FR_VMALLOC]: { name: "vmalloc_noprof", offset: 0x4d, size: 0x60 },
  [abi.FR___KASAN_MEMPOOL_POISON]: { name: "__kasan_mempool_poison_object", offset: 0x13d, size: 0x200 },
  [abi.FR_MEMPOOL_FREE]: { name: "mempool_free", offset: 0x54, size: 0x70 },
  [abi.FR_SAVE_STACK_INFO]: { name: "save_stack_info", offset: 0x38, size: 0x118 },
  [abi.FR_KASAN_SAVE_ALLOC_INFO]: { name: "kasan_save_alloc_info", offset: 0x14, size: 0x20 },
  // KFENCE's own stacks (skipped when printed, see host/report/kfence.ts)
  [abi.FR___KFENCE_ALLOC]: { name: "__kfence_alloc", offset: 0x8e, size: 0x700 },
  [abi.FR___KMALLOC_NOPROF]: { name: "__kmalloc_noprof", offset: 0x1b6, size: 0x470 },
  [abi.FR___KMALLOC_CACHE_NOPROF]: { name: "__kmalloc_cache_noprof", offset: 0x189, size: 0x3e0 },
  [abi.FR___KMALLOC_NODE_TRACK_CALLER]: { name: "__kmalloc_node_track_caller_noprof", offset: 0x1a8, size: 0x480 },
  [abi.FR_KFENCE_GUARDED_FREE]: { name: "kfence_guarded_free", offset: 0x11d, size: 0x3f0 },
  [abi.FR___KFENCE_FREE]: { name: "__kfence_free", offset: 0x78, size: 0x110 },
  [abi.FR_RCU_GUARDED_FREE]: { name: "rcu_guarded_free", offset: 0x3e, size: 0x60 },
  [abi.FR_KFENCE_SHUTDOWN_CACHE]: { name: "kfence_shutdown_cache", offset: 0x17b, size: 0x230 },
  [abi.FR_KMEM_CACHE_DESTROY]: { name: "kmem_cache_destroy", offset: 0xd5, size: 0x170 },
  [abi.FR_KFENCE_CHECK_CANARY_CALLBACK]: { name: "kfence_check_canary_callback", offset: 0x2d, size: 0x50 },
  [abi.FR_NOTIFIER_CALL_CHAIN]: { name: "notifier_call_chain", offset: 0x58, size: 0xe0 },
  [abi.FR_ATOMIC_NOTIFIER_CALL_CHAIN]: { name: "atomic_notifier_call_chain", offset: 0x64, size: 0x100 },
  [abi.FR_PANIC]: { name: "panic", offset: 0x331, size: 0x5e0 },
  // vmalloc areas the kernel creates for itself (vm_struct->caller)
  [abi.FR_COPY_PROCESS]: { name: "copy_process", offset: 0x5d1, size: 0x3d90 },
  [abi.FR_PCPU_GET_VM_AREAS]: { name: "pcpu_get_vm_areas", offset: 0x0, size: 0x1a70 },
};

const F = (name: string, offset: number, size: number): Frame => ({ name, offset, size });
const DUMP = [F("dump_stack_lvl", 0x4d, 0x70), F("print_report", 0xcd, 0x620)];
const KREPORT = [...DUMP, F("kasan_report", 0xde, 0x110)];
const CHECK_RANGE = [...KREPORT, F("kasan_check_range", 0x10c, 0x1c0)];
const PATH_FRAMES: Record<number, Frame[]> = {
  [abi.PATH_ACCESS]: KREPORT,
  [abi.PATH_CHECK_RANGE]: CHECK_RANGE,
  [abi.PATH_MEMSET]: [...CHECK_RANGE, F("__asan_memset", 0x23, 0x50)],
  [abi.PATH_MEMCPY]: [...CHECK_RANGE, F("__asan_memcpy", 0x23, 0x60)],
  [abi.PATH_MEMMOVE]: [...CHECK_RANGE, F("__asan_memmove", 0x3d, 0x70)],
  [abi.PATH_CHECK_BYTE]: [...KREPORT, F("__kasan_check_byte", 0x13, 0x50)],
  [abi.PATH_KFREE]: [...DUMP, F("kasan_report_invalid_free", 0xaa, 0xc0), F("__kasan_slab_pre_free", 0x23, 0x50), F("kfree", 0x94, 0x190)],
  [abi.PATH_KMEM_CACHE_FREE]: [...DUMP, F("kasan_report_invalid_free", 0xaa, 0xc0), F("__kasan_slab_pre_free", 0x23, 0x50),
    F("kmem_cache_free", 0x105, 0x2f0)],
  [abi.PATH_KFREE_LARGE]: [...DUMP, F("kasan_report_invalid_free", 0xaa, 0xc0), F("__kasan_kfree_large", 0x86, 0xd0),
    F("free_large_kmalloc", 0x58, 0x160), F("kfree", 0x94, 0x190)],
  [abi.PATH_BITOPS]: CHECK_RANGE,
  [abi.PATH_MEMPOOL]: [...DUMP, F("kasan_report_invalid_free", 0xaa, 0xc0), F("__kasan_mempool_poison_object", 0x1c3, 0x200),
    F("mempool_free", 0x54, 0x70)],
  [abi.PATH_STRING]: KREPORT,
};
// SW_TAGS on arm64 checks inline: a tag mismatch executes a BRK whose
// exception handler reports, so the trace crosses the debug exception entry.
const ARM64_BRK = [F("kasan_handler", 0x34, 0x68), F("brk_handler", 0x64, 0xc8), F("do_debug_exception", 0x88, 0x130),
  F("el1_dbg", 0x4c, 0x70), F("el1h_64_sync_handler", 0x44, 0xa8), F("el1h_64_sync", 0x64, 0x68)];

/** Internal frames printed above the caller in a KASAN report's Call Trace. */
export function reportPathFrames(path: number, arch = "x86_64", tags = false): Frame[] {
  const frames = PATH_FRAMES[path] ?? KREPORT;
  if (arch === "arm64" && tags && frames === KREPORT) return [...KREPORT, ...ARM64_BRK];
  return frames;
}

// arm64's dump_stack() starts in the unwinder itself (6.12: dump_backtrace, show_stack).
const ARM64_DUMP_STACK = [F("dump_backtrace", 0x98, 0x118), F("show_stack", 0x18, 0x24)];
/** The frames of a Call trace as arm64 prints them. */
export function arm64Trace(frames: Frame[]): Frame[] {
  const aligned = frames.map(alignArm64);
  return frames[0]?.name === "dump_stack_lvl" ? [...ARM64_DUMP_STACK, ...aligned] : aligned;
}

/** Source text of scripts, for real function-relative offsets (Node only). */
type SourceReader = (file: string) => string | undefined;

interface CallSiteLike {
  getFunctionName(): string | null;
  getMethodName(): string | null;
  getTypeName(): string | null;
  getFileName(): string | undefined | null;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
  getEnclosingLineNumber?(): number | null;
  getEnclosingColumnNumber?(): number | null;
  getPosition?(): number;
}

/**
 * The frame table: ids for every frame the engine has seen. Ids below
 * FR_FIRST_DYNAMIC are the kernel's own functions; the rest are host (JS) and
 * guest (wasm) frames registered at run time.
 */
export class FrameTable {
  private frames: Frame[] = [];
  private byKey = new Map<string, number>();
  private lineStarts = new Map<string, number[] | null>();

  private aligned = new Map<number, Frame>();
  /** One size per symbol, as kallsyms has: the first size seen for a name. */
  private symbolSizes = new Map<string, number>();

  /**
   * arm64 instructions are 4 bytes: return addresses sit at multiples of 4 from
   * a function's start and functions are whole instructions long, so on arm64
   * every frame is printed with its offset and size on that grid.
   */
  constructor(private readSource?: SourceReader, private readonly arm64 = false) {}

  intern(f: Frame): number {
    const key = `${f.name}\0${f.offset}\0${f.size}\0${f.module ?? ""}`;
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = abi.FR_FIRST_DYNAMIC + this.frames.length;
      this.frames.push(f);
      this.byKey.set(key, id);
    }
    return id;
  }

  get(id: number): Frame | undefined {
    const f = id < abi.FR_FIRST_DYNAMIC ? KERNEL_FRAMES[id] : this.frames[id - abi.FR_FIRST_DYNAMIC];
    if (!f || !this.arm64) return f;
    let a = this.aligned.get(id);
    if (!a) this.aligned.set(id, (a = alignArm64(f)));
    return a;
  }

  /**
   * The frame with its symbol's one size: %pS of a function prints the same
   * size everywhere in a log. A later frame past a size first estimated
   * (no source to measure) grows it.
   */
  canonical(f: Frame): Frame {
    const key = `${f.name}\0${f.module ?? ""}`;
    const known = this.symbolSizes.get(key);
    if (known === f.size) return f;
    if (known === undefined || f.offset >= known) {
      const size = Math.max(f.size, f.offset + 1);
      this.symbolSizes.set(key, size);
      return size === f.size ? f : { ...f, size };
    }
    return { ...f, size: known };
  }

  isKernel(id: number): boolean {
    return id < abi.FR_FIRST_DYNAMIC;
  }

  /** A JS call site as a kernel-style frame. */
  fromCallSite(cs: CallSiteLike, name = frameName(cs)): Frame {
    return this.canonical(this.measure(cs, name));
  }

  private measure(cs: CallSiteLike, name: string): Frame {
    const line = cs.getLineNumber() ?? 0;
    const col = cs.getColumnNumber() ?? 0;
    const encLine = cs.getEnclosingLineNumber?.() ?? line;
    const encCol = cs.getEnclosingColumnNumber?.() ?? 1;
    const file = cs.getFileName() ?? "";
    const src = this.source(file);
    if (src && isModuleBody(cs)) {
      // a module's top-level code: the whole file is the function
      const starts = this.lines(file, src);
      if (starts && line <= starts.length) return { name, offset: starts[line - 1] + col - 1, size: src.length + 1 };
    }
    if (src) {
      const starts = this.lines(file, src);
      if (starts && line <= starts.length && encLine <= starts.length) {
        const pos = starts[line - 1] + col - 1;
        const start = starts[encLine - 1] + encCol - 1;
        const end = functionEnd(src, start);
        if (pos >= start && end > pos) return { name, offset: pos - start, size: end - start };
      }
    }
    // no source: encode the position within the function deterministically;
    // the size is a bound every position of a function of up to 64 lines fits
    const offset = ((line - encLine) << 6) + Math.max(0, col - 1);
    return { name, offset, size: Math.max(0x1000, (offset | 0xfff) + 1) };
  }

  private source(file: string): string | undefined {
    if (!this.readSource || !file) return undefined;
    return this.readSource(file);
  }

  private lines(file: string, src: string): number[] | null {
    let s = this.lineStarts.get(file);
    if (s === undefined) {
      s = [0];
      for (let i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) s.push(i + 1);
      this.lineStarts.set(file, s);
    }
    return s;
  }
}

/** Top-level code of a script or module: no function name, enclosing "function" starts at 1:1. */
function isModuleBody(cs: CallSiteLike): boolean {
  return !cs.getFunctionName() && (cs.getEnclosingLineNumber?.() ?? 0) === 1 && (cs.getEnclosingColumnNumber?.() ?? 0) === 1;
}

/**
 * The symbol of a module's top-level code: its file name as a C identifier
 * plus "_init", the way a kernel module's code runs from its init function
 * (`my-test.mjs` -> `my_test_init`).
 */
export function moduleInitName(file: string): string {
  const base = (file.split(/[\\/]/).pop() ?? "").replace(/\?.*$/, "").replace(/\.[A-Za-z0-9]+$/, "");
  // "my-test" -> my_test, "[eval1]" (node -e) -> eval1
  let ident = base.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "") || "module";
  if (/^[0-9]/.test(ident)) ident = `_${ident}`;
  return `${ident}_init`;
}

function frameName(cs: CallSiteLike): string {
  const fn = cs.getFunctionName();
  if (fn) return fn.replace(/^(async )?/, "").replace(/\s+/g, "_");
  const method = cs.getMethodName();
  if (method) return method;
  return "<anonymous>";
}

// End of the function starting at `start`: the brace that closes its body,
// skipping strings, template literals and comments. Arrow functions without a
// body end at the end of the expression's line.
function functionEnd(src: string, start: number): number {
  let depth = 0;
  let seenBrace = false;
  for (let i = start; i < src.length; i++) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "/") { i = src.indexOf("\n", i); if (i < 0) return src.length; continue; }
    if (c === "/" && src[i + 1] === "*") { i = src.indexOf("*/", i + 2); if (i < 0) return src.length; i++; continue; }
    if (c === '"' || c === "'" || c === "`") {
      for (i++; i < src.length && src[i] !== c; i++) if (src[i] === "\\") i++;
      continue;
    }
    if (c === "{") { depth++; seenBrace = true; }
    else if (c === "}") { depth--; if (seenBrace && depth === 0) return i + 1; if (depth < 0) return i; }
    else if (c === "\n" && !seenBrace && depth === 0 && i > start) return i;
  }
  return src.length;
}

/** The engine files whose frames are not part of a captured stack. */
const ENGINE_FILE = /[\\/](host|dist[\\/]host)[\\/](engine|vmalloc|slab|pages|callbacks|memaccess|tasks|stackdepot|cli|mempool|lib|stack_frame|stacktrace|report[\\/](pipeline|kinds)|smp[\\/]cpu_set|kunit[\\/]runner|guest[\\/]runner|fuzz[\\/][a-z_]+|web[\\/]playground[\\/][a-z_]+)\.[jt]s$/;
const NOISE_FILE = /^node:|[\\/]node_modules[\\/]/;

/**
 * Capture the current JS call stack as frames, innermost first: engine frames
 * on top are skipped; below the caller, the first engine frame (a runner) or
 * library frame ends the stack, and `suffix` (e.g. the kernel's kthread frames
 * for KUnit cases) is appended. Anonymous closures and the `transparent` names
 * are skipped anywhere: they stand for C macros and inlined helpers.
 */
export function captureJsStack(table: FrameTable, maxFrames = 16, suffix: Frame[] = [],
                               transparent?: ReadonlySet<string>): Frame[] {
  const saved = Error.prepareStackTrace;
  const savedLimit = Error.stackTraceLimit;
  let sites: CallSiteLike[] = [];
  try {
    Error.stackTraceLimit = maxFrames + 12;
    Error.prepareStackTrace = (_e, cs) => cs;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, captureJsStack);
    sites = (holder.stack as CallSiteLike[]) ?? [];
  } finally {
    Error.prepareStackTrace = saved;
    Error.stackTraceLimit = savedLimit;
  }
  const out: Frame[] = [];
  for (const cs of sites) {
    const file = cs.getFileName() ?? "";
    // closures and helpers the caller stands for (macros and inline functions in C)
    const name = cs.getFunctionName();
    const engine = ENGINE_FILE.test(file);
    const noise = NOISE_FILE.test(file);
    // a script's or module's top-level code is a frame too, named after its file
    if (!name && file && !engine && !noise && isModuleBody(cs)) {
      out.push(table.fromCallSite(cs, moduleInitName(file)));
      if (out.length >= maxFrames) break;
      continue;
    }
    // no name, or a name V8 inferred from the context ("t.expectKasanFail.gen.type": a
    // function's own name has no dot) is a closure; no file is a builtin (forEach)
    if (!name || name.includes(".") || !file || transparent?.has(name)) continue;
    if (out.length === 0 && (engine || noise)) continue;
    if (engine || noise) break;
    out.push(table.fromCallSite(cs));
    if (out.length >= maxFrames) break;
  }
  return [...out, ...suffix];
}
