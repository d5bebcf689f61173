// What CPU threads have in common in Node (host/smp/cpus.ts, worker_threads)
// and in browsers (host/web/cpu_threads.ts, Web Workers): checking a job,
// running CPU 0's share on the calling thread under the kernel lock, queueing
// jobs on the other CPUs and starting a gang of them together at a barrier,
// and stopping once running jobs have ended. Subclasses only start their
// threads and carry messages (no platform imports here).
import { MAX_CPU_THREADS, runsUnbracketed, cpuArgText, type CpuArg as Arg, type CpuJob, type CpuRunner, type HostImport } from "./types.js";

interface Pending { resolve: (v: Arg | undefined) => void; reject: (e: Error) => void; cpu: number }

/** nr_cpus and memory a set of CPU threads can run on; `plainWhy`: where the ordinary memory comes from. */
export function checkCpuThreads(memory: WebAssembly.Memory, nrCpus: number, plainWhy: string): void {
  if (typeof nrCpus !== "number" || !Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPU_THREADS) {
    throw new RangeError(`invalid value ${String(nrCpus)} for nr_cpus: expected an integer from 1 to ${MAX_CPU_THREADS}`);
  }
  if (typeof SharedArrayBuffer !== "function" || !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new Error(`CPU threads need the shared-memory core; this engine runs on ordinary memory (${plainWhy}): one CPU`);
  }
}

/**
 * Until a worker arrives at the barrier (the count leaves `seen`), or a short
 * while: woken by the worker's notify where Atomics.waitAsync exists (a
 * timer's 1 ms or more per gang measured 1.3 ms a job), else the next task.
 */
function arrival(gate: Int32Array, seen: number): Promise<unknown> {
  const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: unknown } }).waitAsync;
  if (waitAsync) {
    const r = waitAsync(gate, 1, seen, 20);
    return r.async ? (r.value as Promise<unknown>) : Promise.resolve();
  }
  return new Promise((r) => setTimeout(r, 0));
}

export abstract class CpuGang implements CpuRunner {
  private readonly pending = new Map<number, Pending>();
  private readonly settled = new Set<Promise<unknown>>();
  private readonly jobs: number[] = [];
  /** The barrier of a gang: [0] the generation released, [1] the workers arrived. */
  protected readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private readonly exportNames: Set<string>;
  private nextId = 1;
  private generation = 0;
  protected stopped = false;
  abstract readonly nrCpus: number;
  hostImport: HostImport = (cpu, name) => { throw new Error(`CPU ${cpu} called the host's ${name}, which nothing serves`); };

  protected constructor(mod: WebAssembly.Module, protected readonly cpu0: WebAssembly.Exports) {
    this.exportNames = new Set(WebAssembly.Module.exports(mod).filter((e) => e.kind === "function").map((e) => e.name));
  }

  abstract callSync(cpu: number, fn: string, args?: Arg[]): Arg | undefined;
  /** Hand job `id` to CPU `job.cpu`'s thread (gen: its gang, 0 for none). */
  protected abstract send(id: number, job: CpuJob, args: Arg[], gen: number): void;
  /** End the threads. */
  protected abstract terminate(): Promise<void>;
  /** CPU `cpu`'s queued jobs went from 0 to some (busy) or back to 0. */
  protected busyChanged(_cpu: number, _busy: boolean): void {}

  /** Jobs queued on CPU `cpu` (1..N-1). */
  protected jobsOn(cpu: number): number { return this.jobs[cpu - 1] ?? 0; }
  busyOn(cpu: number): boolean { return this.jobsOn(cpu) > 0; }
  isStopped(): boolean { return this.stopped; }

