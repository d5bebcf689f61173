// Types the CPU threads, the platforms and the engine's CPU set share (no imports: the web build has no worker_threads).
export type CpuArg = number | bigint;
/** One export to run on one CPU. */
export interface CpuJob { cpu: number; fn: string; args?: CpuArg[] }
/** The host functions a CPU thread forwards to the thread that called it (name, arguments) -> result. */
export type HostImport = (cpu: number, name: string, args: CpuArg[]) => unknown;
/** What CPU threads provide (host/smp/cpus.ts in Node). */
export interface CpuRunner {
  readonly nrCpus: number;
  hostImport: HostImport;
  callSync(cpu: number, fn: string, args?: CpuArg[]): CpuArg | undefined;
  all(jobs: CpuJob[]): Promise<Array<CpuArg | undefined>>;
  stop(): Promise<void>;
}

/** Loops that enter and leave the kernel per step (so CPUs running them interleave): called without the kernel lock bracket. */
export const SELF_LOCKING_EXPORTS: readonly string[] = ["test_vmalloc_run", "smp_churn_run"];
/** Exports that are not kernel code: the lock and thread primitives. */
export const UNLOCKED_PREFIXES: readonly string[] = ["smp_", "kernel_"];
/** Whether a CPU runs an export without bracketing it by kernel_enter/kernel_leave. */
export function runsUnbracketed(fn: string): boolean {
  return SELF_LOCKING_EXPORTS.includes(fn) || UNLOCKED_PREFIXES.some((p) => fn.startsWith(p));
}
