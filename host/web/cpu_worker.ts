// One CPU of a browser engine (issue 14): a Web Worker that instantiates the
// core over the engine's shared memory, becomes CPU `cpu` with the boot state
// CPU 0 published, and runs jobs. The browser counterpart of host/smp/cpus.ts's
// WORKER_SOURCE: the same imports, and every export bracketed by
// kernel_enter/kernel_leave except the self-locking and unlocked ones (the
// lists both share, host/smp/types.ts). Jobs run without the host: a job that
// reaches a host callback (a slab constructor, a guest's reports) fails with a
// one-line error.
import { CPU_HOST_IMPORTS, futexWait, runsUnbracketed, type CpuArg as Arg } from "../smp/types.js";
import type { ToCpu, FromCpu } from "./cpu_threads.js";

type Exports = Record<string, (...a: Arg[]) => Arg | undefined>;

const post = (m: FromCpu) => (self as unknown as Worker).postMessage(m);
const message = (e: unknown) => String((e as Error)?.message ?? e);
let x: Exports | undefined;
let cpu = 0;
let gate: Int32Array;

function start(m: Extract<ToCpu, { t: "start" }>): void {
  cpu = m.cpu;
  gate = new Int32Array(m.barrier);
  const noHost = (name: string) => () => { throw new Error(`a job on CPU ${cpu} reached the host's ${name} (jobs run without the host)`); };
  const env = {
    memory: m.memory,
    abort: (_msg: number, _file: number, line: number, col: number) => { throw new Error(`shadowfence core aborted on CPU ${cpu} at line ${line}:${col}`); },
    sf_wall_ns: () => Math.round(performance.now() * 1e6),
    sf_futex_wait: (addr: number, expected: number, ms: number) => futexWait(m.memory, addr, expected, ms),
    sf_ctor: noHost("sf_ctor"),
    sf_guest_reports: noHost("sf_guest_reports"),
  };
  try {
    for (const imp of WebAssembly.Module.imports(m.mod)) {
      if (imp.kind === "function" && !CPU_HOST_IMPORTS.includes(imp.name)) throw new Error(`the core imports ${imp.name}, which CPU threads do not provide`);
    }
    x = new WebAssembly.Instance(m.mod, { env }).exports as unknown as Exports;
    if (x.smp_secondary_start(cpu) !== 0) throw new Error("smp_secondary_start failed: CPU 0 published no boot state");
    // CPU `cpu` runs its idle task, swapper/cpu (pid 0), as Node's CPU set makes it with a call. Not
    // under the kernel lock: it writes only this instance's own (per-CPU) globals, and the lock is not
    // CPU 0's to share until the CPU set has adopted these threads
    x.set_current(0, cpu);
  } catch (e) {
    x = undefined;
    post({ t: "startErr", error: message(e) });
    return;
  }
  post({ t: "ready" });
}

function invoke(fn: string, args: Arg[]): Arg | undefined {
  const core = x!;
  if (runsUnbracketed(fn)) {
    try { return core[fn](...args); } finally { core.kernel_leave(0); }
  }
  const d = core.kernel_enter() as number;
  try { return core[fn](...args); } finally { core.kernel_leave(d); }
}

self.onmessage = (e: MessageEvent<ToCpu>) => {
  const m = e.data;
  if (m.t === "start") { start(m); return; }
  if (m.t !== "job") return;
  try {
    if (!x) throw new Error(`CPU ${cpu} did not start`);
    if (m.stack !== undefined) invoke("set_current_stack", [m.stack]);
    if (m.gen) { Atomics.add(gate, 1, 1); Atomics.notify(gate, 1); while (Atomics.load(gate, 0) < m.gen) { /* spin: all CPUs start together */ } }
    post({ t: "done", id: m.id, ok: true, value: invoke(m.fn, m.args) });
  } catch (err) {
    try { x?.smp_jobs_abort(); } catch { /* the job's own error is the one to report */ }
    post({ t: "done", id: m.id, ok: false, error: message(err) });
  }
};
