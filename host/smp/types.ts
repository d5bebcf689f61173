// Types the CPU threads, the platforms and the engine's CPU set share (no imports: the web build has no worker_threads).
export type CpuArg = number | bigint;
/**
 * One export to run on one CPU. `stack`: the depot handle of the CPU's
 * current stack for the job, for runners that set it with the job (no sync calls).
 */
export interface CpuJob { cpu: number; fn: string; args?: CpuArg[]; stack?: number }
/** The host functions a CPU thread forwards to the thread that called it (name, arguments) -> result. */
export type HostImport = (cpu: number, name: string, args: CpuArg[]) => unknown;
/** What CPU threads provide (host/smp/cpus.ts in Node, host/web/cpu_threads.ts in browsers). */
export interface CpuRunner {
  readonly nrCpus: number;
  /** Set where callSync cannot work (a browser): why, in one line; jobs (all) still run. */
  readonly syncUnavailable?: string;
  hostImport: HostImport;
  callSync(cpu: number, fn: string, args?: CpuArg[]): CpuArg | undefined;
  /** Whether CPU `cpu` (1..N-1) has a job queued or running. */
  busyOn(cpu: number): boolean;
  /** Whether stop() was called: the CPUs take no more work. */
  isStopped(): boolean;
  all(jobs: CpuJob[]): Promise<Array<CpuArg | undefined>>;
  stop(): Promise<void>;
}

// What a CPU thread's instance of the core needs, shared by the Node and browser workers.
/** nr_cpus for CPU threads: 1..8 (issue 14). */
export const MAX_CPU_THREADS = 8;
/** A CPU number as an error names it: a string quoted ("1" is not CPU 1), a bigint with its n. */
export function cpuArgText(cpu: unknown): string {
  return typeof cpu === "bigint" ? `${cpu}n` : typeof cpu === "string" ? JSON.stringify(cpu) : String(cpu);
}
/** The host functions the core imports (besides its memory), which a CPU thread provides. */
export const CPU_HOST_IMPORTS: readonly string[] = ["sf_wall_ns", "sf_futex_wait", "sf_ctor", "sf_guest_reports", "abort"];
/**
 * The core's sf_futex_wait (assembly/host.ts futexWait) on every thread that may sleep: while the i32 at addr holds
 * expected, at most ms. Self-contained, as the Node CPU threads' worker script embeds its source.
 */
export function futexWait(memory: WebAssembly.Memory, addr: number, expected: number, ms: number): void {
  Atomics.wait(new Int32Array(memory.buffer, addr, 1), 0, expected, ms);
}
/** Loops that enter and leave the kernel per step (so CPUs running them interleave); called without the bracket. */
export const SELF_LOCKING_EXPORTS: readonly string[] = ["test_vmalloc_run", "smp_churn_run", "kmalloc_kfree_run", "kmalloc_pass_run", "fuzz_run", "fuzz_rounds"];
/** Exports that are not kernel code: the lock and thread primitives. */
export const UNLOCKED_PREFIXES: readonly string[] = ["smp_", "kernel_"];
/** Whether an export is called without the kernel lock bracket. */
export function runsUnbracketed(fn: string): boolean {
  return SELF_LOCKING_EXPORTS.includes(fn) || UNLOCKED_PREFIXES.some((p) => fn.startsWith(p));
}
