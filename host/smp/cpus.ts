// CPUs as threads (issue 14): CPU 0 is the calling thread's instance of the
// core; CPUs 1..N-1 are worker threads, each instantiating the same module
// over the same shared memory and copying the boot state CPU 0 published
// (assembly/smp.ts). Kernel code on any CPU runs under the kernel lock: an
// export called here is bracketed by kernel_enter/kernel_leave on its CPU,
// except the loops that enter the kernel per step themselves
// (SELF_LOCKING_EXPORTS) and the lock primitives.
//
// Two ways to run work on another CPU:
// - callSync: one export, now, blocking the calling thread until it returns
//   (Atomics.wait on a shared word, the reply taken with receiveMessageOnPort).
//   The core's calls back into the host (slab constructors) come back to this
//   thread while it waits and run here; what they call runs on that CPU again.
//   Node only: a browser's main thread may not block.
// - run / all: asynchronous jobs; `all` starts one job per CPU at the same
//   moment and waits for all of them. Jobs run without the host: a job that
//   reaches a host callback fails with a one-line error.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from "node:worker_threads";

/** nr_cpus for CPU threads: 1..8 (issue 14). */
export const MAX_CPU_THREADS = 8;

/** Loops that enter and leave the kernel per step (so CPUs running them interleave); called without the bracket. */
export const SELF_LOCKING_EXPORTS: readonly string[] = ["test_vmalloc_run", "smp_churn_run", "fuzz_run"];
/** Exports that are not kernel code: the lock and thread primitives. */
export const UNLOCKED_PREFIXES: readonly string[] = ["smp_", "kernel_"];
/** Whether an export is called without the kernel lock bracket. */
export function runsUnbracketed(fn: string): boolean {
  return SELF_LOCKING_EXPORTS.includes(fn) || UNLOCKED_PREFIXES.some((p) => fn.startsWith(p));
}

import type { CpuArg as Arg, CpuJob, HostImport, CpuRunner } from "./types.js";
export type { CpuJob, HostImport } from "./types.js";

