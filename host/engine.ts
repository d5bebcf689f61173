// The engine: one booted core instance and a facade over the host's subsystems.
// Kernel-named methods delegate in one line to the subsystem that owns them
// (slab.ts, vmalloc.ts, pages.ts, memaccess.ts, callbacks.ts, tasks.ts, ...),
// each taking a narrow interface of the engine. What stays here: a kernel
// call's frame (stack, report drain, panic and re-entrancy checks) and the log.
// The core's raw exports are called directly (README: "Loader and bindings").
import { resolveOptions, logBufLen, type EngineOptions, type ResolvedOptions } from "./config.js";
import { PrintkRing } from "./bounded.js";
import { loadCoreBytesSync, coreBuildShared, readSource, wallNs, startCpuThreads, startCpuThreadsSync } from "./platform.js";
import { futexWait } from "./smp/types.js";
import { CpuSet, type CpuJobSpec, type CpuJobResult } from "./smp/cpu_set.js";
import { noteCoreModule } from "./core_memory.js";
import { compileCore, bootCore, type CreateOptions } from "./instance.js";
import { FrameTable, formatFrame, type Frame } from "./stackdepot.js";
import { StackTracer } from "./stacktrace.js";
import type { RawRecord } from "./report/record.js";
import { ReportPipeline } from "./report/pipeline.js";
import { registerCoreKinds } from "./report/kinds.js";
import { BUG_NAMES } from "./report/kasan.js";
import type { OopsContext } from "./report/oops.js";
import { engineContext } from "./report/engine_context.js";
import { printkTime, hashPointer, type TaskInfo } from "./report/common.js";
import type { CoreExports } from "./exports.js";
import type { Report, RecordFormatter } from "./report/report.js";
import { EnginePanicError, engineBusy } from "./errors.js";
import { Kfence } from "./kfence.js";
import { stackFrameFor, type StackLocal, type StackFrameOf } from "./stack_frame.js";
import { runGuest, type GuestOptions, type GuestResult } from "./guest/runner.js";
import { selfCheckProblems } from "./selfcheck.js";
import { readLayout, type Layout } from "./layout.js";
import type { Gfp } from "./gfp.js";
import { Vmalloc } from "./vmalloc.js";
import { Slab, type SlabInfo, type KmemCache } from "./slab.js";
import { Pages } from "./pages.js";
import { MemAccess } from "./memaccess.js";
import { Callbacks } from "./callbacks.js";
import { Tasks } from "./tasks.js";
import { Stats, type EngineStats } from "./stats.js";
import { bootLines } from "./bootlog.js";
import { Globals } from "./globals.js";
import { Kmemleak, type LeakReport, type KmemleakScanOptions } from "./kmemleak.js";
import { addrArg } from "./args.js";

export type { CoreExports } from "./exports.js";
export type { EngineStats } from "./stats.js";
export type { ReportKind, Report, Formatted, RecordFormatter } from "./report/report.js";
export { EnginePanicError, EngineBusyError } from "./errors.js";
export { compileCore, type CreateOptions } from "./instance.js";
export { parseGfp, type Gfp } from "./gfp.js";
export { parseSlabFlags, type SlabInfo, type KmemCache } from "./slab.js";
export { globalRedzone } from "./globals.js";
export { BUG_NAMES, formatFrame };

const MAX_TICK_MS = 365 * 24 * 3600 * 1000;

export class Engine {
  readonly options: ResolvedOptions;
  readonly memory: WebAssembly.Memory;
  /** The virtual layout the core chose at boot. */
  readonly layout: Layout;
  readonly frames: FrameTable;
  /** KFENCE: pool, debugfs stats/objects, sample_interval. */
  readonly kfence: Kfence;
  /** Set by the guest runner while a guest runs: report listener, global names. */
  readonly guestHooks: { onReport?: (r: Report) => void; symbolize?: (a: bigint) => Frame | undefined } = {};

