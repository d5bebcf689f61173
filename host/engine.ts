// The engine: one core instance with its memory, booted with a configuration,
// and the host-side state that turns its report records into kernel text.
//
// The core's raw exports are called directly (no loader, no generated
// bindings): every export takes and returns numbers or bigints, and guests
// bind to the same raw functions. See the README's "Loader and bindings".
import * as abi from "../abi/abi.js";
import { resolveOptions, configSlots, ConfigError, MAX_RAM_MB, logBufLen, type EngineOptions, type ResolvedOptions } from "./config.js";
import { PrintkRing } from "./bounded.js";
import { loadCoreBytes, loadCoreBytesSync, readSource, wallNs, type CoreBuild } from "./platform.js";
import { FrameTable, formatFrame, type Frame } from "./stackdepot.js";
import { StackTracer, arm64ThreadEntry } from "./stacktrace.js";
import type { RawRecord } from "./report/record.js";
import { ReportPipeline, type KindFormatter } from "./report/pipeline.js";
import { formatKasan, BUG_NAMES, type FormatContext, type KasanDetails } from "./report/kasan.js";
import { formatOops, formatGpf, formatWarn, formatPanic, type OopsContext } from "./report/oops.js";
import { printkTime, type TaskInfo } from "./report/common.js";
import { formatVmallocWarn } from "./report/vmalloc.js";
import { formatAllocFailure, formatSlabOom, formatAllocOrderWarn, memInfoLines, type AllocSite } from "./report/alloc.js";
import { warnBlock } from "./report/oops.js";
import type { CoreExports } from "./exports.js";
import type { Report, ReportKind, Formatted, RecordFormatter } from "./report/report.js";
import { Kfence } from "./kfence.js";
import { pushStackFrame } from "./stack_frame.js";
import { runGuest, type GuestOptions, type GuestResult } from "./guest/runner.js";
import { selfCheckProblems } from "./selfcheck.js";
import { readLayout, type Layout } from "./layout.js";
import { parseGfp, type Gfp } from "./gfp.js";
import { Vmalloc } from "./vmalloc.js";
import { Slab, type SlabInfo, type KmemCache } from "./slab.js";
import { MemAccess } from "./memaccess.js";
import { Tasks, MAX_PID } from "./tasks.js";
import { Stats, type EngineStats } from "./stats.js";
import { bootLines } from "./bootlog.js";
import { Globals } from "./globals.js";
import { kmemleakScan, type LeakReport, type LeakRoot } from "./kmemleak.js";
import { addrArg, numArg, intArg, funcArg, U64_MAX } from "./args.js";

export type { CoreExports } from "./exports.js";
export type { EngineStats } from "./stats.js";

export type { ReportKind, Report, Formatted, RecordFormatter } from "./report/report.js";

export class EnginePanicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnginePanicError";
  }
}

/** An engine call made from a report callback (GuestOptions.onReport): refused, the engine is mid-report. */
export class EngineBusyError extends Error {
  constructor(what: string) {
    super(`${what} cannot be called from a report callback (the engine is publishing a report); act on the report after the call that raised it returns`);
    this.name = "EngineBusyError";
  }
}

export { parseGfp, type Gfp } from "./gfp.js";

export { parseSlabFlags, type SlabInfo, type KmemCache } from "./slab.js";

export interface CreateOptions {
  /** Which core build to run: the optimised release (default) or the debug build. */
  build?: CoreBuild;
  /** Use this compiled module instead of loading one (e.g. in workers). */
  module?: WebAssembly.Module;
}

