// CPU threads in a browser (issue 14): CPUs 1..N-1 are Web Workers
// (host/web/cpu_worker.ts), each instantiating the core over the engine's
// shared memory, as host/smp/cpus.ts's worker threads do in Node. What differs:
// - no synchronous calls (callSync, so engine.cpu(n)): a browser's main thread
//   may not block, and a worker has no receiveMessageOnPort to take a reply
//   while it waits; jobs (all, so engine.onCpus) run;
// - on a thread that may not Atomics.wait (the main thread) CPU 0 spins for
//   the kernel lock instead of sleeping on it (smp_set_may_wait(0)).
import type { CpuArg as Arg, CpuJob } from "../smp/types.js";
import { CpuGang, checkCpuThreads } from "../smp/gang.js";

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

export class WebCpuThreads extends CpuGang {
  private readonly workers: Worker[] = [];
  readonly syncUnavailable = syncUnavailableReason();

  /** Start `nrCpus` CPUs over `memory`: `cpu0` is this thread's instance, the others Web Workers running `workerUrl`. */
  static async start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number, workerUrl: string | URL): Promise<WebCpuThreads> {
    checkCpuThreads(memory, nrCpus, "a page that is not cross-origin isolated");
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

  private constructor(mod: WebAssembly.Module, cpu0: WebAssembly.Exports) {
    super(mod, cpu0);
    // jobs run without the host (a job that reaches a host callback fails in its worker)
    this.hostImport = () => undefined;
  }

  get nrCpus(): number { return this.workers.length + 1; }

  private spawn(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu: number, url: string | URL): Promise<void> {
    const w = new Worker(url, { type: "module", name: `CPU ${cpu}` });
    this.workers[cpu - 1] = w;
    return new Promise((ready, fail) => {
      w.onmessage = (e: MessageEvent<FromCpu>) => {
        const m = e.data;
        if (m.t === "ready") { ready(); return; }
        if (m.t === "startErr") { fail(new Error(`CPU ${cpu}: ${m.error}`)); return; }
        if (m.ok) this.finish(m.id, true, m.value);
        else this.finish(m.id, false, undefined, m.error);
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

  callSync(_cpu: number, _fn: string, _args?: Arg[]): Arg | undefined {
    throw new Error(this.syncUnavailable);
  }

  protected send(id: number, job: CpuJob, args: Arg[], gen: number): void {
    this.workers[job.cpu - 1].postMessage({ t: "job", id, fn: job.fn, args, gen, stack: job.stack } satisfies ToCpu);
  }

  protected async terminate(): Promise<void> {
    for (const w of this.workers) w?.terminate();
  }
}