  /** A job's arguments, checked; `alone`: the CPU must have no job queued (sync calls, gangs). */
  protected check(job: CpuJob, alone: boolean): Arg[] {
    if (this.stopped) throw new Error("the CPU threads were stopped");
    if (typeof job?.cpu !== "number" || !Number.isInteger(job.cpu) || job.cpu < 0 || job.cpu >= this.nrCpus) {
      throw new RangeError(`CPU ${cpuArgText(job?.cpu)} does not exist: this machine has CPUs 0-${this.nrCpus - 1}`);
    }
    if (typeof job.fn !== "string" || !this.exportNames.has(job.fn)) throw new TypeError(`the core has no function ${JSON.stringify(job.fn)} to run on CPU ${job.cpu}`);
    const args = job.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "number" && typeof a !== "bigint")) {
      throw new TypeError(`${job.fn} on CPU ${job.cpu}: arguments must be numbers or bigints`);
    }
    if (job.stack !== undefined && (typeof job.stack !== "number" || !Number.isInteger(job.stack))) throw new TypeError(`${job.fn} on CPU ${job.cpu}: stack must be a depot handle`);
    if (alone && job.cpu !== 0 && this.jobsOn(job.cpu) > 0) throw new Error(`CPU ${job.cpu} is busy running a job`);
    return args;
  }

  /** CPU 0's export, bracketed by the kernel lock unless it locks itself. */
  protected runOnCpu0(fn: string, args: Arg[]): Arg | undefined {
    const x = this.cpu0 as Record<string, (...a: Arg[]) => Arg | undefined>;
    if (runsUnbracketed(fn)) {
      try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(0); }
    }
    const d = (x.kernel_enter as () => number)();
    try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(d); }
  }

  private post(job: CpuJob, args: Arg[], gen: number): Promise<Arg | undefined> {
    const id = this.nextId++, cpu = job.cpu;
    if ((this.jobs[cpu - 1] = this.jobsOn(cpu) + 1) === 1) this.busyChanged(cpu, true);
    const p = new Promise<Arg | undefined>((resolve, reject) => { this.pending.set(id, { resolve, reject, cpu }); });
    const settled: Promise<unknown> = p.then(() => undefined, () => undefined).finally(() => this.settled.delete(settled));
    this.settled.add(settled);
    this.send(id, job, args, gen);
    return p;
  }

  /** A thread answered job `id`. */
  protected finish(id: number, ok: boolean, value: Arg | undefined, error?: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if ((this.jobs[p.cpu - 1] = this.jobsOn(p.cpu) - 1) === 0) this.busyChanged(p.cpu, false);
    if (ok) p.resolve(value);
    else p.reject(new Error(`CPU ${p.cpu}: ${error}`));
  }

  /** Every job waiting fails with `why` (a thread died, or the threads were stopped). */
  protected failAll(why: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if ((this.jobs[p.cpu - 1] = this.jobsOn(p.cpu) - 1) === 0) this.busyChanged(p.cpu, false);
      p.reject(new Error(why));
    }
  }

  /** Run one export on one CPU as a job (CPU 0: now, on this thread). */
  async run(job: CpuJob): Promise<Arg | undefined> {
    const args = this.check(job, false);
    if (job.cpu === 0) return this.runOnCpu0(job.fn, args);
    return this.post(job, args, 0);
  }

  /**
   * Run jobs on their CPUs at the same time (one job per CPU) and wait for
   * all: the workers spin at a barrier until every one has arrived, then all
   * start; CPU 0's job runs on this thread once they are released.
   */
  async all(jobs: CpuJob[]): Promise<Array<Arg | undefined>> {
    if (!Array.isArray(jobs) || jobs.length === 0) throw new TypeError("all(): a non-empty array of { cpu, fn, args } jobs");
    if (new Set(jobs.map((j) => j?.cpu)).size !== jobs.length) throw new RangeError("all(): one job per CPU");
    const argsOf = jobs.map((j) => this.check(j, true));
    const gen = ++this.generation;
    Atomics.store(this.gate, 1, 0);
    const results: Array<Promise<Arg | undefined>> = jobs.map((j, i) => (j.cpu === 0 ? Promise.resolve(undefined) : this.post(j, argsOf[i], gen)));
    const remote = jobs.filter((j) => j.cpu !== 0).length;
    let failed = false;
    for (const r of results) r.catch(() => { failed = true; });
    // wait (without blocking this thread) until every worker is at the barrier
    for (let seen; (seen = Atomics.load(this.gate, 1)) < remote;) {
      if (this.stopped || failed) {
        Atomics.store(this.gate, 0, gen);          // release the ones waiting
        return Promise.all(results);               // rejects with the failure
      }
      await arrival(this.gate, seen);
    }
    Atomics.store(this.gate, 0, gen);
    const i0 = jobs.findIndex((j) => j.cpu === 0);
    if (i0 >= 0) {
      try {
        if (jobs[i0].stack !== undefined) this.runOnCpu0("set_current_stack", [jobs[i0].stack!]);
        results[i0] = Promise.resolve(this.runOnCpu0(jobs[i0].fn, argsOf[i0]));
      } catch (e) {
        // the other CPUs' jobs must not wait for this one at an in-core barrier
        try { (this.cpu0.smp_jobs_abort as () => void)(); } catch { /* the job's own error is the one to report */ }
        results[i0] = Promise.reject(e);
      }
    }
    return Promise.all(results);
  }

  /**
   * End the threads: new calls are refused at once, running jobs end first (a
   * thread terminated inside a job could leave the kernel lock taken).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    while (this.settled.size > 0) await Promise.all(this.settled);
    this.failAll("the CPU threads were stopped");
    await this.terminate();
  }
}