  // Subsystems (field initializers run before the constructor boots the core: they read exports lazily).
  private readonly tasks = new Tasks(this);
  private readonly slab = new Slab(this);
  private readonly vm = new Vmalloc(this);
  private readonly pages = new Pages(this);
  private readonly mem = new MemAccess(this);
  private readonly callbacks = new Callbacks(this);
  private readonly globals = new Globals(this);
  private readonly leaks = new Kmemleak(this, () => this.globals.roots());
  /** The kernel log: a ring of log_buf_len bytes. */
  private readonly log: PrintkRing;
  /** Ring draining, formatters by record kind, retained reports (shadowfence.max_reports). */
  private readonly pipeline: ReportPipeline = new ReportPipeline(this, {
    logLines: (ns, lines) => this.log.pushLines(ns, lines), accessFrames: (r) => this.tracer.accessFrames(r),
  });
  /** JS stack capture, synthetic frames above and below it, depot handles. */
  private readonly tracer: StackTracer;
  private readonly statsReader: Stats;
  private readonly bootHooks: Array<() => string[]> = [];
  private panicMessage: string | undefined;
  private u8: Uint8Array;
  private readonly wallClock: boolean;
  /** The CPUs: which one runs the calls now, their threads (host/smp/cpu_set.ts). */
  private readonly smp: CpuSet;

  /** Boot an engine (Node and browsers). */
  static async create(opts: EngineOptions = {}, create: CreateOptions = {}): Promise<Engine> {
    const options = resolveOptions(opts);
    return new Engine(options, create.module ?? await compileCore(create.build ?? "release"));
  }
  /** Boot synchronously (Node only). */
  static createSync(opts: EngineOptions = {}, create: CreateOptions = {}): Engine {
    const options = resolveOptions(opts);
    const build = create.build ?? "release";
    return new Engine(options, create.module ?? noteCoreModule(new WebAssembly.Module(loadCoreBytesSync(build) as BufferSource), coreBuildShared(build)));
  }

  private constructor(options: ResolvedOptions, mod: WebAssembly.Module) {
    this.options = options;
    this.log = new PrintkRing(logBufLen(options), (ns) => (options.printkTime ? printkTime(ns) : ""));
    this.frames = new FrameTable(readSource, options.arch === "arm64");
    this.tracer = new StackTracer(this.frames, options.arch === "arm64", this);
    const imports = {
      sf_ctor: (ctor: number, va: bigint) => this.callbacks.runCtor(this.slab.ctors.get(ctor), va),
      sf_wall_ns: () => wallNs(),
      sf_futex_wait: (addr: number, expected: number, ms: number) => futexWait(this.memory, addr, expected, ms),
      sf_guest_reports: () => this.drain(),
    };
    const core = bootCore(options, mod, imports);
    this.memory = core.memory;
    this.smp = new CpuSet(this, mod, core.exports, imports, { start: startCpuThreads, startSync: startCpuThreadsSync });
    this.wallClock = options.kfenceClock === "wall";
    this.u8 = new Uint8Array(this.memory.buffer);
    const self = this;
    this.statsReader = new Stats({ get exports() { return self.exports; }, memory: this.memory, options, reports: this.pipeline, log: this.log });
    registerCoreKinds((kind, fn) => this.pipeline.register(kind, fn), {
      get exports() { return self.exports; }, cacheName: (id) => this.cacheName(id), memInfo: (gfp, cpu) => this.statsReader.memInfo(gfp, cpu),
      callbackWarn: (r, ctx, frames) => this.callbacks.formatWarn(r, ctx, frames), panicked: (line) => { this.panicMessage = line; },
    });
    this.layout = readLayout(this.exports);
    this.slab.nameBootCaches();
    this.kfence = new Kfence(this);
    // the boot lines (host/bootlog.ts), at timestamp 0
    for (const line of bootLines(options, this.stats(), this.log.size, this.bootHooks, this.smp.maxCpus)) this.printk(line, 0n);
  }

  /** The core's exports of the CPU that runs the engine's calls now (CPU 0 unless inside cpu(n)). */
  get exports(): CoreExports { return this.smp.exports; }

