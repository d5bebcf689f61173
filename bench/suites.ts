// The benchmark suites, by name: `npm run bench -- <suite>` and `shadowfence bench <suite>`.
import type { Table } from "./common.js";

export interface BenchOptions {
  /** test_loop_count for suites that loop (vmalloc); each suite has its own default. */
  loops?: number;
}

export const BENCH_SUITES: Record<string, () => Promise<{ run(opts?: BenchOptions): Promise<Table[]> }>> = {
  tlb: () => import("./tlb.js"),
  kasan: () => import("./kasan.js"),
  kfence: () => import("./kfence.js"),
  vmalloc: () => import("./vmalloc.js"),
  modes: () => import("./modes.js"),
  guest: () => import("./guest.js"),
  // the kmemleak scan over 100k live objects
  kmemleak: () => import("./kmemleak.js"),
  // fuzz workloads (host/fuzz/): ops/s per worker, scaling, native C and ASan on the same tape
  fuzz: () => import("./fuzz.js"),
};