const CALL_RCU_COMMON: Frame = { name: "__call_rcu_common.constprop.0", offset: 0x80, size: 0x990 };
const CALL_RCU: Frame = { name: "call_rcu", offset: 0x12, size: 0x20 };
const INSERT_WORK: Frame = { name: "insert_work", offset: 0x3a, size: 0x1a0 };
const QUEUE_WORK: Frame = { name: "__queue_work", offset: 0x5b7, size: 0xd70 };
const QUEUE_WORK_ON: Frame = { name: "queue_work_on", offset: 0x7e, size: 0x90 };
// where RCU callbacks and work items run
const SOFTIRQ_FRAMES: Frame[] = [
  { name: "rcu_do_batch", offset: 0x3bb, size: 0xba0 }, { name: "rcu_core", offset: 0x2c4, size: 0x9f0 },
  { name: "handle_softirqs", offset: 0x191, size: 0x550 }, { name: "run_ksoftirqd", offset: 0x34, size: 0x60 },
  { name: "smpboot_thread_fn", offset: 0x2ca, size: 0x5f0 }, { name: "kthread", offset: 0x289, size: 0x360 },
  { name: "ret_from_fork", offset: 0x2f, size: 0x70 }, { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];
const WORKER_FRAMES: Frame[] = [
  { name: "process_one_work", offset: 0x7bc, size: 0x1ba0 }, { name: "worker_thread", offset: 0x6c8, size: 0xf00 },
  { name: "kthread", offset: 0x289, size: 0x360 }, { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];

// WARNs for a host callback that threw. The kernel has no exceptions: the
// WARN is raised where the kernel invokes the callback.
const CALLBACK_WARN_SITES: Record<number, { file: string; fn: Frame }> = {
  [abi.CALLBACK_RCU]: { file: "kernel/rcu/tree.c:2568", fn: { name: "rcu_do_batch", offset: 0x3bb, size: 0xba0 } },
  [abi.CALLBACK_WORK]: { file: "kernel/workqueue.c:3238", fn: { name: "process_one_work", offset: 0x7bc, size: 0x1ba0 } },
  [abi.CALLBACK_CTOR]: { file: "mm/slub.c:2417", fn: { name: "setup_object", offset: 0x3c, size: 0x60 } },
};
/** One printable line of at most 200 characters from whatever a callback threw. */
function thrownText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = text.split("\n")[0].replace(/[^\x20-\x7e]/g, "?");
  return line.length > 200 ? line.slice(0, 200) + "..." : line;
}

const MAX_TICK_MS = 365 * 24 * 3600 * 1000;

const KMALLOC_NAMES = ["kmalloc-8", "kmalloc-16", "kmalloc-32", "kmalloc-64", "kmalloc-96", "kmalloc-128", "kmalloc-192",
  "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k", "kmalloc-8k"];

const BOOT_STAGES: Record<number, string> = {
  [abi.BOOT_STAGE_MEM_MAP]: "mem_map", [abi.BOOT_STAGE_PAGING_INIT]: "paging_init", [abi.BOOT_STAGE_KASAN_INIT]: "kasan_init",
  [abi.BOOT_STAGE_KIMAGE]: "the kernel image", [abi.BOOT_STAGE_KIMAGE_SHADOW]: "KASAN shadow of the kernel image",
  [abi.BOOT_STAGE_STACK_DEPOT]: "stack_depot_init", [abi.BOOT_STAGE_STACK_RING]: "the KASAN stack ring",
  [abi.BOOT_STAGE_KMEM_CACHE_INIT]: "kmem_cache_init", [abi.BOOT_STAGE_VMALLOC_INIT]: "vmalloc_init",
};

// sizeof(struct page): vmemmap arithmetic
const STRUCT_PAGE = BigInt(abi.STRUCT_PAGE_SIZE);

const moduleCache = new Map<CoreBuild, Promise<WebAssembly.Module>>();
export function compileCore(build: CoreBuild = "release"): Promise<WebAssembly.Module> {
  if (build !== "release" && build !== "debug") return Promise.reject(new TypeError(`compileCore: build must be "release" or "debug", got ${JSON.stringify(build)}`));
  let p = moduleCache.get(build);
  if (!p) {
    p = loadCoreBytes(build).then((b) => WebAssembly.compile(b as BufferSource));
    moduleCache.set(build, p);
  }
  return p;
}

export class Engine {
  readonly options: ResolvedOptions;
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  /** The virtual layout the core chose at boot. */
  readonly layout: Layout;
  readonly frames: FrameTable;
  /** Known pids and names, the current task and CPU, tasks with stacks (host/tasks.ts). */
  private readonly tasks = new Tasks(this);
  /** The kernel log: a ring of log_buf_len bytes. */
  private readonly log: PrintkRing;
  /** Ring draining, formatters by record kind, retained reports (shadowfence.max_reports). */
  private readonly pipeline: ReportPipeline = new ReportPipeline(this, {
    logLines: (ns, lines) => this.log.pushLines(ns, lines), accessFrames: (r) => this.tracer.accessFrames(r),
  });
  private readonly slab = new Slab(this);
  /** Registered globals (host/globals.ts). */
  private readonly globals = new Globals(this);
  private panicMessage: string | undefined;
  /** JS stack capture, synthetic frames above and below it, depot handles. */
  private readonly tracer: StackTracer;
  /**
   * Frames appended below the caller in captured host stacks (a runner's
   * kernel context, down to the thread's entry; on arm64 threads start at
   * ret_from_fork alone).
   */
  get stackSuffix(): Frame[] { return this.tracer.suffix; }
  set stackSuffix(frames: Frame[]) { this.tracer.suffix = frames; }
  /** Function names that never show in captured stacks (helpers that are macros or inline in C). */
  get transparentFrames(): ReadonlySet<string> { return this.tracer.transparent; }
  set transparentFrames(names: ReadonlySet<string>) { this.tracer.transparent = names; }
  private readonly bootHooks: Array<() => string[]> = [];
  private u8: Uint8Array;
  private readonly statsReader: Stats;
  /** KFENCE: pool, debugfs stats/objects, sample_interval. */
  readonly kfence: Kfence;
  private readonly wallClock: boolean;

  /** Boot an engine (Node and browsers). */
  static async create(opts: EngineOptions = {}, create: CreateOptions = {}): Promise<Engine> {
    const options = resolveOptions(opts);
    const mod = create.module ?? await compileCore(create.build ?? "release");
    return new Engine(options, mod);
  }

  /** Boot synchronously (Node only). */
  static createSync(opts: EngineOptions = {}, create: CreateOptions = {}): Engine {
    const options = resolveOptions(opts);
    const mod = create.module ?? new WebAssembly.Module(loadCoreBytesSync(create.build ?? "release") as BufferSource);
    return new Engine(options, mod);
  }

  private constructor(options: ResolvedOptions, mod: WebAssembly.Module) {
    this.options = options;
    this.registerReportKinds();
    this.log = new PrintkRing(logBufLen(options), (ns) => (options.printkTime ? printkTime(ns) : ""));
    this.frames = new FrameTable(readSource, this.options.arch === "arm64");
    this.tracer = new StackTracer(this.frames, this.options.arch === "arm64", this);
    const bytes = abi.PHYS_BASE + options.ram * 1048576;
    const pages = Math.ceil(bytes / abi.WASM_PAGE);
    if (options.ram > MAX_RAM_MB) throw new ConfigError(`invalid value ${options.ram} for ram: expected an integer from 16 to ${MAX_RAM_MB}`);
    try {
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch (e) {
      throw new ConfigError(`ram=${options.ram}: this host could not provide ${pages * abi.WASM_PAGE} bytes of wasm memory (${(e as Error).message})`);
    }
    const env = {
      memory: this.memory,
      abort: (msg: number, file: number, line: number, col: number) => {
        throw new Error(`shadowfence core aborted at ${line}:${col}`);
      },
      sf_ctor: (ctor: number, va: bigint) => {
        const fn = this.slab.ctors.get(ctor);
        // an i64 crosses the boundary signed; a ctor that throws must not unwind the allocator
        if (fn) this.runCallback(abi.CALLBACK_CTOR, fn.ctor, () => fn.ctor(BigInt.asUintN(64, va)), `slab constructor of ${fn.cache}`);
      },
      sf_wall_ns: () => wallNs(),
      // guests: reports are pending inside a guest's call; print them now
      sf_guest_reports: () => this.drain(),
    };
    const instance = new WebAssembly.Instance(mod, { env });
    this.exports = instance.exports as unknown as CoreExports;
    this.u8 = new Uint8Array(this.memory.buffer);
    this.statsReader = new Stats({ exports: this.exports, memory: this.memory, options: this.options, reports: this.pipeline, log: this.log });
    for (const [slot, v] of configSlots(options)) this.exports.config_set(slot, v);
    const rc = this.exports.boot();
    if (rc === abi.BOOT_ENOMEM) {
      const stage = BOOT_STAGES[this.exports.boot_failed_stage()] ?? "boot";
      // fail_page_alloc is armed when boot completes, so only RAM can be short here
      throw new ConfigError(`ram=${options.ram}: too little memory for the kernel's tables and pools (out of memory in ${stage})`);
    }
    if (rc !== abi.BOOT_OK) throw new ConfigError(`boot failed (${rc})`);
    this.layout = readLayout(this.exports);
    for (let i = 0; i < KMALLOC_NAMES.length; i++) this.slab.names.set(this.exports.kmalloc_cache_id(i), KMALLOC_NAMES[i]);
    this.slab.names.set(0, "kmem_cache");
    this.wallClock = options.kfenceClock === "wall";
    this.kfence = new Kfence(this);
    this.bootLog();
  }

  // ── plumbing ──────────────────────────────────────────────────────────────
  /** Append a line to the kernel log. */
  printk(text: string, ns?: bigint): void {
    this.log.push(ns ?? this.exports.clock_now(), text);
  }

  /** The boot lines (host/bootlog.ts), at timestamp 0. */
  private bootLog(): void {
    for (const line of bootLines(this.options, this.stats(), this.log.size, this.bootHooks)) this.printk(line, 0n);
  }

  /** A subsystem adds lines to the boot log (call before boot completes: from its constructor). */
  addBootLines(hook: () => string[]): void {
    this.bootHooks.push(hook);
  }
  /** A subsystem formats the records of its kind. */
  registerFormatter(kind: number, fn: RecordFormatter): void {
    this.pipeline.register(kind, (r, ctx, frames) => fn(r, ctx, frames()));
  }

  /**
   * Run one host-driven kernel call: set up its stack (captured now when
   * `capture`, for calls that record tracks; otherwise lazily if a report
   * needs it), run it, and publish what it reported. Subsystems use this too.
   */
  kernelCall<T>(capture: boolean, fn: () => T): T {
    return this.call(capture, fn);
  }
  private call<T>(capture: boolean, fn: () => T): T {
    this.notBusy();
    if (this.panicMessage) throw new EnginePanicError(this.panicMessage);
    this.tracer.reset();
    if (capture) this.exports.set_current_stack(this.stackHandle(this.tracer.capture()));
    else this.exports.set_current_stack(0);
    // kfence.clock=wall: the sampling timer sees the wall clock at each call
    if (this.wallClock) this.exports.kfence_wall_poll();
    const result = fn();
    this.drain();
    return result;
  }

  /**
   * Run `fn` as the kernel function `frames` (innermost first): stacks captured
   * inside show these frames above the caller, as they would for code inside
   * strlen, call_rcu, mempool_free, ...
   */
  withFrames<T>(frames: Frame[], fn: () => T): T {
    return this.tracer.withPrefix(frames, fn);
  }

  /** Run `fn` as another task with another stack context (RCU callbacks, workqueues). */
  asTask<T>(task: { pid: number; comm: string; cpu?: number }, suffix: Frame[], fn: () => T): T {
    const saved = { ...this.current };
    const savedSuffix = this.stackSuffix;
    this.setTask(task);
    this.stackSuffix = suffix;
    try {
      return fn();
    } finally {
      this.stackSuffix = savedSuffix;
      this.setTask(saved);
    }
  }

  /** The depot handle of a host stack (frames innermost first). */
  stackHandle(frames: Frame[]): number {
    return this.tracer.handle(frames);
  }

  /** Frames of a depot stack, innermost first. */
  stackFrames(handle: number): Frame[] {
    return this.tracer.fetch(handle);
  }

  formatContext(): OopsContext {
    const arm = this.options.arch === "arm64";
    return {
      arch: this.options.arch,
      tags: this.options.kasan && this.options.kasanMode === "sw_tags",
      kasan: this.options.kasan,
      stackFrames: (h) => this.stackFrames(h),
      cacheName: (id) => this.slab.names.get(id) ?? `cache-${id}`,
      cacheVa: (id) => BigInt.asUintN(64, this.exports.cache_va(id)),
      task: (pid) => this.task(pid),
      symbolize: (a) => this.symbolize(a),
      readCString: (va) => this.readCString(va),
      peek: (va, n) => this.peek(va, n),
      pointer: (va) => this.hashPointer(va),
      codeFrame: (pc) => this.tracer.codeFrame(pc),
      pageOffset: this.layout.pageOffset,
      vmemmapStart: this.layout.vmemmapStart,
      slabAllocator: this.options.slabAllocator,
      kasanShadowOffset: this.layout.kasanShadowOffset,
      kasanShadowStart: this.layout.kasanShadowStart,
      kasanShadowEnd: this.layout.kasanShadowEnd,
      taskSize: this.layout.taskSize,
    };
  }

  /** Read the ring, format every new record, publish reports and dmesg text. */
  private drain(): void {
    this.pipeline.drain(() => true);
  }

  /** The core's own report kinds (subsystems register theirs: KFENCE, vmalloc). */
  private registerReportKinds(): void {
    const p = this.pipeline;
    const kasan: KindFormatter = (r, ctx, frames) => {
      const { lines, details } = formatKasan(r, ctx, frames());
      return { kind: "kasan", type: details.bugType, title: lines[1], performed: r.kind === abi.REP_KASAN, text: lines.join("\n"), kasan: details };
    };
    p.register(abi.REP_KASAN, kasan);
    p.register(abi.REP_KASAN_FREE, kasan);
    p.register(abi.REP_OOPS, (r, ctx, frames) => {
      const lines = formatOops(r, ctx, frames());
      return { kind: "oops", type: "page fault", title: lines[0], performed: false, text: lines.join("\n") };
    });
    p.register(abi.REP_GPF, (r, ctx, frames) => {
      const lines = formatGpf(r, ctx, frames());
      return { kind: "gpf", type: "general protection fault", title: lines[0], performed: false, text: lines.join("\n") };
    });
    p.register(abi.REP_WARN, (r, ctx, frames) => {
      const own = this.formatHostWarn(r, ctx, frames);
      if (own) {
        return { kind: "warn", type: own.type, title: own.lines.find((l) => /^(WARNING|SLUB)/.test(l)) ?? own.lines.find((l) => !l.endsWith("callbacks suppressed")) ?? own.lines[0],
          performed: false, text: own.lines.join("\n") };
      }
      const { lines, type } = formatWarn(r, ctx, frames());
      const kind: ReportKind = type === "bad-page-state" ? "bad_page" : type === "slub-double-free" ? "bug" : "warn";
      return { kind, type, title: lines.find((l) => /^(BUG|WARNING|kernel BUG)/.test(l)) ?? lines[0], performed: false, text: lines.join("\n") };
    });
    p.register(abi.REP_PANIC, (r, ctx, frames) => {
      const lines = formatPanic(r, ctx, frames());
      this.panicMessage = lines[0];
      return { kind: "panic", type: "panic", title: lines[0], performed: false, text: lines.join("\n") };
    });
  }

  /** WARNs whose text needs the engine's state: allocation failures, callbacks that threw. */
  private formatHostWarn(r: RawRecord, ctx: OopsContext, frames: () => Frame[]): { type: string; lines: string[] } | undefined {
    const id = Number(r.arg0);
    if (id === abi.WARN_ALLOC_FAILED || id === abi.WARN_ALLOC_ORDER) {
      let site: AllocSite = r.addr === BigInt(abi.ALLOC_SITE_LARGE_KMALLOC) ? "large" : "pages";
      if (r.addr === BigInt(abi.ALLOC_SITE_SLAB)) site = this.slab.names.get(r.cache)?.startsWith("kmalloc-") ? "kmalloc" : "cache";
      if (id === abi.WARN_ALLOC_ORDER) return { type: "alloc-order", lines: formatAllocOrderWarn(r, ctx, frames(), site) };
      if (r.flags & abi.RF_OBJECT) {
        const x = this.exports, c = r.cache;
        return { type: "slab-out-of-memory", lines: formatSlabOom(r, {
          name: this.cacheName(c), objectSize: x.cache_info(c, abi.KC_OBJECT_SIZE), size: x.cache_info(c, abi.KC_SIZE), order: x.cache_info(c, abi.KC_ORDER),
          nrSlabs: x.cache_info(c, abi.KC_NR_SLABS), objects: x.cache_info(c, abi.KC_OBJECTS), live: x.cache_info(c, abi.KC_LIVE) }) };
      }
      return { type: "page-allocation-failure", lines: formatAllocFailure(r, ctx, frames(), this.statsReader.memInfo(Number(r.arg2)), site) };
    }
    if (id === abi.WARN_CALLBACK) {
      const site = CALLBACK_WARN_SITES[Number(r.arg1)] ?? CALLBACK_WARN_SITES[abi.CALLBACK_WORK];
      return { type: "callback-failed", lines: warnBlock(r, ctx, frames(), [this.callbackWarnTexts.shift() ?? "callback failed"], site) };
    }
    return undefined;
  }

  // ── report callbacks ──────────────────────────────────────────────────────
  // Engine calls from inside a report callback are refused (EngineBusyError):
  // the ring is being drained and the core may be inside a guest's hook.
  /** Throws EngineBusyError inside a report callback (named after the public method that was called). */
  private notBusy(): void {
    if (!this.pipeline.busy) return;
    // the outermost engine method above the callback: the one the callback called
    let name: string | undefined;
    for (const line of (new Error().stack ?? "").split("\n").slice(2)) {
      const m = /^\s*at (?:Engine|Kfence|Mempool|Slab|Vmalloc|MemAccess|Tasks)\.(?:(?:get|set) )?([\w$]+)/.exec(line);
      if (!m) break;
      if (!["call", "kernelCall", "callWithStack", "withFrames", "asTask"].includes(m[1])) name = m[1];
    }
    throw new EngineBusyError(name ? `engine.${name}()` : "this engine call");
  }

  // ── tasks, clock ─────────────────────────────────────────────────────────
  task(pid: number): TaskInfo { return this.tasks.task(pid); }
  /** Make (pid, comm) the current task on `cpu`; later calls run as it. */
  setTask(t: { pid: number; comm?: string; cpu?: number }): void { this.notBusy(); this.tasks.setTask(t); }
  get current(): TaskInfo & { cpu: number } { return this.tasks.current; }
  /** Advance the engine clock by ms (the KFENCE sampling timer runs on it). */
  tick(ms: number): void {
    // up to a year of engine time a call; fractions of a ms are fine (ns resolution)
    if (typeof ms !== "number" || !(ms >= 0 && ms <= MAX_TICK_MS)) throw new RangeError(`tick: ms must be a number from 0 to ${MAX_TICK_MS}, got ${typeof ms === "bigint" ? `${ms}n` : ms}`);
    this.call(false, () => this.exports.clock_advance(BigInt(Math.round(ms * 1e6))));
  }
  /** Engine clock in ns since boot. */
  get clockNs(): bigint {
    return this.exports.clock_now();
  }

  // ── reports and text ─────────────────────────────────────────────────────
  /** The retained reports (the newest shadowfence.max_reports), in order. */
  reports(): Report[] {
    return this.pipeline.retained();
  }
  /** Reports since the last takeReports() (those still retained; stats().reports.dropped counts the rest). */
  takeReports(): Report[] {
    return this.pipeline.take();
  }
  /** The kernel log, like dmesg: the newest log_buf_len bytes (with printk timestamps unless printk.time=0). */
  dmesg(): string {
    return this.log.text();
  }
  get panicked(): boolean {
    return this.panicMessage !== undefined;
  }

  /** Frames, memory, TLB, reports, printk, pages, slab, quarantine, depot, vmalloc, KFENCE counters (host/stats.ts). */
  stats(): EngineStats { return this.statsReader.read(); }

  // ── checked memory access (host/memaccess.ts) ───────────────────────────
  private readonly mem = new MemAccess(this);

  /** A checked load of 1, 2, 4, 8 or 16 bytes (16 returns a Uint8Array). */
  load(addr: bigint | number, size: 1 | 2 | 4): number;
  load(addr: bigint | number, size: 8): bigint;
  load(addr: bigint | number, size: 16): Uint8Array;
  load(addr: bigint | number, size: number): number | bigint | Uint8Array;
  load(addr: bigint | number, size: number): number | bigint | Uint8Array { return this.mem.load(addr, size); }
  /** A checked store of 1, 2, 4, 8 or 16 bytes. */
  store(addr: bigint | number, size: number, value: number | bigint | Uint8Array): void { this.mem.store(addr, size, value); }
  /** Read len bytes (a checked N-byte read, like kasan_check_range then the copy). */
  readBytes(addr: bigint | number, len: number): Uint8Array { return this.mem.readBytes(addr, len); }
  /** Write bytes (a checked N-byte write). */
  writeBytes(addr: bigint | number, bytes: Uint8Array | number[]): void { this.mem.writeBytes(addr, bytes); }
  /** memset with KASAN's interceptor semantics: a bad range is reported and nothing is written. Returns whether it ran. */
  memset(addr: bigint | number, byte: number, len: number | bigint): boolean { return this.mem.memset(addr, byte, len); }
  memcpy(dst: bigint | number, src: bigint | number, len: number | bigint): boolean { return this.mem.memcpy(dst, src, len); }
  memmove(dst: bigint | number, src: bigint | number, len: number | bigint): boolean { return this.mem.memmove(dst, src, len); }
  /** kasan_check_read / kasan_check_write: check a range without accessing it. */
  kasan_check_read(addr: bigint | number, len: number | bigint): boolean { return this.mem.kasan_check_read(addr, len); }
  kasan_check_write(addr: bigint | number, len: number | bigint): boolean { return this.mem.kasan_check_write(addr, len); }

  /** A view of the engine's memory (re-created if the memory grew). */
  u8view(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) this.u8 = new Uint8Array(this.memory.buffer);
    return this.u8;
  }

  // ── pages ────────────────────────────────────────────────────────────────
  /** alloc_pages(gfp, order): the direct-map address of 2^order frames, 0n when out of memory. */
  alloc_pages(order: number, gfp: Gfp = "GFP_KERNEL"): bigint {
    // an unsigned int; past MAX_PAGE_ORDER the kernel WARNs once and returns NULL
    const o = numArg("alloc_pages", "order", order, 0, 0xffffffff);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.call(true, () => this.exports.alloc_pages(o, g)));
  }
  /** __free_pages(addr, order). A bad page prints "BUG: Bad page state". */
  __free_pages(addr: bigint | number, order: number): void {
    const a = addrArg("__free_pages", "page", addr);
    if (!Number.isInteger(order) || order < 0 || order > abi.MAX_PAGE_ORDER) throw new RangeError(`__free_pages: order must be 0..${abi.MAX_PAGE_ORDER}, got ${order}`);
    const rc = this.call(true, () => this.exports.__free_pages(a, order));
    if (rc === -1) throw new RangeError(`__free_pages: ${"0x" + a.toString(16)} is not a page-aligned direct-map address`);
  }

  // ── slab (host/slab.ts) ──────────────────────────────────────────────────
  kmalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.slab.kmalloc(size, gfp); }
  kzalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.slab.kzalloc(size, gfp); }
  /** kcalloc(n, size): NULL (0n) when n * size overflows, as kmalloc_array does. */
  kcalloc(n: number | bigint, size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.slab.kcalloc(n, size, gfp); }
  krealloc(addr: bigint | number, size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.slab.krealloc(addr, size, gfp); }
  kfree(addr: bigint | number): void { this.slab.kfree(addr); }
  kfree_sensitive(addr: bigint | number): void { this.slab.kfree_sensitive(addr); }
  ksize(addr: bigint | number): number { return this.slab.ksize(addr); }
  /** /proc/slabinfo's columns for every live cache (KFENCE objects are not in the slabs' counts). */
  slabinfo(): SlabInfo[] { return this.slab.slabinfo(); }
  /** /proc/slabinfo as text (version 2.1 columns). */
  slabinfoText(): string { return this.slab.slabinfoText(); }
  kmem_cache_create(name: string, size: number, opts: { align?: number; flags?: number | string; ctor?: (addr: bigint) => void } = {}): KmemCache {
    return this.slab.kmem_cache_create(name, size, opts);
  }
  kmem_cache_alloc(cache: KmemCache, gfp: Gfp = "GFP_KERNEL"): bigint { return this.slab.kmem_cache_alloc(cache, gfp); }
  kmem_cache_free(cache: KmemCache, addr: bigint | number): void { this.slab.kmem_cache_free(cache, addr); }
  /** kmem_cache_shrink(): the quarantine's objects of the cache, then empty slabs, go back. */
  kmem_cache_shrink(cache: KmemCache): void { this.slab.kmem_cache_shrink(cache); }
  /** Returns false when objects remained (the kernel WARNs and keeps the cache). */
  kmem_cache_destroy(cache: KmemCache): boolean { return this.slab.kmem_cache_destroy(cache); }
  kmem_cache_alloc_bulk(cache: KmemCache, n: number, gfp: Gfp = "GFP_KERNEL"): bigint[] { return this.slab.kmem_cache_alloc_bulk(cache, n, gfp); }
  kmem_cache_free_bulk(cache: KmemCache, addrs: bigint[]): void { this.slab.kmem_cache_free_bulk(cache, addrs); }
  /** The name of cache `id` (for tooling). */
  cacheName(id: number): string { return this.slab.cacheName(id); }
  /** virt_to_cache(): the name of the slab cache holding addr, undefined when it is not slab memory. */
  cacheOf(addr: bigint | number): string | undefined { return this.slab.cacheOf(addr); }

  // ── KASAN controls ───────────────────────────────────────────────────────
  kasan_disable_current(): void { this.notBusy(); this.exports.kasan_disable_current(); }
  kasan_enable_current(): void { this.notBusy(); this.exports.kasan_enable_current(); }
  set kasanMultiShot(on: boolean) { this.notBusy(); this.exports.kasan_multi_shot(on ? 1 : 0); }
  /** The shadow byte (generic) or memory tag (sw_tags) of addr; -1 if unmapped. */
  shadowByte(addr: bigint | number): number {
    return this.exports.kasan_shadow_byte(addrArg("shadowByte", "addr", addr));
  }
  /** Give the quarantine back to the slabs (tests). */
  quarantineDrain(): void {
    this.call(false, () => this.exports.kasan_quarantine_drain());
  }
  // ── RCU callbacks and workqueues ─────────────────────────────────────────
  // Queueing records KASAN's aux stack on the object ("Last potentially related
  // work creation:"); the callbacks run later in the kernel's context for them.
  private readonly rcuCallbacks: Array<() => void> = [];
  private readonly workItems: Array<() => void> = [];
  private readonly callbackWarnTexts: string[] = [];

  /**
   * Run one callback; if it throws, WARN as the kernel would at the site that
   * invoked it and carry on (the other pending callbacks still run). A panic
   * of the engine inside the callback is not swallowed.
   */
  private runCallback(kind: number, cb: (...a: never[]) => unknown, run: () => void, what: string): void {
    try {
      run();
    } catch (err) {
      if (err instanceof EnginePanicError || this.panicMessage) throw err;
      const name = cb.name ? cb.name.replace(/[^\w.$]/g, "?").slice(0, 64) : "(anonymous)";
      this.callbackWarnTexts.push(`${what} ${name} failed: ${thrownText(err)}`);
      if (kind === abi.CALLBACK_CTOR) this.exports.warn_callback(kind);      // inside the allocation: printed when it returns
      // the trace starts below the invoking function, which the WARNING line names
      else this.callWithStack(this.stackHandle(this.stackSuffix.slice(1)), () => this.exports.warn_callback(kind));
    }
  }

  /** call_rcu(head, func): `func` runs after the next grace period (rcu_barrier). */
  call_rcu(head: bigint | number, func: () => void): void {
    const a = addrArg("call_rcu", "head", head);
    funcArg("call_rcu", "func", func);
    this.withFrames([CALL_RCU_COMMON, CALL_RCU], () => this.call(true, () => this.exports.kasan_record_aux_stack(a)));
    this.rcuCallbacks.push(func);
  }
  /** End the current RCU grace period: callbacks, then the delayed frees of SLAB_TYPESAFE_BY_RCU caches. */
  rcu_barrier(): void {
    this.notBusy();
    const cpu = this.tasks.current.cpu;
    const run = this.rcuCallbacks.splice(0);
    if (run.length) {
      this.asTask({ pid: 14 + cpu * 8, comm: `ksoftirqd/${cpu}`, cpu }, SOFTIRQ_FRAMES,
        () => run.forEach((f) => this.runCallback(abi.CALLBACK_RCU, f, f, "RCU callback")));
    }
    this.call(false, () => this.exports.rcu_barrier());
  }
  synchronize_rcu(): void {
    this.rcu_barrier();
  }
  /** queue_work(wq, work): `func` runs on a kworker at flush_workqueue/destroy_workqueue. */
  queue_work(work: bigint | number, func: () => void): void {
    const a = addrArg("queue_work", "work", work);
    funcArg("queue_work", "func", func);
    this.withFrames([INSERT_WORK, QUEUE_WORK, QUEUE_WORK_ON], () => this.call(true, () => this.exports.kasan_record_aux_stack(a)));
    this.workItems.push(func);
  }
  flush_workqueue(): void {
    this.notBusy();
    const cpu = this.tasks.current.cpu;
    const run = this.workItems.splice(0);
    if (run.length) {
      this.asTask({ pid: 40 + cpu, comm: `kworker/${cpu}:1`, cpu }, WORKER_FRAMES,
        () => run.forEach((f) => this.runCallback(abi.CALLBACK_WORK, f, f, "work function")));
    }
  }
  destroy_workqueue(): void {
    this.flush_workqueue();
  }
  /** msleep(): the clock moves on (KFENCE's sampling timer may fire). */
  msleep(ms: number): void {
    this.tick(ms);
  }

  // ── globals ─────────────────────────────────────────────────────────────
  /**
   * A global of `size` bytes in the kernel image (or a module), with the
   * compiler's right redzone, poisoned as __asan_register_globals does.
   */
  registerGlobal(name: string, size: number, opts: { module?: string } = {}): bigint { this.notBusy(); return this.globals.register(name, size, opts); }

  /** %pS: a guest's own symbols first, then the registered globals. */
  private symbolize(a: bigint): Frame | undefined { return this.guestHooks.symbolize?.(a) ?? this.globals.symbolize(a); }

  /** Register a code address (a stack frame's pc) with the frame it stands for. */
  registerCode(pc: bigint, frame: Frame): void {
    this.tracer.registerCode(pc, frame);
  }

  /** Read a C string from simulated memory without checks (report helpers). */
  /** Raw bytes of simulated memory, read through the page tables without KASAN; undefined where unmapped. */
  peek(va: bigint, n: number): Uint8Array | undefined {
    addrArg("peek", "va", va);
    numArg("peek", "n", n, 0, 1 << 20);
    if (va + BigInt(n) > U64_MAX + 1n) return undefined;      // runs off the address space: nothing is mapped there
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const lin = this.exports.translate_lin(va + BigInt(i));
      if (!lin) return undefined;
      out[i] = this.u8view()[lin];
    }
    return out;
  }

  /**
   * printk's %p: the low 32 bits of a keyed hash of the pointer, zero-padded
   * to 16 digits (the key comes from kasan.seed, so a run is reproducible);
   * the raw value with no_hash_pointers.
   */
  hashPointer(va: bigint): string {
    const v = BigInt.asUintN(64, va);
    if (this.options.noHashPointers) return v.toString(16).padStart(16, "0");
    let h = BigInt.asUintN(64, v ^ (BigInt(this.options.kasanSeed) * 0x9e3779b97f4a7c15n));
    h = BigInt.asUintN(64, (h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n);
    h = BigInt.asUintN(64, (h ^ (h >> 27n)) * 0x94d049bb133111ebn);
    h ^= h >> 31n;
    return (h & 0xffffffffn).toString(16).padStart(16, "0");
  }

  readCString(va: bigint): string | undefined {
    if (va === 0n) return undefined;
    if (addrArg("readCString", "va", va) > U64_MAX - 256n) return undefined;
    const bytes: number[] = [];
    for (let i = 0n; i < 256n; i++) {
      const lin = this.exports.translate_lin(va + i);
      if (!lin) return undefined;
      const b = this.u8view()[lin];
      if (b === 0) break;
      bytes.push(b);
    }
    return String.fromCharCode(...bytes);
  }

  // ── vmalloc, KASAN_VMALLOC, percpu, VMAP_STACK ───────────────────────────
  // (a field initializer: it runs before the constructor boots the core)
  private readonly vmallocSetup = this.registerFormatter(abi.REP_VMALLOC_WARN, (r, ctx, frames) => {
    const f = formatVmallocWarn(r, ctx, frames);
    // warn_alloc() ends with show_mem(), as for the page allocator's failures
    return f.type === "warn_alloc" ? { ...f, text: [f.text, ...memInfoLines(this.statsReader.memInfo(Number(r.arg2)))].join("\n") } : f;
  });

  private readonly vm = new Vmalloc(this);

  /** vmalloc(size): a vmalloc-space address (tagged under sw_tags with kasan.vmalloc=on), 0n on failure. */
  vmalloc(size: number | bigint): bigint { return this.vm.vmalloc(size); }
  /** vzalloc(size): zeroed vmalloc memory. */
  vzalloc(size: number | bigint): bigint { return this.vm.vzalloc(size); }
  /** __vmalloc(size, gfp) */
  __vmalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.vm.__vmalloc(size, gfp); }
  /** __vmalloc_node(size, align, gfp): align is a power of two. */
  __vmalloc_node(size: number | bigint, align: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint { return this.vm.__vmalloc_node(size, align, gfp); }
  /** vfree(addr); NULL is a no-op; anything else that is no vmalloc area gets the kernel's WARN. */
  vfree(addr: bigint | number): void { this.vm.vfree(addr); }
  /** vmap(pages): map pages (struct page pointers or their direct-map addresses) contiguously; 0n on failure. */
  vmap(pages: Array<bigint | number>): bigint { return this.vm.vmap(pages); }
  vunmap(addr: bigint | number): void { this.vm.vunmap(addr); }
  /** vm_map_ram(pages): small counts come from the current CPU's vmap block; 0n on failure. */
  vm_map_ram(pages: Array<bigint | number>): bigint { return this.vm.vm_map_ram(pages); }
  vm_unmap_ram(addr: bigint | number, count: number): void { this.vm.vm_unmap_ram(addr, count); }
  /** Purge lazily freed vmap areas (and idle vmap blocks): their address space and KASAN shadow go back. */
  vm_unmap_aliases(): void { this.vm.vm_unmap_aliases(); }
  /** lazy_max_pages(): lazily freed pages that trigger a purge. */
  get vmallocLazyMaxPages(): number { return this.vm.lazyMaxPages; }
  is_vmalloc_addr(addr: bigint | number): boolean { return this.vm.is_vmalloc_addr(addr); }
  /** vmalloc_to_pfn(addr): the frame mapped there, -1 when none. */
  vmalloc_to_pfn(addr: bigint | number): number { return this.vm.vmalloc_to_pfn(addr); }
  /** vmalloc_to_page(addr): the struct page pointer (vmemmap), 0n when nothing is mapped. */
  vmalloc_to_page(addr: bigint | number): bigint { return this.vm.vmalloc_to_page(addr); }
  /** virt_to_page(addr) for a direct-map address. */
  virt_to_page(addr: bigint | number): bigint { return this.vm.virt_to_page(addr); }
  /** page_address(page): the page's direct-map address (with its KASAN tag under sw_tags). */
  page_address(page: bigint | number): bigint { return this.vm.page_address(page); }
  /** find_vm_area(addr): the vm_struct of a live area, as the KASAN report prints it. */
  find_vm_area(addr: bigint | number): { addr: bigint; size: bigint; caller: string; nrPages: number } | undefined { return this.vm.find_vm_area(addr); }
  /** __alloc_percpu(size, align): the percpu pointer (CPU 0's copy), 0n on failure. */
  __alloc_percpu(size: number, align: number): bigint { return this.vm.__alloc_percpu(size, align); }
  free_percpu(ptr: bigint | number): void { this.vm.free_percpu(ptr); }
  per_cpu_ptr(ptr: bigint | number, cpu: number): bigint { return this.vm.per_cpu_ptr(ptr, cpu); }

  /** Re-arm fail_page_alloc at run time (its debugfs knobs): "<interval>,<probability>,<space>,<times>". */
  failPageAlloc(spec: string): void {
    this.notBusy();
    const parts = typeof spec === "string" ? spec.split(",") : [];
    if (parts.length !== 4 || parts.some((x) => !/^-?\d+$/.test(x.trim()))) throw new RangeError(`failPageAlloc: expected <interval>,<probability>,<space>,<times>, got ${JSON.stringify(spec)}`);
    const [interval, probability, space, times] = parts.map((x) => BigInt(x.trim()));
    // the fault_attr fields: unsigned long interval, probability 0..100, atomic_t space and times
    const i = numArg("failPageAlloc", "interval", interval, 0, 0x7fffffff);
    const p = numArg("failPageAlloc", "probability", probability, 0, 100);
    const sp = intArg("failPageAlloc", "space", space, 0n, 0x7fffffffn);
    const t = numArg("failPageAlloc", "times", times, -1, 0x7fffffff);
    this.exports.fail_page_alloc_set(i, p, sp, t);
  }

  /**
   * A task with its own kernel stack (THREAD_SIZE; in vmalloc space with
   * vmap_stack=on, created by copy_process). Run as it with setTask({ pid }).
   */
  createTask(comm: string): { pid: number; comm: string; stack: bigint; stackSize: number } { return this.tasks.createTask(comm); }
  /** The task exits: its stack is freed (vfree'd with vmap_stack=on) and its pid forgotten. */
  exitTask(pid: number): void { this.notBusy(); this.tasks.exitTask(pid); }

  /**
   * Push an instrumented function's stack frame on pid's stack, laid out and
   * poisoned as clang's ASan does for the kernel (host/stack_frame.ts).
   * Returns the locals' addresses and pop().
   */
  stackFrame(pid: number, fn: string, locals: Array<{ name: string; size: number }>): { base: bigint; locals: bigint[]; size: number; pop(): void } {
    this.notBusy();
    numArg("stackFrame", "pid", pid, 0, MAX_PID);
    if (this.exports.task_stack_base(pid) === 0n && this.exports.task_count() >= abi.MAX_TASKS) {
      throw new RangeError(`stackFrame(pid ${pid}): the engine has ${abi.MAX_TASKS} tasks, its limit (exitTask() one first)`);
    }
    const f = pushStackFrame(this, fn, locals, pid);
    return { base: f.base, locals: locals.map((l) => f.vars.get(l.name)!), size: f.size, pop: () => f.pop() };
  }

  // ── guests (host/guest/) ──────────────────────────────────────────────────
  /** Set by the guest runner while a guest runs: report listener, global names. */
  readonly guestHooks: { onReport?: (r: Report) => void; symbolize?: (a: bigint) => Frame | undefined } = {};

  /**
   * Run a WASI guest program (C built with `shadowfence cc`) on this engine:
   * its checked accesses and its heap go through KASAN and KFENCE, and its
   * bugs come out as kernel reports with its own function names.
   */
  runGuest(bytes: Uint8Array | ArrayBuffer, options: GuestOptions = {}): GuestResult {
    return runGuest(this, bytes, options);
  }

  /**
   * kmemleak's scan (`echo scan > /sys/kernel/debug/kmemleak`): every object
   * allocated after boot that no root and no reachable object points to.
   * Roots are the registered globals (8-byte words) plus `o.roots`; a guest's
   * run passes its data, bss and live stack (4-byte words).
   */
  kmemleakScan(o: { roots?: LeakRoot[]; guestPid?: number; onlyPid?: number; before?: Set<number>; pointers?: number[] } = {}): LeakReport[] {
    this.notBusy();
    if (typeof o !== "object" || o === null) throw new TypeError("kmemleakScan: expected { roots?, guestPid?, onlyPid?, before? }");
    const memBytes = this.u8view().length;
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
    roots.push(...this.globals.roots());
    const r = kmemleakScan(this, { roots, guestPid: o.guestPid, onlyPid: o.onlyPid, before: o.before, pointers });
    this.leaks = r.leaks;
    if (r.leaks.length) this.printk(`kmemleak: ${r.leaks.length} new suspected memory leaks (see /sys/kernel/debug/kmemleak)`);
    return r.leaks;
  }
  /** /sys/kernel/debug/kmemleak: the reports of the last scan. */
  kmemleakText(): string {
    return this.leaks.map((l) => l.text + "\n").join("");
  }
  private leaks: LeakReport[] = [];

  /** The engine's invariants (buddy, slabs, frame accounting, direct map, TLB); [] when all hold. */
  selfCheck(): string[] {
    return selfCheckProblems(this.exports.engine_self_check());
  }

  /** Run fn as a kernel call with an explicit current stack (the guest runner). */
  callWithStack<T>(handle: number, fn: () => T): T {
    this.notBusy();
    if (this.panicMessage) throw new EnginePanicError(this.panicMessage);
    this.tracer.reset();
    this.exports.set_current_stack(handle);
    try {
      return fn();
    } finally {
      this.exports.set_current_stack(0);
      this.drain();
    }
  }

  // ── fuzz (host/fuzz/) ─────────────────────────────────────────────────────
  /**
   * Drain the report ring without formatting: `keep` sees each raw record (and
   * its linear address, for fields a subsystem stamps) and returns true to
   * publish it as a Report with its kernel text. Panic records are always
   * published. Fuzz workloads raise reports by the million; only the first of
   * each bug needs its text.
   */
  drainRecords(keep: (r: RawRecord, at: number) => boolean): void {
    this.pipeline.drain(keep);
  }
}

export { BUG_NAMES, formatFrame };
export { globalRedzone } from "./globals.js";