  // ── CPUs (host/smp/cpu_set.ts) ─────────────────────────────────────────────
  /**
   * CPU n (0..nr_cpus-1): the engine's kernel methods, run on that CPU's
   * thread (Node: its thread starts on first use). engine.cpu(0) is the engine.
   */
  cpu(n: number): Engine { this.notBusy(); return this.smp.cpu(this, n); }
  /** Start CPUs 1..nr_cpus-1 on their threads (needed first in browsers; Node starts them on demand). */
  smpInit(): Promise<void> { return this.smp.init(); }
  /** Run in-kernel work on several CPUs at the same time and wait for all of it (host/smp/cpu_set.ts). */
  onCpus(jobs: CpuJobSpec[], keep?: (r: RawRecord, at: number) => boolean): Promise<CpuJobResult[]> { this.notBusy(); return this.smp.onCpus(jobs, keep); }
  /** Stop CPUs 1..N-1's threads (CPU 0 goes on alone). */
  stopCpus(): Promise<void> { return this.smp.stop(); }
  /** The CPU the engine's calls run on now. */
  get thisCpu(): number { return this.smp.active; }
  /** The CPUs this engine runs: nr_cpus on shared memory, 1 on the plain core (what dmesg says it brought up). */
  get nrCpus(): number { return this.smp.maxCpus; }

  // ── plumbing for subsystems ────────────────────────────────────────────────
  /** Append a line to the kernel log. */
  printk(text: string, ns?: bigint): void { this.log.push(ns ?? this.exports.clock_now(), text); }
  /** A subsystem adds lines to the boot log (call before boot completes: from its constructor). */
  addBootLines(hook: () => string[]): void { this.bootHooks.push(hook); }
  /** A subsystem formats the records of its kind (the report pipeline's registry). */
  registerFormatter(kind: number, fn: RecordFormatter): void { this.pipeline.register(kind, fn); }

  /**
   * Run one host-driven kernel call: set up its stack (captured now when
   * `capture`, for calls that record tracks; otherwise lazily if a report
   * needs it), run it, and publish what it reported. Subsystems use this too.
   */
  kernelCall<T>(capture: boolean, fn: () => T): T {
    this.enter();
    // on SMP the whole call, the report drain included, holds the kernel lock
    const lock = this.smp.lock();
    try {
      this.exports.set_current_stack(capture ? this.stackHandle(this.tracer.capture()) : 0);
      // kfence.clock=wall: the sampling timer sees the wall clock at each call
      if (this.wallClock) this.exports.kfence_wall_poll();
      const result = fn();
      this.drain();
      return result;
    } finally {
      this.smp.unlock(lock);
    }
  }
  /** Run fn as a kernel call with an explicit current stack (the guest runner). */
  callWithStack<T>(handle: number, fn: () => T): T {
    this.enter();
    const lock = this.smp.lock();
    try {
      this.exports.set_current_stack(handle);
      return fn();
    } finally {
      this.exports.set_current_stack(0);
      this.drain();
      this.smp.unlock(lock);
    }
  }
  private enter(): void {
    this.notBusy();
    if (this.panicMessage) throw new EnginePanicError(this.panicMessage);
    this.tracer.reset();
  }

  /**
   * Run `fn` as the kernel function `frames` (innermost first): stacks captured
   * inside show these frames above the caller, as they would for code inside
   * strlen, call_rcu, mempool_free, ...
   */
  withFrames<T>(frames: Frame[], fn: () => T): T { return this.tracer.withPrefix(frames, fn); }
  /** Run `fn` as another task with another stack context (RCU callbacks, workqueues). */
  asTask<T>(task: { pid: number; comm: string; cpu?: number }, suffix: Frame[], fn: () => T): T { return this.callbacks.asTask(task, suffix, fn); }
  /** Frames appended below the caller in captured host stacks (a runner's kernel context, down to the thread's entry). */
  get stackSuffix(): Frame[] { return this.tracer.suffix; }
  set stackSuffix(frames: Frame[]) { this.tracer.suffix = frames; }
  /** Function names that never show in captured stacks (helpers that are macros or inline in C). */
  get transparentFrames(): ReadonlySet<string> { return this.tracer.transparent; }
  set transparentFrames(names: ReadonlySet<string>) { this.tracer.transparent = names; }
  /** The depot handle of a host stack (frames innermost first). */
  stackHandle(frames: Frame[]): number { return this.tracer.handle(frames); }
  /** Frames of a depot stack, innermost first. */
  stackFrames(handle: number): Frame[] { return this.tracer.fetch(handle); }
  /** Register a code address (a stack frame's pc) with the frame it stands for. */
  registerCode(pc: bigint, frame: Frame): void { this.tracer.registerCode(pc, frame); }

