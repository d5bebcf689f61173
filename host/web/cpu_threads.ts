// CPU threads in a browser (issue 14): CPUs 1..N-1 are Web Workers
// (host/web/cpu_worker.ts), each instantiating the core over the engine's
// shared memory, as host/smp/cpus.ts's worker threads do in Node. What differs:
// - no synchronous calls (callSync, so engine.cpu(n)): a browser's main thread
//   may not block, and a worker has no receiveMessageOnPort to take a reply
//   while it waits; jobs (all, so engine.onCpus) run;
// - on a thread that may not Atomics.wait (the main thread) CPU 0 spins for
//   the kernel lock instead of sleeping on it (smp_set_may_wait(0)).
import { MAX_CPU_THREADS, runsUnbracketed, type CpuArg as Arg, type CpuJob, type CpuRunner, type HostImport } from "../smp/types.js";

/** Whether this thread may block in Atomics.wait (a worker may, a browser's main thread may not). */
export function atomicsWaitAllowed(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Why engine.cpu(n) cannot work here, in one line, with what does. */
export function syncUnavailableReason(): string {
  const why = atomicsWaitAllowed()
    ? "the browser bundle's CPU threads run jobs only, not synchronous calls"
    : "a browser's main thread cannot block while another CPU runs a call";
  return `engine.cpu(n): ${why}; run work on several CPUs with await engine.onCpus([...])`;
}

/** What a CPU worker posts back. */
export type FromCpu = { t: "ready" } | { t: "startErr"; error: string } | { t: "done"; id: number; ok: true; value: Arg | undefined } | { t: "done"; id: number; ok: false; error: string };
/** What the main thread posts to a CPU worker. */
export type ToCpu = { t: "start"; mod: WebAssembly.Module; memory: WebAssembly.Memory; cpu: number; barrier: SharedArrayBuffer }
  | { t: "job"; id: number; fn: string; args: Arg[]; gen: number; stack?: number };

interface Pending { resolve: (v: Arg | undefined) => void; reject: (e: Error) => void }

export class WebCpuThreads implements CpuRunner {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly busy: number[] = [];
  private readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private readonly exportNames: Set<string>;
  private nextId = 1;
  private generation = 0;
  private stopped = false;
  readonly syncUnavailable = syncUnavailableReason();
  /** Unused: jobs run without the host (a job that reaches a host callback fails in its worker). */
  hostImport: HostImport = () => undefined;

  /** Start `nrCpus` CPUs over `memory`: `cpu0` is this thread's instance, the others Web Workers running `workerUrl`. */
  static async start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number, workerUrl: string | URL): Promise<WebCpuThreads> {
    if (typeof nrCpus !== "number" || !Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > MAX_CPU_THREADS) {
      throw new RangeError(`invalid value ${String(nrCpus)} for nr_cpus: expected an integer from 1 to ${MAX_CPU_THREADS}`);
    }
    if (typeof SharedArrayBuffer !== "function" || !(memory.buffer instanceof SharedArrayBuffer)) {
      throw new Error("CPU threads need the shared-memory core; this engine runs on ordinary memory (a page that is not cross-origin isolated): one CPU");
    }
    const t = new WebCpuThreads(mod, cpu0);
    (cpu0.smp_set_may_wait as (on: number) => void)(atomicsWaitAllowed() ? 1 : 0);
    (cpu0.smp_start as () => void)();
    try {
      await Promise.all(Array.from({ length: nrCpus - 1 }, (_, i) => t.spawn(mod, memory, i + 1, workerUrl)));
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

  private spawn(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu: number, url: string | URL): Promise<void> {
    const w = new Worker(url, { type: "module", name: `CPU ${cpu}` });
    this.workers[cpu - 1] = w;
    this.busy[cpu - 1] = 0;
    return new Promise((ready, fail) => {
      w.onmessage = (e: MessageEvent<FromCpu>) => {
        const m = e.data;
        if (m.t === "ready") { ready(); return; }
        if (m.t === "startErr") { fail(new Error(`CPU ${cpu}: ${m.error}`)); return; }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.busy[cpu - 1]--;
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`CPU ${cpu}: ${m.error}`));
      };
      // a script that did not load gives a plain Event; an uncaught error an ErrorEvent
      w.onerror = (e: Event) => {
        const why = `CPU ${cpu}: ${(e as ErrorEvent).message || `its worker (${String(url)}) did not start`}`;
        fail(new Error(why));
        this.failAll(why);
      };
      w.onmessageerror = () => this.failAll(`CPU ${cpu}: a message could not be read`);
      w.postMessage({ t: "start", mod, memory, cpu, barrier: this.gate.buffer } satisfies ToCpu);
    });
  }

  private failAll(why: string): void {
    for (const [id, p] of this.pending) { this.pending.delete(id); p.reject(new Error(why)); }
    this.busy.fill(0);
  }

  callSync(_cpu: number, _fn: string, _args?: Arg[]): Arg | undefined {
    throw new Error(this.syncUnavailable);
  }

  /** CPU 0's export, bracketed by the kernel lock unless it locks itself (as host/smp/cpus.ts). */
  private runOnCpu0(fn: string, args: Arg[]): Arg | undefined {
    const x = this.cpu0 as Record<string, (...a: Arg[]) => Arg | undefined>;
    if (runsUnbracketed(fn)) {
      try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(0); }
    }
    const d = (x.kernel_enter as () => number)();
    try { return x[fn](...args); } finally { (x.kernel_leave as (d: number) => void)(d); }
  }

  private check(job: CpuJob): Arg[] {
    if (this.stopped) throw new Error("the CPU threads were stopped");
    if (typeof job?.cpu !== "number" || !Number.isInteger(job.cpu) || job.cpu < 0 || job.cpu >= this.nrCpus) {
      throw new RangeError(`CPU ${String(job?.cpu)} does not exist: this machine has CPUs 0-${this.nrCpus - 1}`);
    }
    if (typeof job.fn !== "string" || !this.exportNames.has(job.fn)) throw new TypeError(`the core has no function ${JSON.stringify(job.fn)} to run on CPU ${job.cpu}`);
    const args = job.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "number" && typeof a !== "bigint")) {
      throw new TypeError(`${job.fn} on CPU ${job.cpu}: arguments must be numbers or bigints`);
    }
    if (job.stack !== undefined && (typeof job.stack !== "number" || !Number.isInteger(job.stack))) throw new TypeError(`${job.fn} on CPU ${job.cpu}: stack must be a depot handle`);
    if (job.cpu !== 0 && this.busy[job.cpu - 1] > 0) throw new Error(`CPU ${job.cpu} is busy running a job`);
    return args;
  }

  /**
   * Run jobs on their CPUs at the same time (one job per CPU) and wait for
   * all: the workers spin at a barrier until every one has arrived, then all
   * start; CPU 0's job runs on this thread once they are released.
   */
  async all(jobs: CpuJob[]): Promise<Array<Arg | undefined>> {
    if (!Array.isArray(jobs) || jobs.length === 0) throw new TypeError("all(): a non-empty array of { cpu, fn, args } jobs");
    if (new Set(jobs.map((j) => j?.cpu)).size !== jobs.length) throw new RangeError("all(): one job per CPU");
    const argsOf = jobs.map((j) => this.check(j));
    const gen = ++this.generation;
    Atomics.store(this.gate, 1, 0);
    const results: Array<Promise<Arg | undefined>> = jobs.map((j, i) => (j.cpu === 0 ? Promise.resolve(undefined) : this.post(j, argsOf[i], gen)));
    const remote = jobs.filter((j) => j.cpu !== 0).length;
    let failed = false;
    for (const r of results) r.catch(() => { failed = true; });
    // wait (without blocking this thread) until every worker is at the barrier
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
      try {
        if (jobs[i0].stack !== undefined) this.runOnCpu0("set_current_stack", [jobs[i0].stack!]);
        results[i0] = Promise.resolve(this.runOnCpu0(jobs[i0].fn, argsOf[i0]));
      } catch (e) {
        results[i0] = Promise.reject(e);
      }
    }
    return Promise.all(results);
  }

  private post(job: CpuJob, args: Arg[], gen: number): Promise<Arg | undefined> {
    const id = this.nextId++;
    this.busy[job.cpu - 1]++;
    const p = new Promise<Arg | undefined>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[job.cpu - 1].postMessage({ t: "job", id, fn: job.fn, args, gen, stack: job.stack } satisfies ToCpu);
    });
    const settled = p.then(() => undefined, () => undefined).finally(() => this.inflight.delete(settled));
    this.inflight.add(settled);
    return p;
  }

  /**
   * End the workers, once the jobs they run have ended: a worker terminated
   * inside a job could leave the kernel lock taken, and CPU 0 would spin on it.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    this.failAll("the CPU threads were stopped");
    for (const w of this.workers) w?.terminate();
  }
}
