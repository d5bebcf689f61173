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
