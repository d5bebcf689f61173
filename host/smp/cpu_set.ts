// The engine's CPUs (issue 14): which CPU runs the engine's calls now, the
// views engine.cpu(n) hands out, and the jobs engine.onCpus runs on several
// CPUs at once. CPU 0 is the instance that booted, on the calling thread;
// CPUs 1..nr_cpus-1 are threads (host/smp/cpus.ts in Node) that start the
// first time one is used. Until then nothing changes for CPU 0: its calls go
// straight to the core. Once they run, every kernel call on any CPU holds the
// kernel lock (assembly/smp.ts).
import * as abi from "../../abi/abi.js";
import type { CoreExports } from "../exports.js";
import { runsUnbracketed, cpuArgText, type CpuJob, type CpuRunner } from "./types.js";
import type { Frame } from "../stackdepot.js";
import type { RawRecord } from "../report/record.js";

/** lib/test_vmalloc.c's tests by name: the ids test_vmalloc_run takes. */
export const TEST_VMALLOC_CASES: Record<string, number> = {
  fix_size_alloc_test: abi.TEST_VMALLOC_FIX_SIZE, full_fit_alloc_test: abi.TEST_VMALLOC_FULL_FIT,
  long_busy_list_alloc_test: abi.TEST_VMALLOC_LONG_BUSY_LIST, random_size_alloc_test: abi.TEST_VMALLOC_RANDOM_SIZE,
  fix_align_alloc_test: abi.TEST_VMALLOC_FIX_ALIGN, random_size_align_alloc_test: abi.TEST_VMALLOC_RANDOM_SIZE_ALIGN,
  align_shift_alloc_test: abi.TEST_VMALLOC_ALIGN_SHIFT, pcpu_alloc_test: abi.TEST_VMALLOC_PCPU,
};

