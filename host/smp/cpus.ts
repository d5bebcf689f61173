// CPUs as threads (issue 14, groundwork): CPU 0 is the calling thread's
// instance of the core; CPUs 1..N-1 are worker threads, each instantiating
// the same module over the same shared memory and copying the boot state CPU
// 0 published (assembly/smp.ts). This is the plumbing only: it
// runs the core's raw exports on a chosen CPU, or on several at once. Kernel
// calls on CPUs other than 0 wait for the machine state to move out of the
// instances' globals (docs/smp.md); today the lock primitives and in-wasm
// loops that touch only linear memory are what may run there.
import { Worker } from "node:worker_threads";

/** nr_cpus for CPU threads: 1..8 (issue 14). */
export const MAX_CPU_THREADS = 8;

type Arg = number | bigint;
// A CPU other than 0 starts with the boot-only state (assembly/smp.ts), but the
// machine state that changes after boot still lives in CPU 0's globals
// (docs/smp.md): a kernel function there would act on stale copies and
// corrupt the machine. Only the smp_* functions are safe there today.
const SECONDARY_SAFE_PREFIX = "smp_";
export interface CpuJob { cpu: number; fn: string; args?: Arg[] }

// A CPU's thread: instantiate the core over the memory, then run the calls
// it is sent. A call of a gang (CpuThreads.all) first waits at the barrier
// word, spinning, so that every CPU starts its work at the same moment.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { mod, memory, cpu, barrier } = workerData;
const env = { memory };
for (const imp of WebAssembly.Module.imports(mod)) {
  if (imp.kind === "function") env[imp.name] = () => { throw new Error("the core called the host's " + imp.name + ", which CPU threads do not provide yet"); };
}
const x = new WebAssembly.Instance(mod, { env }).exports;
if (x.smp_secondary_start(cpu) !== 0) throw new Error("smp_secondary_start failed: CPU 0 published no boot state");
const gate = new Int32Array(barrier);
parentPort.on("message", ({ id, fn, args, gen }) => {
  try {
    if (gen) { Atomics.add(gate, 1, 1); while (Atomics.load(gate, 0) < gen) {} }
    parentPort.postMessage({ id, ok: true, value: x[fn](...args) });
  } catch (e) {
    parentPort.postMessage({ id, ok: false, error: String((e && e.message) || e) });
  }
});
parentPort.postMessage({ ready: true });
`;

interface Pending { resolve: (v: Arg | undefined) => void; reject: (e: Error) => void }

export class CpuThreads {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private readonly exportNames: Set<string>;
  private nextId = 1;
  private generation = 0;
  private stopped = false;

  /**
   * Start `nrCpus` CPUs over `memory` (the engine's, shared): `cpu0` is the
   * calling thread's instance, the others are worker threads made ready here.
   */
  static async start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuThreads> {
    if (typeof nrCpus !== "number" || !Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPU_THREADS) {
      throw new RangeError(`invalid value ${String(nrCpus)} for nr_cpus: expected an integer from 1 to ${MAX_CPU_THREADS}`);
    }
    if (typeof SharedArrayBuffer !== "function" || !(memory.buffer instanceof SharedArrayBuffer)) {
      throw new Error("CPU threads need the shared-memory core; this engine runs on ordinary memory (the plain build): one CPU");
    }
    const t = new CpuThreads(mod, cpu0);
    (cpu0.smp_boot_state_save as () => void)();   // what the others copy into their globals as they start
    try {
      await Promise.all(Array.from({ length: nrCpus - 1 }, (_, i) => t.spawn(mod, memory, i + 1)));
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  private constructor(mod: WebAssembly.Module, private readonly cpu0: WebAssembly.Exports) {
    this.exportNames = new Set(WebAssembly.Module.exports(mod).filter((e) => e.kind === "function").map((e) => e.name));
  }

  get nrCpus(): number { return this.workers.length + 1; }

  private spawn(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu: number): Promise<void> {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { mod, memory, cpu, barrier: this.gate.buffer } });
    w.unref();                       // an engine left running does not keep the process alive
    this.workers[cpu - 1] = w;
    return new Promise((ready, fail) => {
      w.on("message", (m: { ready?: true; id?: number; ok?: boolean; value?: Arg; error?: string }) => {
        if (m.ready) { ready(); return; }
        const p = this.pending.get(m.id!);
        if (!p) return;
        this.pending.delete(m.id!);
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`CPU ${cpu}: ${m.error}`));
      });
      w.on("error", (e) => { fail(new Error(`CPU ${cpu}: ${e.message}`)); this.failAll(`CPU ${cpu}: ${e.message}`); });
      w.on("exit", () => { if (!this.stopped) this.failAll(`CPU ${cpu}: its thread exited`); });
    });
  }

  private failAll(why: string): void {
    for (const [id, p] of this.pending) { this.pending.delete(id); p.reject(new Error(why)); }
  }

  private check(job: CpuJob): Arg[] {
    if (this.stopped) throw new Error("the CPU threads were stopped");
    if (typeof job.cpu !== "number" || !Number.isInteger(job.cpu) || job.cpu < 0 || job.cpu >= this.nrCpus) {
      throw new RangeError(`CPU ${String(job.cpu)} does not exist: this machine has CPUs 0-${this.nrCpus - 1}`);
    }
    if (typeof job.fn !== "string" || !this.exportNames.has(job.fn)) throw new TypeError(`the core has no function ${JSON.stringify(job.fn)} to run on CPU ${job.cpu}`);
    if (job.cpu !== 0 && !job.fn.startsWith(SECONDARY_SAFE_PREFIX)) {
      throw new Error(`${job.fn} cannot run on CPU ${job.cpu} yet: the machine state it reads is still per instance (docs/smp.md); CPUs 1-${this.nrCpus - 1} run the ${SECONDARY_SAFE_PREFIX}* functions only`);
    }
    const args = job.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "number" && typeof a !== "bigint")) {
      throw new TypeError(`${job.fn} on CPU ${job.cpu}: arguments must be numbers or bigints`);
    }
    return args;
  }

  private post(cpu: number, fn: string, args: Arg[], gen: number): Promise<Arg | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[cpu - 1].postMessage({ id, fn, args, gen });
    });
  }

  /** Run one export on one CPU (CPU 0: now, on this thread). */
  async run(job: CpuJob): Promise<Arg | undefined> {
    const args = this.check(job);
    if (job.cpu === 0) return (this.cpu0[job.fn] as (...a: Arg[]) => Arg | undefined)(...args);
    return this.post(job.cpu, job.fn, args, 0);
  }

  /**
   * Run jobs on their CPUs at the same time (one job per CPU) and wait for
   * all: the workers spin at a barrier until every one has arrived, then all
   * start; CPU 0's job runs on this thread once they are released.
   */
  async all(jobs: CpuJob[]): Promise<Array<Arg | undefined>> {
    if (!Array.isArray(jobs) || jobs.length === 0) throw new TypeError("all(): a non-empty array of { cpu, fn, args } jobs");
    const argsOf = jobs.map((j) => this.check(j));
    const cpus = new Set(jobs.map((j) => j.cpu));
    if (cpus.size !== jobs.length) throw new RangeError("all(): one job per CPU");
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
    if (i0 >= 0) results[i0] = Promise.resolve((this.cpu0[jobs[i0].fn] as (...a: Arg[]) => Arg | undefined)(...argsOf[i0]));
    return Promise.all(results);
  }

  /** End the worker threads. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.failAll("the CPU threads were stopped");
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