// ctl words, per CPU thread: [0] messages to the worker, [1] messages to the
// calling thread, [2] 1 = ready, -1 = failed to start
const WORKER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const { mod, memory, cpu, barrier, ctl: ctlBuf, port, selfLocking, unlockedPrefixes } = workerData;
const ctl = new Int32Array(ctlBuf);
const unbracketed = (fn) => selfLocking.includes(fn) || unlockedPrefixes.some((p) => fn.startsWith(p));
let inJob = false;
let nesting = 0;
function toMain(m) { port.postMessage(m); Atomics.add(ctl, 1, 1); Atomics.notify(ctl, 1); }
function hostImport(name, args) {
  if (inJob) throw new Error("a job on CPU " + cpu + " reached the host's " + name + " (jobs run without the host)");
  toMain({ t: "import", name, args });
  for (;;) {
    const seen = Atomics.load(ctl, 0);
    const r = receiveMessageOnPort(port);
    if (!r) { Atomics.wait(ctl, 0, seen, 100); continue; }
    const m = r.message;
    if (m.t === "importRet") { if (m.error !== undefined) throw new Error(m.error); return m.value; }
    if (m.t === "call") serve(m);
  }
}
const known = new Set(["sf_wall_ns", "sf_ctor", "sf_guest_reports", "abort"]);
const env = {
  memory,
  abort: (msg, file, line, col) => { throw new Error("shadowfence core aborted on CPU " + cpu + " at line " + line + ":" + col); },
  sf_wall_ns: () => Number(process.hrtime.bigint()),
  sf_ctor: (ctor, va) => { hostImport("sf_ctor", [ctor, va]); },
  sf_guest_reports: () => { hostImport("sf_guest_reports", []); },
};
let x;
try {
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.kind === "function" && !known.has(imp.name)) throw new Error("the core imports " + imp.name + ", which CPU threads do not provide");
  }
  x = new WebAssembly.Instance(mod, { env }).exports;
  if (x.smp_secondary_start(cpu) !== 0) throw new Error("smp_secondary_start failed: CPU 0 published no boot state");
} catch (e) {
  port.postMessage({ t: "startErr", error: String((e && e.message) || e) });
  Atomics.store(ctl, 2, -1); Atomics.notify(ctl, 2);
  throw e;
}
function invoke(fn, args) {
  if (unbracketed(fn)) {
    try { return x[fn](...args); } finally { if (nesting === 1) x.kernel_leave(0); }
  }
  const d = x.kernel_enter();
  try { return x[fn](...args); } finally { x.kernel_leave(d); }
}
function serve(m) {
  nesting++;
  try { toMain({ t: "ret", value: invoke(m.fn, m.args) }); }
  catch (e) { toMain({ t: "err", error: String((e && e.message) || e) }); }
  finally { nesting--; }
}
port.on("message", (m) => { if (m.t === "call") serve(m); });
const gate = new Int32Array(barrier);
parentPort.on("message", ({ id, fn, args, gen }) => {
  inJob = true; nesting++;
  try {
    if (gen) { Atomics.add(gate, 1, 1); while (Atomics.load(gate, 0) < gen) {} }
    parentPort.postMessage({ id, ok: true, value: invoke(fn, args) });
  } catch (e) {
    parentPort.postMessage({ id, ok: false, error: String((e && e.message) || e) });
  } finally { inJob = false; nesting--; }
});
Atomics.store(ctl, 2, 1); Atomics.notify(ctl, 2);
parentPort.postMessage({ ready: true });
`;

interface Pending { resolve: (v: Arg | undefined) => void; reject: (e: Error) => void }
interface Cpu { worker: Worker; port: MessagePort; ctl: Int32Array; jobs: number }
type SyncMessage = { t: "ret"; value: Arg | undefined } | { t: "err"; error: string } | { t: "import"; name: string; args: Arg[] } | { t: "startErr"; error: string };

const START_TIMEOUT_MS = 60_000;

function checkCount(nrCpus: number): void {
  if (typeof nrCpus !== "number" || !Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPU_THREADS) {
    throw new RangeError(`invalid value ${String(nrCpus)} for nr_cpus: expected an integer from 1 to ${MAX_CPU_THREADS}`);
  }
}
function checkShared(memory: WebAssembly.Memory): void {
  if (typeof SharedArrayBuffer !== "function" || !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new Error("CPU threads need the shared-memory core; this engine runs on ordinary memory (the plain build): one CPU");
  }
}

export class CpuThreads implements CpuRunner {
  private readonly cpus: Cpu[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private readonly exportNames: Set<string>;
  private nextId = 1;
  private generation = 0;
  private stopped = false;
  /** The host functions the core calls on another CPU while this thread waits for it (set by the engine). */
  hostImport: HostImport = (cpu, name) => { throw new Error(`CPU ${cpu} called the host's ${name}, which nothing serves`); };

  /**
   * Start `nrCpus` CPUs over `memory` (the engine's, shared): `cpu0` is the
   * calling thread's instance, the others are worker threads made ready here.
   */
  static async start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuThreads> {
    checkCount(nrCpus);
    checkShared(memory);
    const t = new CpuThreads(mod, cpu0);
    (cpu0.smp_start as () => void)();
    try {
      await Promise.all(Array.from({ length: nrCpus - 1 }, (_, i) => t.spawn(mod, memory, i + 1)));
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  /** start(), blocking this thread until every CPU is up (Node). */
  static startSync(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): CpuThreads {
    checkCount(nrCpus);
    checkShared(memory);
    const t = new CpuThreads(mod, cpu0);
    (cpu0.smp_start as () => void)();
    for (let cpu = 1; cpu < nrCpus; cpu++) {
      void t.spawn(mod, memory, cpu).catch(() => {});
      const c = t.cpus[cpu - 1];
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Atomics.load(c.ctl, 2) === 0 && Date.now() < deadline) Atomics.wait(c.ctl, 2, 0, 100);
      if (Atomics.load(c.ctl, 2) !== 1) {
        const m = receiveMessageOnPort(c.port)?.message as SyncMessage | undefined;
        void t.stop();
        throw new Error(`CPU ${cpu}: ${m && m.t === "startErr" ? m.error : "its thread did not start"}`);
      }
    }
    return t;
  }

  private constructor(mod: WebAssembly.Module, private readonly cpu0: WebAssembly.Exports) {
    this.exportNames = new Set(WebAssembly.Module.exports(mod).filter((e) => e.kind === "function").map((e) => e.name));
  }

  get nrCpus(): number { return this.cpus.length + 1; }

  private spawn(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu: number): Promise<void> {
    const channel = new MessageChannel();
    const ctl = new Int32Array(new SharedArrayBuffer(12));
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { mod, memory, cpu, barrier: this.gate.buffer, ctl: ctl.buffer, port: channel.port2, selfLocking: SELF_LOCKING_EXPORTS, unlockedPrefixes: UNLOCKED_PREFIXES },
      transferList: [channel.port2],
    });
    const c: Cpu = { worker: w, port: channel.port1, ctl, jobs: 0 };
    channel.port1.on("message", () => {});    // never delivered (replies are taken synchronously); a listener makes unref stick
    channel.port1.unref();
    this.cpus[cpu - 1] = c;
    // a job's host callbacks are refused in the worker; anything else on the port arrives while a sync call waits
    return new Promise((ready, fail) => {
      w.on("message", (m: { ready?: true; id?: number; ok?: boolean; value?: Arg; error?: string }) => {
        // once up, an idle CPU does not keep the process alive (unref after the listeners: adding one re-refs)
        // (startSync's CPUs see this message later, maybe with a job already posted: that job keeps it referenced)
        if (m.ready) { if (c.jobs === 0) w.unref(); ready(); return; }
        const p = this.pending.get(m.id!);
        if (!p) return;
        this.pending.delete(m.id!);
        if (--c.jobs === 0) w.unref();
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`CPU ${cpu}: ${m.error}`));
      });
      w.on("error", (e) => { fail(new Error(`CPU ${cpu}: ${e.message}`)); this.failAll(`CPU ${cpu}: ${e.message}`); });
      w.on("exit", () => { if (!this.stopped) this.failAll(`CPU ${cpu}: its thread exited`); });
    });
  }

  private failAll(why: string): void {
    for (const [id, p] of this.pending) { this.pending.delete(id); p.reject(new Error(why)); }
    for (const c of this.cpus) if (c) c.jobs = 0;
  }

  /** A job's arguments, checked; `alone`: the CPU must have no job queued (sync calls, gangs). */
  private check(job: CpuJob, alone: boolean): Arg[] {
    if (this.stopped) throw new Error("the CPU threads were stopped");
    if (typeof job.cpu !== "number" || !Number.isInteger(job.cpu) || job.cpu < 0 || job.cpu >= this.nrCpus) {
      throw new RangeError(`CPU ${String(job.cpu)} does not exist: this machine has CPUs 0-${this.nrCpus - 1}`);
    }
    if (typeof job.fn !== "string" || !this.exportNames.has(job.fn)) throw new TypeError(`the core has no function ${JSON.stringify(job.fn)} to run on CPU ${job.cpu}`);
    const args = job.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "number" && typeof a !== "bigint")) {
      throw new TypeError(`${job.fn} on CPU ${job.cpu}: arguments must be numbers or bigints`);
    }
    if (alone && job.cpu !== 0 && this.cpus[job.cpu - 1].jobs > 0) throw new Error(`CPU ${job.cpu} is busy running a job`);
    return args;
  }

  /** CPU 0's export, bracketed by the kernel lock unless it locks itself. */
  private runOnCpu0(fn: string, args: Arg[]): Arg | undefined {
    const x = this.cpu0 as Record<string, (...a: Arg[]) => Arg | undefined>;
    if (runsUnbracketed(fn)) {
      try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(0); }
    }
    const d = (x.kernel_enter as () => number)();
    try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(d); }
  }

  private post(cpu: number, fn: string, args: Arg[], gen: number): Promise<Arg | undefined> {
    const id = this.nextId++;
    if (this.cpus[cpu - 1].jobs++ === 0) this.cpus[cpu - 1].worker.ref();   // a job keeps the process alive until it ends
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.cpus[cpu - 1].worker.postMessage({ id, fn, args, gen });
    });
  }

  /**
   * Run one export on CPU `cpu` (1..N-1) now and return its result, blocking
   * this thread (Node). Host callbacks the core makes meanwhile run here, through
   * `hostImport`.
   */
  callSync(cpu: number, fn: string, args: Arg[] = []): Arg | undefined {
    const a = this.check({ cpu, fn, args }, true);
    if (cpu === 0) return this.runOnCpu0(fn, a);
    const c = this.cpus[cpu - 1];
    c.port.postMessage({ t: "call", fn, args: a });
    Atomics.add(c.ctl, 0, 1);
    Atomics.notify(c.ctl, 0);
    for (;;) {
      const seen = Atomics.load(c.ctl, 1);
      const r = receiveMessageOnPort(c.port);
      if (!r) {
        if (this.stopped) throw new Error("the CPU threads were stopped");
        Atomics.wait(c.ctl, 1, seen, 100);
        continue;
      }
      const m = r.message as SyncMessage;
      if (m.t === "ret") return m.value;
      if (m.t === "err") throw new Error(`CPU ${cpu}: ${m.error}`);
      if (m.t === "import") {
        let value: unknown, error: string | undefined;
        try { value = this.hostImport(cpu, m.name, m.args); } catch (e) { error = String((e as Error)?.message ?? e); }
        c.port.postMessage({ t: "importRet", value, error });
        Atomics.add(c.ctl, 0, 1);
        Atomics.notify(c.ctl, 0);
      }
    }
  }

  /** Run one export on one CPU as a job (CPU 0: now, on this thread). */
  async run(job: CpuJob): Promise<Arg | undefined> {
    const args = this.check(job, false);
    if (job.cpu === 0) return this.runOnCpu0(job.fn, args);
    return this.post(job.cpu, job.fn, args, 0);
  }

  /**
   * Run jobs on their CPUs at the same time (one job per CPU) and wait for
   * all: the workers spin at a barrier until every one has arrived, then all
   * start; CPU 0's job runs on this thread once they are released.
   */
  async all(jobs: CpuJob[]): Promise<Array<Arg | undefined>> {
    if (!Array.isArray(jobs) || jobs.length === 0) throw new TypeError("all(): a non-empty array of { cpu, fn, args } jobs");
    const cpus = new Set(jobs.map((j) => j?.cpu));
    if (cpus.size !== jobs.length) throw new RangeError("all(): one job per CPU");
    const argsOf = jobs.map((j) => this.check(j, true));
    const gen = ++this.generation;
    Atomics.store(this.gate, 1, 0);
    const results: Array<Promise<Arg | undefined>> = jobs.map((j, i) => (j.cpu === 0 ? Promise.resolve(undefined) : this.post(j.cpu, j.fn, argsOf[i], gen)));
    const remote = jobs.filter((j) => j.cpu !== 0).length;
    let failed = false;
    for (const r of results) r.catch(() => { failed = true; });
    // wait (without blocking this thread's event loop) until every worker is at the barrier
    while (Atomics.load(this.gate, 1) < remote) {
      if (this.stopped || failed) {
        Atomics.store(this.gate, 0, gen);          // release the ones waiting
        return Promise.all(results);               // rejects with the failure
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    Atomics.store(this.gate, 0, gen);
    const i0 = jobs.findIndex((j) => j.cpu === 0);
    if (i0 >= 0) {
      try { results[i0] = Promise.resolve(this.runOnCpu0(jobs[i0].fn, argsOf[i0])); } catch (e) { results[i0] = Promise.reject(e); }
    }
    return Promise.all(results);
  }

  /** End the worker threads. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.failAll("the CPU threads were stopped");
    await Promise.all(this.cpus.map((c) => c.worker.terminate()));
  }
}
