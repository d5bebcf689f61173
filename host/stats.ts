// engine.stats(): the core's counters (one page of u64 slots, STAT_* in abi.ts)
// with the host's own (retained reports, the printk ring) as one object; and
// show_mem()'s inputs for the allocation-failure reports.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import { MAX_CPU_THREADS } from "./smp/types.js";
import type { MemInfo } from "./report/alloc.js";

export interface EngineStats {
  framesTotal: number;
  framesFree: number;
  framesByUse: Record<string, number>;
  memory: { ramBytes: number; shadowBytes: number; shadowFraction: number };
  /**
   * TLB hits of the accesses the host API, guest hooks, kernel helpers and
   * workload interpreters make (the in-wasm benchmark loops are not counted),
   * misses (page-table walks), flushes of pages and of everything.
   */
  tlb: { hits: number; misses: number; flushes: number; fullFlushes: number };
  faults: { pageFaults: number; oopses: number };
  /** lost: to a full report ring; retained/dropped: report objects kept by reports() (shadowfence.max_reports). */
  reports: { total: number; lost: number; suppressed: number; retained: number; dropped: number };
  /** The kernel log ring: its size, the bytes and records it holds, records dropped (oldest first). */
  printk: { logBufLen: number; bytes: number; records: number; dropped: number };
  pages: { allocs: number; frees: number; allocFailures: number };
  /** locklessAllocs/locklessFrees: those of allocs/frees that took SLUB's per-CPU path without the kernel lock (CPU threads running; docs/smp.md). */
  slab: { allocs: number; frees: number; caches: number; freelistCorruptions: number; locklessAllocs: number; locklessFrees: number };
  /** locklessFrees: objects its reductions gave back to their slabs without the kernel lock (fuzz --cpus; docs/smp.md). */
  quarantine: { bytes: number; objects: number; limit: number; locklessFrees: number };
  /** cacheMisses: KASAN track saves that missed the per-CPU cache of (path, stack) keys and hashed into the depot */
  stackDepot: { stacks: number; dropped: number; pools: number; cacheMisses: number };
  vmalloc: { pages: number; areas: number; lazyPages: number; purges: number; shadowPages: number; shadowPagesFreed: number; shadowPagesPeak: number;
    /** Peak of pages mapped by vmalloc and percpu since the last vmalloc_reset_peaks(). */
    pagesPeak: number; percpuPages: number };
  kfence: { allocated: number; allocations: number; frees: number; zombies: number; bugs: number;
    skippedIncompatible: number; skippedCapacity: number; skippedCovered: number };
  pageTableSplits: number;
}

// stats().framesByUse's names for the core's USE_* frame uses
const USE_NAMES: Record<number, string> = {
  [abi.USE_FREE]: "free", [abi.USE_RESERVED]: "reserved", [abi.USE_MEMMAP]: "memmap", [abi.USE_PGTABLE]: "pagetables",
  [abi.USE_SHADOW]: "shadow", [abi.USE_KFENCE]: "kfence", [abi.USE_DEPOT]: "stackdepot", [abi.USE_KERNEL]: "kernel",
  [abi.USE_PAGES]: "pages", [abi.USE_SLAB]: "slab", [abi.USE_VMALLOC]: "vmalloc", [abi.USE_LARGE_KMALLOC]: "large_kmalloc",
  [abi.USE_METADATA]: "metadata", [abi.USE_GUEST]: "guest",
};

/** Where the statistics come from (the Engine provides them). */
export interface StatsSources {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly options: { readonly arch: string; readonly kasan: boolean };
  /** Report objects kept and dropped (shadowfence.max_reports). */
  readonly reports: { readonly retainedCount: number; readonly dropped: number };
  /** The printk ring. */
  readonly log: { readonly size: number; readonly used: number; readonly retained: number; readonly dropped: number };
}

export class Stats {
  private dv: DataView;
  constructor(private readonly src: StatsSources) {
    this.dv = new DataView(src.memory.buffer);
  }

  private lockless(which: number): number {
    let n = 0;
    for (let cpu = 0; cpu < MAX_CPU_THREADS; cpu++) n += Number(this.src.exports.smp_fast_done(cpu, which));
    return n;
  }