  /** What the report formatters read of the engine (%pS: a guest's own symbols first, then the registered globals). */
  formatContext(): OopsContext {
    return engineContext(this, (a) => this.guestHooks.symbolize?.(a) ?? this.globals.symbolize(a), (pc) => this.tracer.codeFrame(pc));
  }

  /** Read the ring, format every new record, publish reports and dmesg text. */
  private drain(): void { this.pipeline.drain(() => true); }
  /**
   * Drain the report ring without formatting: `keep` sees each raw record (and
   * its linear address, for fields a subsystem stamps) and returns true to
   * publish it as a Report with its kernel text. Panic records are always
   * published. Fuzz workloads raise reports by the million; only the first of
   * each bug needs its text.
   */
  drainRecords(keep: (r: RawRecord, at: number) => boolean): void { this.pipeline.drain(keep); }

  /**
   * Engine calls from inside a report callback are refused (EngineBusyError,
   * named after the public method that was called): the ring is being drained
   * and the core may be inside a guest's hook.
   */
  private notBusy(): void { if (this.pipeline.busy) throw engineBusy(new Error().stack); }

  // ── tasks, clock ─────────────────────────────────────────────────────────
  /** The task with `pid` (pid 0: CPU `cpu`'s idle task, swapper/cpu). */
  task(pid: number, cpu = 0): TaskInfo { return this.tasks.task(pid, cpu); }
  /** Make (pid, comm) the current task on `cpu`; later calls run as it. */
  setTask(t: { pid: number; comm?: string; cpu?: number }): void { this.notBusy(); this.tasks.setTask(t); }
  get current(): TaskInfo & { cpu: number } { return this.tasks.current; }
  /**
   * A task with its own kernel stack (THREAD_SIZE; in vmalloc space with
   * vmap_stack=on, created by copy_process). Run as it with setTask({ pid }).
   */
  createTask(comm: string): { pid: number; comm: string; stack: bigint; stackSize: number } { return this.tasks.createTask(comm); }
  /** The task exits: its stack is freed (vfree'd with vmap_stack=on) and its pid forgotten. */
  exitTask(pid: number): void { this.notBusy(); this.tasks.exitTask(pid); }
  /** Advance the engine clock by ms (the KFENCE sampling timer runs on it). */
  tick(ms: number): void {
    // up to a year of engine time a call; fractions of a ms are fine (ns resolution)
    if (typeof ms !== "number" || !(ms >= 0 && ms <= MAX_TICK_MS)) throw new RangeError(`tick: ms must be a number from 0 to ${MAX_TICK_MS}, got ${typeof ms === "bigint" ? `${ms}n` : ms}`);
    this.kernelCall(false, () => this.exports.clock_advance(BigInt(Math.round(ms * 1e6))));
  }
  /** msleep(): the clock moves on (KFENCE's sampling timer may fire). */
  msleep(ms: number): void { this.tick(ms); }
  /** Engine clock in ns since boot. */
  get clockNs(): bigint { return this.exports.clock_now(); }

  // ── reports and text ─────────────────────────────────────────────────────
  /** The retained reports (the newest shadowfence.max_reports), in order. */
  reports(): Report[] { return this.pipeline.retained(); }
  /** Reports since the last takeReports() (those still retained; stats().reports.dropped counts the rest). */
  takeReports(): Report[] { return this.pipeline.take(); }
  /** The kernel log, like dmesg: the newest log_buf_len bytes (with printk timestamps unless printk.time=0). */
  dmesg(): string { return this.log.text(); }
  get panicked(): boolean { return this.panicMessage !== undefined; }
  /** Frames, memory, TLB, reports, printk, pages, slab, quarantine, depot, vmalloc, KFENCE counters (host/stats.ts). */
  stats(): EngineStats { return this.statsReader.read(); }
  /** The engine's invariants (buddy, slabs, frame accounting, direct map, TLB); [] when all hold. */
  selfCheck(): string[] { return selfCheckProblems(this.exports.engine_self_check()); }

