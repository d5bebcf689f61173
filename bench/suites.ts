// The benchmark suites, by name: `npm run bench -- <suite>` and `shadowfence bench <suite>`.
import type { Table } from "./common.js";

export interface BenchOptions {
  /** test_loop_count for suites that loop (vmalloc); each suite has its own default. */
  loops?: number;
  /** CPUs of one engine running the work at once (the suites in CPUS_SUITES); 1 by default. */
  cpus?: number;
}
/** The suites that take --cpus: vmalloc's "Sequential, N cpus" table. */
export const CPUS_SUITES: readonly string[] = ["vmalloc"];
/** --cpus n: 1..8 (nr_cpus's range), and only for CPUS_SUITES. */
export function checkCpusOption(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1 || n > 8) throw new RangeError(`--cpus must be an integer from 1 to 8, got ${v}`);
  return n;
}
export function checkCpusSuites(names: string[], cpus: number | undefined): void {
  const other = names.find((n) => !CPUS_SUITES.includes(n));
  if (cpus !== undefined && other !== undefined) throw new RangeError(`--cpus applies to ${CPUS_SUITES.join(", ")} only, not ${other}`);
}

export const BENCH_SUITES: Record<string, () => Promise<{ run(opts?: BenchOptions): Promise<Table[]> }>> = {
  tlb: () => import("./tlb.js"),
  kasan: () => import("./kasan.js"),
  kfence: () => import("./kfence.js"),
  vmalloc: () => import("./vmalloc.js"),
  modes: () => import("./modes.js"),
  // the shared-memory core (SMP groundwork) against the plain core, one CPU
  smp: () => import("./smp.js"),
  // SLAB (shadowfence.slab=slab) against SLUB: kmalloc+kfree, the modes round, memory for 100k objects
  slab: () => import("./slab.js"),
  guest: () => import("./guest.js"),
  // the kmemleak scan over 100k live objects
  kmemleak: () => import("./kmemleak.js"),
  // fuzz workloads (host/fuzz/): ops/s per worker, scaling, native C and ASan on the same tape
  fuzz: () => import("./fuzz.js"),
  // fuzz campaigns on BullMQ/Redis (host/fuzz/campaign/): 1-3 worker processes against a local run, Redis storage
  campaign: () => import("./campaign.js"),
  // the playground's fuzz worker in headless Chromium against Node (needs dist/web and chromium)
  web: () => import("./web.js"),
};