  read(): EngineStats {
    const base = this.src.exports.stats_base();
    const g = (i: number) => Number(this.dv.getBigUint64(base + i * 8, true));
    const byUse: Record<string, number> = {};
    for (let use = 0; use < abi.USE_COUNT; use++) byUse[USE_NAMES[use] ?? `use-${use}`] = g(abi.STAT_USE_BASE + use);
    const total = g(abi.STAT_FRAMES_TOTAL);
    this.src.exports.quarantine_stats();
    return {
      framesTotal: total,
      framesFree: g(abi.STAT_FRAMES_FREE),
      framesByUse: byUse,
      memory: { ramBytes: total * 4096, shadowBytes: byUse.shadow * 4096, shadowFraction: byUse.shadow / total },
      tlb: { hits: g(abi.STAT_TLB_HITS), misses: g(abi.STAT_TLB_MISSES), flushes: g(abi.STAT_TLB_FLUSHES), fullFlushes: g(abi.STAT_TLB_FLUSH_ALL) },
      faults: { pageFaults: g(abi.STAT_PAGE_FAULTS), oopses: g(abi.STAT_OOPSES) },
      reports: { total: g(abi.STAT_REPORTS), lost: g(abi.STAT_REPORTS_LOST), suppressed: g(abi.STAT_REPORTS_SUPPRESSED),
        retained: this.src.reports.retainedCount, dropped: this.src.reports.dropped },
      printk: { logBufLen: this.src.log.size, bytes: this.src.log.used, records: this.src.log.retained, dropped: this.src.log.dropped },
      pages: { allocs: g(abi.STAT_PAGE_ALLOCS), frees: g(abi.STAT_PAGE_FREES), allocFailures: g(abi.STAT_PAGE_ALLOC_FAILS) },
      slab: { allocs: g(abi.STAT_SLAB_ALLOCS), frees: g(abi.STAT_SLAB_FREES), caches: this.src.exports.cache_count(), freelistCorruptions: this.src.exports.slab_corruptions(),
        locklessAllocs: this.lockless(0), locklessFrees: this.lockless(1) },
      quarantine: { bytes: g(abi.STAT_QUARANTINE_BYTES), objects: g(abi.STAT_QUARANTINE_OBJECTS), limit: g(abi.STAT_QUARANTINE_LIMIT),
        locklessFrees: this.lockless(2) },
      stackDepot: { stacks: g(abi.STAT_DEPOT_STACKS), dropped: g(abi.STAT_DEPOT_DROPPED), pools: this.src.exports.depot_pools(),
        cacheMisses: g(abi.STAT_KASAN_STACK_CACHE_MISSES) },
      vmalloc: {
        pages: g(abi.STAT_VMALLOC_PAGES), areas: g(abi.STAT_VMALLOC_AREAS), lazyPages: g(abi.STAT_VMALLOC_LAZY_PAGES),
        purges: g(abi.STAT_VMALLOC_PURGES), shadowPages: g(abi.STAT_VMALLOC_SHADOW_PAGES),
        shadowPagesFreed: g(abi.STAT_VMALLOC_SHADOW_FREED), shadowPagesPeak: g(abi.STAT_VMALLOC_SHADOW_PEAK),
        pagesPeak: g(abi.STAT_VMALLOC_PAGES_PEAK), percpuPages: g(abi.STAT_PCPU_PAGES),
      },
      kfence: {
        allocated: g(abi.STAT_KFENCE_ALLOCATED), allocations: g(abi.STAT_KFENCE_ALLOCS), frees: g(abi.STAT_KFENCE_FREES),
        zombies: g(abi.STAT_KFENCE_ZOMBIES), bugs: g(abi.STAT_KFENCE_BUGS), skippedIncompatible: g(abi.STAT_KFENCE_SKIP_INCOMPAT),
        skippedCapacity: g(abi.STAT_KFENCE_SKIP_CAPACITY), skippedCovered: g(abi.STAT_KFENCE_SKIP_COVERED),
      },
      pageTableSplits: g(abi.STAT_PGTABLE_SPLITS),
    };
  }

  /** show_mem()'s inputs, read now (the host formats a failure right after the call that failed); cpu: whose pcp is local_pcp. */
  memInfo(gfp: number, cpu = 0): MemInfo {
    const x = this.src.exports, arm = this.src.options.arch === "arm64";
    const names = arm ? ["", "DMA"] : ["DMA", "DMA32"];
    const zones: MemInfo["zones"] = [];
    // gfp_zone(): a GFP_DMA request shows ZONE_DMA only
    const lastZone = !arm && (gfp & abi.GFP_DMA) ? 0 : 1;
    for (let z = 0; z <= lastZone; z++) {
      const present = x.zone_present(z);
      if (!present) continue;
      // free: the buddy's (NR_FREE_PAGES); pages on pcp lists are free_pcp, local_pcp this CPU's
      zones.push({ name: names[z], present, reserved: x.zone_reserved(z),
        nrFree: Array.from({ length: abi.MAX_PAGE_ORDER + 1 }, (_, o) => x.zone_nr_free(z, o)),
        freePcp: x.zone_pcp(-1, z, 0), localPcp: x.zone_pcp(cpu, z, 0) });
    }
    const s = this.read();
    return { zones, slabPages: s.framesByUse.slab, pageTablePages: s.framesByUse.pagetables,
      kernelStackKb: x.task_count() * (this.src.options.kasan ? 32 : 16) };
  }
}