// A job runs as a kernel thread, as lib/test_vmalloc.c's workers do: these frames are its stack in reports.
const KTHREAD_FRAMES: Frame[] = [
  { name: "kthread", offset: 0x289, size: 0x360 }, { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];
const JOB_FRAMES: Record<string, Frame[]> = {
  test_vmalloc_run: [{ name: "test_func", offset: 0x10a, size: 0x2b0, module: "test_vmalloc" }, ...KTHREAD_FRAMES],
  smp_churn_run: [{ name: "smp_churn_thread", offset: 0xd6, size: 0x3c0 }, ...KTHREAD_FRAMES],
  kmalloc_kfree_run: [{ name: "kmalloc_kfree_thread", offset: 0x4e, size: 0x120 }, ...KTHREAD_FRAMES],
  kmalloc_pass_run: [{ name: "kmalloc_pass_thread", offset: 0x7a, size: 0x1a0 }, ...KTHREAD_FRAMES],
  fuzz_rounds: [{ name: "fuzz_tape_run", offset: 0x1c4, size: 0x9a0 }, ...KTHREAD_FRAMES],
};

type Arg = number | bigint;

/** The host functions the core imports (instance.ts's CoreImports): CPU threads call back two of them. */
interface CpuHostImports {
  sf_ctor(ctor: number, va: bigint): void;
  sf_guest_reports(): void;
  sf_wall_ns(): number;
  sf_futex_wait(addr: number, expected: number, ms: number): void;
}
export interface CpuPlatform {
  start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuRunner>;
  startSync(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): CpuRunner;
}

/** In-kernel work for engine.onCpus: one per CPU. */
export type CpuJobSpec =
  /** One of lib/test_vmalloc.c's tests (abi TEST_VMALLOC_CASES), as its worker threads run them. */
  | { cpu: number; test_vmalloc: { test: string; loops?: number; nrPages?: number; seed?: number } }
  /**
   * Random kmalloc/kzalloc/krealloc/kfree/vmalloc/vfree/vmap/vunmap with the
   * objects written and read, on CPU-private slots; every `oobEvery`-th step
   * (when given) a planted slab-out-of-bounds read.
   */
  | { cpu: number; churn: { seed: number; ops: number; oobEvery?: number } }
  /**
   * `pairs` kmalloc(size) + kfree, entering the kernel per pair (bench/smp.ts's throughput on 1 and 2 CPUs).
   * With `pass`, each pair's kfree frees the object another CPU allocated (the CPUs pass their objects
   * through a table they share: one CPU's frees land in the other's slabs); a CPU empties the table when done.
   */
  | { cpu: number; kmalloc_kfree: { size: number; pairs: number; pass?: boolean } }
  /**
   * Rounds of a fuzz unit's segments (host/fuzz/smp.ts, after fuzz_rounds_begin and fuzz_rounds_arm on
   * CPU 0): at most `segments` of them, with the per-op log when `log`. Every CPU of the rounds needs one.
   */
  | { cpu: number; fuzz: { segments: number; log: boolean } };
/**
 * rc: test_vmalloc: 0 passed, -1 failed; churn: the bugs planted, -1 when an
 * object changed under its CPU, -3 when the machine panicked; kmalloc_kfree:
 * the allocations that failed.
 */
export interface CpuJobResult { cpu: number; rc: number }

/** The engine as the CPU set uses it. */
export interface CpuSetEngine {
  readonly options: { readonly nrCpus: number };
  readonly memory: WebAssembly.Memory;
  kernelCall<T>(capture: boolean, fn: () => T): T;
  drainRecords(keep: (r: RawRecord, at: number) => boolean): void;
  stackHandle(frames: Frame[]): number;
  callWithStack<T>(handle: number, fn: () => T): T;
  /** The current CPU's current task. */
  readonly current: { pid: number };
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer === "function" && memory.buffer instanceof SharedArrayBuffer;
}

// Called from wasm guests (hooks, heap shims) inside a guest's run, which holds the lock already.
const GUEST_CALLED = ["__asan_", "guest_"];

/** The kinds of work an onCpus job names. */
const JOB_KINDS = ["test_vmalloc", "churn", "kmalloc_kfree", "fuzz"] as const;

export class CpuSet {
  /** The CPU the engine's calls run on now. */
  active = 0;
  private cur: CoreExports;
  private threads: CpuRunner | undefined;
  private starting: Promise<void> | undefined;
  private readonly remote: CoreExports[] = [];
  private readonly views: unknown[] = [];

  constructor(private readonly engine: CpuSetEngine, private readonly mod: WebAssembly.Module, private readonly raw0: CoreExports,
              private readonly imports: CpuHostImports, private readonly platform: CpuPlatform) {
    this.cur = raw0;
  }

  get exports(): CoreExports { return this.cur; }
  get running(): boolean { return this.threads !== undefined; }
  /** The CPUs this engine can run: nr_cpus on shared memory, one on ordinary memory. */
  get maxCpus(): number { return isShared(this.engine.memory) ? this.engine.options.nrCpus : 1; }

  /** Take the current CPU's kernel lock (nothing to take until CPU threads run: -1); give the result to unlock. */
  lock(): number { return this.threads ? this.cur.kernel_enter() : -1; }
  unlock(depth: number): void { if (depth >= 0) this.cur.kernel_leave(depth); }

  // A guest's run holds the kernel lock on this thread: another CPU's thread would wait for it for ever.
  private notDuringGuest(n: number): void {
    if (this.guestCpu >= 0 && n !== this.guestCpu) throw new Error(`CPU ${n} cannot take calls while a guest runs on CPU ${this.guestCpu} (its run holds the kernel lock)`);
  }

  private checkCpu(what: string, n: unknown): number {
    const nr = this.engine.options.nrCpus;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n >= nr) {
      throw new RangeError(`${what}: CPU ${cpuArgText(n)} does not exist: this machine has ${nr === 1 ? "CPU 0 only (nr_cpus=1)" : `CPUs 0-${nr - 1} (nr_cpus=${nr})`}`);
    }
    return n;
  }

  private checkThreadable(): void {
    if (!isShared(this.engine.memory)) {
      throw new Error("this engine runs one CPU: CPU threads need shared memory (SharedArrayBuffer; in a browser, a cross-origin isolated page)");
    }
  }

  /** Start CPUs 1..N-1 (a no-op with one CPU, or when they run). */
  async init(): Promise<void> {
    if (this.threads || this.engine.options.nrCpus === 1) return;
    this.checkThreadable();
    this.starting ??= this.platform.start(this.mod, this.engine.memory, this.raw0 as unknown as WebAssembly.Exports, this.engine.options.nrCpus)
      .then((t) => this.adopt(t)).finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private initSync(): void {
    if (this.threads?.syncUnavailable) throw new Error(this.threads.syncUnavailable);
    if (this.threads) return;
    if (this.starting) throw new Error("the CPUs are starting: await engine.smpInit() first");
    this.checkThreadable();
    this.adopt(this.platform.startSync(this.mod, this.engine.memory, this.raw0 as unknown as WebAssembly.Exports, this.engine.options.nrCpus));
  }

  private adopt(t: CpuRunner): void {
    this.threads = t;
    t.hostImport = (cpu, name, args) => this.withCpu(cpu, () => {
      if (name === "sf_ctor") return this.imports.sf_ctor(args[0] as number, args[1] as bigint);
      if (name === "sf_guest_reports") return this.imports.sf_guest_reports();
      throw new Error(`no host function ${name}`);
    });
    for (let n = 1; n < t.nrCpus; n++) {
      const x: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(this.raw0)) x[name] = typeof v === "function" ? (...a: Arg[]) => t.callSync(n, name, a) : v;
      this.remote[n] = x as unknown as CoreExports;
      // the CPU's idle task until setTask says otherwise (a runner without sync calls starts it so)
      if (!t.syncUnavailable) this.withCpu(n, () => this.remote[n].set_current(0, n));
    }
    const wasCpu0 = this.cur === this.raw0;
    this.raw0Locked = bracketed(this.raw0);
    if (wasCpu0) this.cur = this.raw0Locked;
  }
  private raw0Locked: CoreExports | undefined;
  /** CPUs' instances on the calling thread (runGuestHere), bracketed. */
  private readonly here: Array<CoreExports | undefined> = [];
  /** The CPU a guest runs on now, -1 for none. */
  private guestCpu = -1;

  /** Run fn with the engine's calls going to CPU n. */
  withCpu<T>(n: number, fn: () => T): T {
    this.notDuringGuest(n);
    const prevCpu = this.active, prevX = this.cur;
    this.active = n;
    this.cur = n === 0 ? (this.raw0Locked ?? this.raw0) : n === this.guestCpu ? this.here[n]! : this.remote[n];
    try {
      return fn();
    } finally {
      this.active = prevCpu;
      this.cur = prevX;
    }
  }

  /**
   * Run a guest (fn) on the current CPU. Its hooks are wasm calls into the
   * core, which cannot cross to another thread, so the guest runs on the
   * calling thread: on CPU 0 directly; on CPU n > 0 over an instance of the
   * core started here as CPU n, as CPU n's thread starts its own (once per
   * engine). CPU n is the same CPU either way: its per-CPU state is in shared
   * memory, and its thread takes no work meanwhile (refused while it has a
   * job). Other CPUs take no calls during the run, which holds the kernel lock.
   */
  runGuestHere<T>(fn: () => T): T {
    const n = this.active;
    if (this.guestCpu >= 0) throw new Error(`runGuest: a guest is running on CPU ${this.guestCpu} (one guest at a time)`);
    if (n === 0) {
      this.guestCpu = 0;
      try { return fn(); } finally { this.guestCpu = -1; }
    }
    const t = this.threads!;                      // a CPU other than 0 is active only once the threads run
    if (t.isStopped()) throw new Error("the CPU threads were stopped");
    if (t.busyOn(n)) throw new Error(`runGuest: CPU ${n} is busy running a job`);
    const prevX = this.cur;
    this.cur = this.here[n] ??= this.startHere(n);
    // CPU n's current task, as its thread has it (the runner makes the guest's task current and restores this one)
    const cur = this.engine.current;
    this.cur.set_current(cur.pid, n);
    this.guestCpu = n;
    try {
      return fn();
    } finally {
      this.guestCpu = -1;
      this.cur = prevX;
    }
  }

  /** An instance of the core as CPU n on the calling thread (runGuestHere). */
  private startHere(n: number): CoreExports {
    const env = {
      memory: this.engine.memory,
      abort: (_msg: number, _file: number, line: number, col: number) => { throw new Error(`shadowfence core aborted on CPU ${n} at line ${line}:${col}`); },
      ...this.imports,
    };
    const x = new WebAssembly.Instance(this.mod, { env } as WebAssembly.Imports).exports as unknown as CoreExports;
    if (x.smp_secondary_start(n) !== 0) throw new Error(`CPU ${n} could not start on this thread: CPU 0 published no boot state`);
    return bracketed(x);
  }

  /** engine.cpu(n): the engine's methods, run on CPU n. */
  cpu<E extends object>(engine: E, n: number): E {
    const cpu = this.checkCpu("cpu()", n);
    this.notDuringGuest(cpu);
    if (cpu === 0) return engine;
    this.initSync();
    const cached = this.views[cpu] as E | undefined;
    if (cached) return cached;
    const set = this;
    const view = new Proxy(engine, {
      get(target, key) {
        const desc = descriptor(target, key);
        if (desc?.get) return set.withCpu(cpu, () => Reflect.get(target, key, target));
        const v = Reflect.get(target, key, target);
        if (typeof v !== "function") return v;
        if (key === "cpu") return (m: number) => (target as unknown as { cpu(m: number): unknown }).cpu(m);
        return (...a: unknown[]) => set.withCpu(cpu, () => (v as (...x: unknown[]) => unknown).apply(target, a));
      },
      set(target, key, value) { return set.withCpu(cpu, () => Reflect.set(target, key, value, target)); },
    });
    this.views[cpu] = view;
    return view;
  }

  private jobCall(j: CpuJobSpec, i: number): CpuJob {
    if (typeof j !== "object" || j === null) throw new TypeError(`onCpus: job ${i} is not an object`);
    const cpu = this.checkCpu(`onCpus: job ${i}`, (j as { cpu: unknown }).cpu);
    const int = (what: string, v: unknown, def: number | undefined, lo: number, hi: number): number => {
      const x = v === undefined ? def : v;
      if (typeof x !== "number" || !Number.isInteger(x) || x < lo || x > hi) throw new RangeError(`onCpus: job ${i} (CPU ${cpu}): ${what} must be an integer from ${lo} to ${hi}, got ${String(x)}`);
      return x;
    };
    const kinds = JOB_KINDS.filter((k) => k in j);
    if (kinds.length > 1) throw new TypeError(`onCpus: job ${i} (CPU ${cpu}) names ${kinds.join(" and ")}: one kind of work a job`);
    if ("test_vmalloc" in j && typeof j.test_vmalloc === "object" && j.test_vmalloc !== null) {
      const t = j.test_vmalloc;
      const id = typeof t.test === "string" && Object.hasOwn(TEST_VMALLOC_CASES, t.test) ? TEST_VMALLOC_CASES[t.test] : -1;
      if (id < 0) throw new RangeError(`onCpus: job ${i} (CPU ${cpu}): no test_vmalloc test ${JSON.stringify(t.test)}; the tests: ${Object.keys(TEST_VMALLOC_CASES).join(", ")}`);
      return { cpu, fn: "test_vmalloc_run", args: [id, int("loops", t.loops, 1, 1, 1e8), int("nrPages", t.nrPages, 1, 1, 1024), int("seed", t.seed, 1, 0, 2 ** 32 - 1)] };
    }
    if ("churn" in j && typeof j.churn === "object" && j.churn !== null) {
      const c = j.churn;
      return { cpu, fn: "smp_churn_run", args: [int("seed", c.seed, 1, 0, 2 ** 32 - 1), int("ops", c.ops, 1000, 1, 1e8), int("oobEvery", c.oobEvery, 0, 0, 1e8)] };
    }
    if ("kmalloc_kfree" in j && typeof j.kmalloc_kfree === "object" && j.kmalloc_kfree !== null) {
      const k = j.kmalloc_kfree;
      if (k.pass !== undefined && typeof k.pass !== "boolean") throw new TypeError(`onCpus: job ${i} (CPU ${cpu}): pass must be true or false, got ${String(k.pass)}`);
      return { cpu, fn: k.pass ? "kmalloc_pass_run" : "kmalloc_kfree_run", args: [int("pairs", k.pairs, undefined, 1, 1e9), int("size", k.size, undefined, 1, abi.KMALLOC_MAX_CACHE_SIZE)] };
    }
    if ("fuzz" in j && typeof j.fuzz === "object" && j.fuzz !== null) {
      const f = j.fuzz;
      return { cpu, fn: "fuzz_rounds", args: [int("segments", f.segments, undefined, 1, 2 ** 31 - 1), f.log === true ? 1 : 0] };
    }
    throw new TypeError(`onCpus: job ${i} (CPU ${cpu}) names no work: give { cpu, test_vmalloc: { test } }, { cpu, churn: { seed, ops, oobEvery? } }, { cpu, kmalloc_kfree: { size, pairs, pass? } } or { cpu, fuzz: { segments, log } }`);
  }

  /**
   * Run the jobs on their CPUs at the same time; the reports they raise are
   * published when all are done (`keep`: drained raw, as drainRecords does).
   */
  async onCpus(jobs: CpuJobSpec[], keep?: (r: RawRecord, at: number) => boolean): Promise<CpuJobResult[]> {
    if (!Array.isArray(jobs) || jobs.length === 0) throw new TypeError("onCpus: a non-empty array of jobs, one per CPU");
    if (this.guestCpu >= 0) throw new Error(`onCpus: a guest is running on CPU ${this.guestCpu}; its run holds the kernel lock`);
    const calls = jobs.map((j, i) => this.jobCall(j, i));
    if (new Set(calls.map((c) => c.cpu)).size !== calls.length) throw new RangeError("onCpus: one job per CPU");
    // the fuzz rounds' CPUs meet at barriers inside the core: a CPU left out would leave the others waiting
    if (calls.some((c) => c.fn === "fuzz_rounds")) {
      const n = this.raw0.fuzz_rounds_info(abi.FZI_CPUS);
      if (n < 2) throw new Error("onCpus: fuzz jobs run the rounds fuzz_rounds_begin set up (host/fuzz/smp.ts); none is set up");
      if (calls.length !== n || calls.some((c) => c.fn !== "fuzz_rounds" || c.cpu >= n)) {
        throw new RangeError(`onCpus: the fuzz rounds run on CPUs 0-${n - 1}: one fuzz job on each of them and no other job`);
      }
    }
    // CPU threads only for jobs on other CPUs: CPU 0 alone runs here, also on ordinary memory (one CPU)
    if (calls.some((c) => c.cpu !== 0)) await this.init();
    // each CPU's current stack while its job runs: what its reports' tracks show
    const stacks = calls.map((c) => this.engine.stackHandle(JOB_FRAMES[c.fn]));
    let rcs: Array<Arg | undefined>;
    if (!this.threads) {
      rcs = [this.engine.callWithStack(stacks[0], () => (this.raw0 as unknown as Record<string, (...a: Arg[]) => Arg>)[calls[0].fn](...calls[0].args!))];
    } else {
      if (this.threads.syncUnavailable) calls.forEach((c, i) => { c.stack = stacks[i]; });   // set with the job
      else calls.forEach((c, i) => this.withCpu(c.cpu, () => this.cur.set_current_stack(stacks[i])));
      try {
        rcs = await this.threads.all(calls);
      } finally {
        if (keep) {
          const lock = this.lock();
          try { this.engine.drainRecords(keep); } finally { this.unlock(lock); }
        }
        else this.engine.kernelCall(false, () => undefined);   // publish what the jobs reported
      }
    }
    return calls.map((c, i) => ({ cpu: c.cpu, rc: Number(rcs[i]) }));
  }

  async stop(): Promise<void> {
    const t = this.threads;
    if (!t) return;
    await t.stop();
  }
}

/** A core's exports, each bracketed by the kernel lock but for those called from guests or locking themselves. */
function bracketed(raw: CoreExports): CoreExports {
  const out: Record<string, unknown> = {};
  const enter = raw.kernel_enter, leave = raw.kernel_leave;
  for (const [name, v] of Object.entries(raw)) {
    if (typeof v !== "function" || GUEST_CALLED.some((p) => name.startsWith(p)) || runsUnbracketed(name)) {
      out[name] = v;
      continue;
    }
    const f = v as (...a: Arg[]) => unknown;
    out[name] = (...a: Arg[]) => {
      const d = enter();
      try { return f(...a); } finally { leave(d); }
    };
  }
  return out as unknown as CoreExports;
}

function descriptor(o: object, key: PropertyKey): PropertyDescriptor | undefined {
  for (let p: object | null = o; p; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d) return d;
  }
  return undefined;
}
