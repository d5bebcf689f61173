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

import { CPU_HOST_IMPORTS, SELF_LOCKING_EXPORTS, UNLOCKED_PREFIXES, MAX_CPU_THREADS, futexWait, type CpuArg as Arg, type CpuJob } from "./types.js";
import { CpuGang, checkCpuThreads } from "./gang.js";
export { MAX_CPU_THREADS, SELF_LOCKING_EXPORTS, UNLOCKED_PREFIXES, runsUnbracketed } from "./types.js";
export type { CpuJob, HostImport } from "./types.js";

// ctl words, per CPU thread: [0] messages to the worker, [1] messages to the
// calling thread, [2] 1 = ready, -1 = failed to start
const WORKER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const futexWait = ${futexWait.toString()};
const { selfLocking, unlockedPrefixes, hostImports } = workerData;
const unbracketed = (fn) => selfLocking.includes(fn) || unlockedPrefixes.some((p) => fn.startsWith(p));
const known = new Set(hostImports);
// the engine this thread is a CPU of now (start), none while parked
let s = null;
let inJob = false;
let nesting = 0;
function toMain(m) { s.port.postMessage(m); Atomics.add(s.ctl, 1, 1); Atomics.notify(s.ctl, 1); }
function hostImport(name, args) {
  if (inJob) throw new Error("a job on CPU " + s.cpu + " reached the host's " + name + " (jobs run without the host)");
  toMain({ t: "import", name, args });
  for (;;) {
    const seen = Atomics.load(s.ctl, 0);
    const r = receiveMessageOnPort(s.port);
    if (!r) { Atomics.wait(s.ctl, 0, seen, 100); continue; }
    const m = r.message;
    if (m.t === "importRet") { if (m.error !== undefined) throw new Error(m.error); return m.value; }
    if (m.t === "call") serve(m);
  }
}
function invoke(fn, args) {
  const x = s.x;
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
// Become CPU d.cpu of an engine: instantiate the core over its memory.
function start(d) {
  const { mod, memory, cpu, port } = d;
  const ctl = new Int32Array(d.ctl);
  s = { cpu, ctl, port, gate: new Int32Array(d.barrier), x: null };
  const env = {
    memory,
    abort: (msg, file, line, col) => { throw new Error("shadowfence core aborted on CPU " + cpu + " at line " + line + ":" + col); },
    sf_wall_ns: () => Number(process.hrtime.bigint()),
    sf_futex_wait: (addr, expected, ms) => futexWait(memory, addr, expected, ms),
    sf_ctor: (ctor, va) => { hostImport("sf_ctor", [ctor, va]); },
    sf_guest_reports: () => { hostImport("sf_guest_reports", []); },
  };
  try {
    for (const imp of WebAssembly.Module.imports(mod)) {
      if (imp.kind === "function" && !known.has(imp.name)) throw new Error("the core imports " + imp.name + ", which CPU threads do not provide");
    }
    s.x = new WebAssembly.Instance(mod, { env }).exports;
    if (s.x.smp_secondary_start(cpu) !== 0) throw new Error("smp_secondary_start failed: CPU 0 published no boot state");
  } catch (e) {
    port.postMessage({ t: "startErr", error: String((e && e.message) || e) });
    Atomics.store(ctl, 2, -1); Atomics.notify(ctl, 2);
    throw e;
  }
  port.on("message", (m) => { if (m.t === "call") serve(m); });
  Atomics.store(ctl, 2, 1); Atomics.notify(ctl, 2);
  parentPort.postMessage({ ready: true });
}
parentPort.on("message", (m) => {
  if (m.t === "start") { start(m.data); return; }
  // the engine stopped its CPUs: drop it (its memory, its port) and wait for the next one
  if (m.t === "park") { s.port.close(); s = null; parentPort.postMessage({ parked: true }); return; }
  const { id, fn, args, gen } = m;
  inJob = true; nesting++;
  try {
    if (gen) { Atomics.add(s.gate, 1, 1); Atomics.notify(s.gate, 1); while (Atomics.load(s.gate, 0) < gen) {} }
    parentPort.postMessage({ id, ok: true, value: invoke(fn, args) });
  } catch (e) {
    try { s.x.smp_jobs_abort(); } catch {}      // the other CPUs' jobs must not wait for this one at an in-core barrier
    parentPort.postMessage({ id, ok: false, error: String((e && e.message) || e) });
  } finally { inJob = false; nesting--; }
});
start(workerData);
`;

interface Cpu { worker: Worker; port: MessagePort; ctl: Int32Array; dead: boolean }

// CPU threads an engine stopped, parked for the next engine's CPUs: a new
// worker thread takes about 20 ms to start, which is a third of a 2-CPU fuzz
// unit of 1M ops; a parked one only instantiates the core again. Parked
// threads hold nothing of the engine they served and do not keep the process
// alive; at most MAX_PARKED wait.
const parked: Worker[] = [];
const MAX_PARKED = MAX_CPU_THREADS - 1;
const PARK_TIMEOUT_MS = 1000;
// Our listeners only: removeAllListeners() would also drop the worker's own hooks that keep its
// port referenced, and its messages would stop arriving.
function dropListeners(w: Worker): void {
  for (const ev of ["message", "error", "exit"]) w.removeAllListeners(ev);
}
/** CPU threads parked for reuse (tests). */
export function parkedCpuThreads(): number { return parked.length; }
type SyncMessage = { t: "ret"; value: Arg | undefined } | { t: "err"; error: string } | { t: "import"; name: string; args: Arg[] } | { t: "startErr"; error: string };

const START_TIMEOUT_MS = 60_000;
const PLAIN = "the plain build";

export class CpuThreads extends CpuGang {
  private readonly cpus: Cpu[] = [];

  /**
   * Start `nrCpus` CPUs over `memory` (the engine's, shared): `cpu0` is the
   * calling thread's instance, the others are worker threads made ready here.
   */
  static async start(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuThreads> {
    checkCpuThreads(memory, nrCpus, PLAIN);
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
    checkCpuThreads(memory, nrCpus, PLAIN);
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

  private constructor(mod: WebAssembly.Module, cpu0: WebAssembly.Exports) {
    super(mod, cpu0);
  }

  get nrCpus(): number { return this.cpus.length + 1; }

  private spawn(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu: number): Promise<void> {
    const channel = new MessageChannel();
    const ctl = new Int32Array(new SharedArrayBuffer(12));
    const data = { mod, memory, cpu, barrier: this.gate.buffer, ctl: ctl.buffer, port: channel.port2 };
    let w = parked.pop();
    if (w) {
      dropListeners(w);
      w.ref();                  // (parked threads are not referenced; a new one is until it is ready)
      w.postMessage({ t: "start", data }, [channel.port2]);
    } else {
      w = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [],           // not the host's flags: --input-type=module would not load this CommonJS source
        workerData: { ...data, selfLocking: SELF_LOCKING_EXPORTS, unlockedPrefixes: UNLOCKED_PREFIXES, hostImports: CPU_HOST_IMPORTS },
        transferList: [channel.port2],
      });
    }
    const worker = w;
    const c: Cpu = { worker, port: channel.port1, ctl, dead: false };
    channel.port1.on("message", () => {});    // never delivered (replies are taken synchronously); a listener makes unref stick
    channel.port1.unref();
    this.cpus[cpu - 1] = c;
    return new Promise((ready, fail) => {
      worker.on("message", (m: { ready?: true; id?: number; ok?: boolean; value?: Arg; error?: string }) => {
        // once up, an idle CPU does not keep the process alive (unref after the listeners: adding one re-refs)
        // (startSync's CPUs see this message later, maybe with a job already posted: that job keeps it
        // referenced; or after stop() began: parking keeps it referenced until it is parked, so that
        // awaiting stop() cannot end the process first)
        if (m.ready) { if (this.jobsOn(cpu) === 0 && !this.stopped) worker.unref(); ready(); return; }
        this.finish(m.id!, m.ok === true, m.value, m.error);
      });
      worker.on("error", (e) => { c.dead = true; fail(new Error(`CPU ${cpu}: ${e.message}`)); this.failAll(`CPU ${cpu}: ${e.message}`); });
      worker.on("exit", () => { c.dead = true; if (!this.stopped) this.failAll(`CPU ${cpu}: its thread exited`); });
    });
  }

  /** A job keeps the process alive until it ends. */
  protected busyChanged(cpu: number, busy: boolean): void {
    if (busy) this.cpus[cpu - 1].worker.ref();
    else this.cpus[cpu - 1].worker.unref();
  }

  protected send(id: number, job: CpuJob, args: Arg[], gen: number): void {
    this.cpus[job.cpu - 1].worker.postMessage({ id, fn: job.fn, args, gen });
  }

  protected async terminate(): Promise<void> {
    // referenced until parked or ended, so that a caller awaiting stop() sees it resolve
    await Promise.all(this.cpus.map((c) => (c ? this.park(c) : undefined)));
  }

  // Park a stopped CPU's thread for the next engine, or end it (it failed, or enough are parked).
  private park(c: Cpu): Promise<void> {
    const w = c.worker;
    w.ref();
    if (c.dead || parked.length >= MAX_PARKED) return w.terminate().then(() => undefined, () => undefined);
    return new Promise((done) => {
      // a thread that does not answer (still inside some call) is ended instead, as before parking
      const late = setTimeout(() => { void w.terminate(); }, PARK_TIMEOUT_MS);
      dropListeners(w);
      w.on("message", (m: { parked?: true }) => {
        if (!m.parked) return;                   // (a start message still on its way)
        clearTimeout(late);
        dropListeners(w);
        w.on("error", () => {});
        w.on("exit", () => { const i = parked.indexOf(w); if (i >= 0) parked.splice(i, 1); });
        w.unref();
        parked.push(w);
        done();
      });
      w.on("error", () => {});
      w.on("exit", () => { clearTimeout(late); done(); });
      w.postMessage({ t: "park" });
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
}