  // ── memory (host/memaccess.ts) ───────────────────────────────────────────
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
  /** Raw bytes of simulated memory, read through the page tables without KASAN; undefined where unmapped. */
  peek(va: bigint, n: number): Uint8Array | undefined { return this.mem.peek(va, n); }
  /** Read a C string from simulated memory without checks (report helpers). */
  readCString(va: bigint): string | undefined { return this.mem.readCString(va); }
  /** printk's %p: a keyed hash of the pointer (kasan.seed), the raw value with no_hash_pointers. */
  hashPointer(va: bigint): string { return hashPointer(va, this.options.kasanSeed, this.options.noHashPointers); }
  /** A view of the engine's memory (re-created if the memory grew). */
  u8view(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) this.u8 = new Uint8Array(this.memory.buffer);
    return this.u8;
  }

  // ── pages (host/pages.ts) ────────────────────────────────────────────────
  /** alloc_pages(gfp, order): the direct-map address of 2^order frames, 0n when out of memory. */
  alloc_pages(order: number, gfp: Gfp = "GFP_KERNEL"): bigint { return this.pages.alloc_pages(order, gfp); }
  /** __free_pages(addr, order). A bad page prints "BUG: Bad page state". */
  __free_pages(addr: bigint | number, order: number): void { this.pages.__free_pages(addr, order); }
  /** Re-arm fail_page_alloc at run time (its debugfs knobs): "<interval>,<probability>,<space>,<times>". */
  failPageAlloc(spec: string): void { this.notBusy(); this.pages.failPageAlloc(spec); }

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
  shadowByte(addr: bigint | number): number { return this.exports.kasan_shadow_byte(addrArg("shadowByte", "addr", addr)); }
  /** Give the quarantine back to the slabs (tests). */
  quarantineDrain(): void { this.kernelCall(false, () => this.exports.kasan_quarantine_drain()); }

  // ── RCU callbacks and workqueues (host/callbacks.ts) ─────────────────────
  /** call_rcu(head, func): `func` runs after the next grace period (rcu_barrier). */
  call_rcu(head: bigint | number, func: () => void): void { this.callbacks.call_rcu(head, func); }
  /** End the current RCU grace period: callbacks, then the delayed frees of SLAB_TYPESAFE_BY_RCU caches. */
  rcu_barrier(): void { this.notBusy(); this.callbacks.rcu_barrier(); }
  synchronize_rcu(): void { this.rcu_barrier(); }
  /** queue_work(wq, work): `func` runs on a kworker at flush_workqueue/destroy_workqueue. */
  queue_work(work: bigint | number, func: () => void): void { this.callbacks.queue_work(work, func); }
  flush_workqueue(): void { this.notBusy(); this.callbacks.flush_workqueue(); }
  destroy_workqueue(): void { this.flush_workqueue(); }

  // ── globals, stack frames, kmemleak ──────────────────────────────────────
  /**
   * A global of `size` bytes in the kernel image (or a module), with the
   * compiler's right redzone, poisoned as __asan_register_globals does.
   */
  registerGlobal(name: string, size: number, opts: { module?: string } = {}): bigint { this.notBusy(); return this.globals.register(name, size, opts); }
  /** Push an instrumented function's frame on pid's stack, laid out and poisoned as clang's ASan does (host/stack_frame.ts). */
  stackFrame(pid: number, fn: string, locals: StackLocal[]): StackFrameOf { this.notBusy(); return stackFrameFor(this, pid, fn, locals); }
  /**
   * kmemleak's scan (`echo scan > /sys/kernel/debug/kmemleak`): every object
   * allocated after boot that no root and no reachable object points to.
   * Roots are the registered globals (8-byte words) plus `o.roots`; a guest's
   * run passes its data, bss and live stack (4-byte words).
   */
  kmemleakScan(o: KmemleakScanOptions = {}): LeakReport[] { this.notBusy(); return this.leaks.scan(o); }
  /** /sys/kernel/debug/kmemleak: the reports of the last scan. */
  kmemleakText(): string { return this.leaks.text(); }

  // ── guests (host/guest/) ──────────────────────────────────────────────────
  /**
   * Run a WASI guest program (C built with `shadowfence cc`) on this engine:
   * its checked accesses and its heap go through KASAN and KFENCE, and its
   * bugs come out as kernel reports with its own function names.
   */
  runGuest(bytes: Uint8Array | ArrayBuffer, options: GuestOptions = {}): GuestResult { this.notBusy(); return this.smp.runGuestHere(() => runGuest(this, bytes, options)); }

  // ── vmalloc, KASAN_VMALLOC, percpu, VMAP_STACK (host/vmalloc.ts) ─────────
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
}
